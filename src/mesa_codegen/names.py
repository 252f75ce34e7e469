"""Python names for what the spec names: identifiers, class names, and keeping them unique."""

from __future__ import annotations

import builtins
import keyword
import re

# Names a generated module imports, or that the runtime's base classes define: a class, field
# or parameter named so would shadow them.
IMPORTED_NAMES = frozenset(
    {
        "Annotated",
        "Any",
        "Discriminator",
        "Field",
        "File",
        "Literal",
        "NotRequired",
        "Required",
        "Tag",
        "TypedDict",
        "UUID",
        "NOT_NULL",
        "RequestModel",
        "ResponseModel",
        "UNKNOWN_VARIANT",
        "open_discriminator",
        "date",
        "datetime",
        "deprecated",
        "warnings",
    }
)
# Attributes of pydantic's BaseModel (written out, so that output does not vary with the
# installed pydantic): a field named so would replace a method every model needs.
MODEL_ATTRIBUTES = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "fields",
        "from_orm",
        "json",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)
BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def snake_case(name: str) -> str:
    """`CreateApiKey` -> `create_api_key`, `Idempotency-Key` -> `idempotency_key`."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.strip("_").lower()


def python_identifier(name: str, reserved: frozenset[str] = frozenset()) -> str:
    """A valid, non-keyword identifier for a wire name (`from` -> `from_`, `2fa` -> `field_2fa`)."""
    ident = name if name.isidentifier() and name.isascii() else snake_case(name)
    ident = ident.lstrip("_")  # a leading underscore makes a pydantic field private
    if not ident or ident[0].isdigit():
        ident = "field_" + ident
    if keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in reserved:
        ident += "_"
    return ident


def field_identifier(name: str) -> str:
    """A model field's attribute name, snake_case like any Python attribute (`totalLines` ->
    `total_lines`, `_meta` -> `meta`); also clear of pydantic's own attributes."""
    ident = python_identifier(snake_case(name), frozenset({"self", "body", "request_options"}))
    if ident in MODEL_ATTRIBUTES or ident.startswith("model_"):
        ident += "_"
    return ident


def class_name(name: str) -> str:
    """`pet-owner` -> `PetOwner`; never a keyword, an imported name or a leading digit."""
    parts = [part for part in re.split(r"[^0-9A-Za-z]+", name) if part]
    text = "".join(part[:1].upper() + part[1:] for part in parts) or "Model"
    if text[0].isdigit():
        text = "Model" + text
    if text in IMPORTED_NAMES or text in BUILTIN_NAMES or keyword.iskeyword(text):
        text += "Model"
    return text


def unique(name: str, taken: set[str], *, fold_case: bool = False) -> str:
    """`name`, or `name2`, `name3`... the first not in `taken`; the result is added to it.

    With `fold_case`, names differing only in case clash too: classes give module file names.
    """
    candidate, number = name, 2
    while candidate in taken or (fold_case and candidate.lower() in {t.lower() for t in taken}):
        candidate, number = f"{name}{number}", number + 1
    taken.add(candidate)
    return candidate
