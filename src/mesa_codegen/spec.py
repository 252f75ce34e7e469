"""Loads an OpenAPI 3.0 or 3.1 document (YAML or JSON), validates it, and follows its `$ref`s.

References are resolved with `referencing` (the library openapi-spec-validator itself uses),
which handles JSON-pointer escapes (`~1`, `%7B`) the way the standard says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from .problems import SpecError, location

__all__ = ["SCHEMA_PREFIX", "Spec", "SpecError", "load_spec"]

_BASE_URI = "urn:mesa-codegen:spec"
SCHEMA_PREFIX = "#/components/schemas/"
# Problems the validator reports beyond these are rarely more than repeats of the first ones.
_MAX_VALIDATION_PROBLEMS = 20
# The validator's messages quote the offending node whole; the location says where it is.
_MAX_MESSAGE = 160


class Spec:
    """The parsed spec, with `resolve` to follow `$ref`s inside the document."""

    def __init__(
        self, document: dict[str, Any], source: Path, warnings: tuple[str, ...] = ()
    ) -> None:
        self.document = document
        self.source = source
        self.warnings = warnings
        """Where the document breaks the OpenAPI schema, when loaded with `strict=False`."""
        self.version = str(document.get("openapi", ""))
        registry: Registry[Any] = Registry().with_resource(_BASE_URI, Resource.opaque(document))
        self._resolver = registry.resolver(base_uri=_BASE_URI)

    def resolve(self, node: Any) -> Any:
        """Follows `$ref`s (local ones, `#/...`) until a node without one."""
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise SpecError(
                    f"{ref}: only references inside the document are supported;"
                    " bundle the spec into one file first"
                )
            if ref in seen:
                raise SpecError(f"{ref}: a reference cycle")
            seen.add(ref)
            node = self.pointer(ref)
        return node

    def pointer(self, ref: str) -> Any:
        try:
            return self._resolver.lookup(ref).contents
        except Unresolvable:
            raise SpecError(f"{ref}: the reference points to nothing") from None

    @staticmethod
    def ref_name(node: Any) -> str | None:
        """The schema name a `{"$ref": "#/components/schemas/X"}` points to, else None."""
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if ref.startswith(SCHEMA_PREFIX) and "/" not in ref[len(SCHEMA_PREFIX) :]:
                return unquote(ref[len(SCHEMA_PREFIX) :].replace("~1", "/").replace("~0", "~"))
        return None


def load_spec(path: Path, *, strict: bool = True) -> Spec:
    """The spec at `path`; raises SpecError with one line per problem found.

    Not `strict`, a document that breaks the OpenAPI schema is loaded anyway (many published
    ones do, in ways a generator can serve), its problems kept in `Spec.warnings`.
    """
    try:
        # YAML 1.1 is a superset of JSON, so one loader reads both.
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: {' '.join(str(exc).split())}") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: not an OpenAPI document")
    version = str(document.get("openapi", ""))
    if version.startswith("3.0"):
        validator: Any = OpenAPIV30SpecValidator(document)
    elif version.startswith("3.1"):
        validator = OpenAPIV31SpecValidator(document)
    else:
        raise SpecError(f"{path}: openapi: expected 3.0.x or 3.1.x, got {version or 'nothing'!r}")
    problems = []
    try:
        for error in validator.iter_errors():
            where = location(*getattr(error, "absolute_path", ())) or "(document)"
            message = " ".join(error.message.split())
            if len(message) > _MAX_MESSAGE:
                message = message[: _MAX_MESSAGE - 3] + "..."
            problems.append(f"{path}: {where}: invalid OpenAPI: {message}")
            if len(problems) == _MAX_VALIDATION_PROBLEMS:
                break
    except Unresolvable as exc:
        # A dangling $ref stops the validator; it is the one problem worth reporting then.
        raise SpecError(
            f"{path}: #{getattr(exc, 'ref', exc)}: the reference points to nothing"
        ) from None
    if problems and strict:
        raise SpecError(problems)
    return Spec(document, path, tuple(problems))
