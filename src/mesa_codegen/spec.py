"""Loads openapi.yaml, validates it, and resolves its local references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError


class SpecError(Exception):
    """The spec is unreadable, invalid, or uses something the generator does not support."""


class Spec:
    """The parsed spec, with `resolve` to follow `$ref`s inside the document."""

    def __init__(self, document: dict[str, Any], source: Path) -> None:
        self.document = document
        self.source = source

    def resolve(self, node: Any) -> Any:
        """Follows `$ref`s (only local ones, `#/...`) until a node without one."""
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                raise SpecError(f"only local references are supported, got {ref!r}")
            if ref in seen:
                raise SpecError(f"reference cycle at {ref}")
            seen.add(ref)
            node = self.pointer(ref)
        return node

    def pointer(self, ref: str) -> Any:
        node: Any = self.document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                raise SpecError(f"unresolvable reference {ref}")
            node = node[key]
        return node

    @staticmethod
    def ref_name(node: Any) -> str | None:
        """The schema name a `{"$ref": "#/components/schemas/X"}` points to, else None."""
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            prefix = "#/components/schemas/"
            if ref.startswith(prefix):
                return ref[len(prefix) :]
        return None


def load_spec(path: Path) -> Spec:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: {exc}") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: not an OpenAPI document")
    try:
        validate(document)
    except OpenAPIValidationError as exc:
        raise SpecError(f"{path}: invalid OpenAPI: {exc.message}") from exc
    return Spec(document, path)
