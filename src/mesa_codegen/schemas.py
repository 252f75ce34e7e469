"""Schemas to Python types: named models, enums, unions and aliases, and the annotations using them.

Every component schema becomes a named definition. An inline object (or discriminated union)
anywhere else becomes one too, named by its `title` or else by where it sits: the operation
and role (`CreatePetRequest`, `GetPetResponse`), the parent and property (`PetOwner`), `Item`
for array items and `Value` for map values. Names are made unique in the order the spec is
walked (components first, by name; then paths in document order), so they are stable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .ir import (
    AliasDef,
    CodeDef,
    CodeSetDef,
    EnumDef,
    FieldDef,
    ModelDef,
    PyType,
    SchemaDef,
    UnionDef,
    UnionVariant,
)
from .names import class_name, field_identifier, python_identifier, snake_case, unique
from .problems import Problems, SpecError
from .spec import SCHEMA_PREFIX, Spec

NONE = PyType("None")
ANY = PyType("Any", symbols=frozenset({"Any"}))
_FORMATS = {
    "date-time": PyType("datetime", symbols=frozenset({"datetime"})),
    "date": PyType("date", symbols=frozenset({"date"})),
    "uuid": PyType("UUID", symbols=frozenset({"UUID"})),
    "binary": PyType("File", symbols=frozenset({"File"})),
}
_PRIMITIVES = {"integer": "int", "number": "float", "boolean": "bool", "string": "str"}
# Keys that only document a schema: a schema with nothing else is `Any`.
_DOC_KEYS = frozenset(
    {"description", "title", "example", "examples", "deprecated", "readOnly", "writeOnly", "xml"}
)


def join(types: list[PyType], separator: str = " | ") -> PyType:
    """The union of `types`, each member once, in order."""
    unique_types: list[PyType] = []
    for t in types:
        if t.code not in {u.code for u in unique_types}:
            unique_types.append(t)
    return PyType(
        code=separator.join(t.code for t in unique_types),
        models=frozenset().union(*(t.models for t in unique_types)),
        symbols=frozenset().union(*(t.symbols for t in unique_types)),
    )


def literal(values: list[Any]) -> PyType:
    shown = ", ".join(repr(v) for v in values)
    return PyType(f"Literal[{shown}]", symbols=frozenset({"Literal"}))


def is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and (
        schema.get("type") == "null" or ("enum" in schema and schema["enum"] == [None])
    )


@dataclass
class _Component:
    name: str
    """The class name in Python."""
    schema: Any


class SchemaTypes:
    """Turns schemas into definitions and annotations; one per spec."""

    def __init__(self, spec: Spec, suffix: str, problems: Problems) -> None:
        self.spec = spec
        self.suffix = suffix
        self.problems = problems
        self.raw: dict[str, Any] = spec.document.get("components", {}).get("schemas", {}) or {}
        self.taken: set[str] = set()
        self.components: dict[str, _Component] = {}
        for wire_name in sorted(self.raw):
            self.components[wire_name] = _Component(
                unique(class_name(wire_name), self.taken, fold_case=True), self.raw[wire_name]
            )
        self.defs: dict[str, SchemaDef] = {}
        self._building: set[str] = set()
        self._inline: dict[int, str] = {}
        self._alias_twins: dict[str, bool] = {}

    # -- reading schemas -------------------------------------------------------------------

    def merged(self, schema: Any, where: str) -> dict[str, Any]:
        """The schema with `$ref`s followed and `allOf` merged into one object schema."""
        schema = self.spec.resolve(schema)
        if not isinstance(schema, dict):
            raise SpecError(f"{where}: expected a schema, got {schema!r}")
        if "allOf" not in schema:
            return schema
        result: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for index, member in enumerate(schema["allOf"]):
            part = self.merged(member, f"{where}.allOf.{index}")
            properties.update(part.get("properties", {}))
            required += [r for r in part.get("required", []) if r not in required]
            for key, value in part.items():
                if key not in ("properties", "required", "title", "description"):
                    result.setdefault(key, value)
        for key, value in schema.items():
            if key == "allOf":
                continue
            if key == "properties":
                properties.update(value)
            elif key == "required":
                required += [r for r in value if r not in required]
            else:
                result[key] = value
        if properties:
            result["properties"] = properties
            result.setdefault("type", "object")
        if required:
            result["required"] = required
        return result

    def single_ref(self, schema: Any) -> str | None:
        """The component an `allOf: [$ref]` wrapper (adding only docs or nullability) names."""
        if isinstance(schema, dict) and "allOf" in schema and len(schema["allOf"]) == 1:
            extra = set(schema) - _DOC_KEYS - {"allOf", "nullable", "default"}
            if not extra:
                return Spec.ref_name(schema["allOf"][0])
        return None

    @staticmethod
    def split_null(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The schema without its null alternative, and whether it had one (3.0 or 3.1 style)."""
        nullable = bool(schema.get("nullable"))
        schema = {k: v for k, v in schema.items() if k != "nullable"}
        kind = schema.get("type")
        if isinstance(kind, list) and "null" in kind:
            others = [k for k in kind if k != "null"]
            nullable = True
            schema["type"] = others[0] if len(others) == 1 else others
            if not others:
                del schema["type"]
        if "enum" in schema and None in schema["enum"]:
            nullable = True
            schema["enum"] = [v for v in schema["enum"] if v is not None]
        for key in ("oneOf", "anyOf"):
            members = schema.get(key)
            if isinstance(members, list) and any(is_null_schema(m) for m in members):
                nullable = True
                schema[key] = [m for m in members if not is_null_schema(m)]
        return schema, nullable

    def kind(self, schema: dict[str, Any]) -> str:
        """What definition a (merged, non-null) schema needs: model, enum, codes, union, alias."""
        members = schema.get("oneOf") or schema.get("anyOf")
        if "oneOf" in schema and members and all("const" in m for m in members):
            return "codes" if all("x-status" in m for m in members) else "enum"
        if members:
            if len(members) == 1 and not schema.get("properties"):
                return "alias"
            return "union" if (schema.get("discriminator") or {}).get("propertyName") else "alias"
        if schema.get("enum"):
            return "enum"
        if schema.get("properties"):
            return "model"
        return "alias"

    # -- definitions -----------------------------------------------------------------------

    def build_components(self) -> None:
        for wire_name, component in self.components.items():
            self.define(component.name, component.schema, f"components.schemas.{wire_name}")

    def component_type(self, wire_name: str, *, strict: bool, typed_dict: bool) -> PyType:
        component = self.components.get(wire_name)
        if component is None:
            raise SpecError(f"{SCHEMA_PREFIX}{wire_name}: the reference points to nothing")
        where = f"components.schemas.{wire_name}"
        schema, nullable = self.split_null(self.merged(component.schema, where))
        ref = self.single_ref(component.schema)
        if ref is not None:
            base = self.component_type(ref, strict=strict, typed_dict=typed_dict)
        else:
            kind = self.kind(schema)
            self.define(component.name, component.schema, where)
            base = self.named(component.name, kind, schema, strict=strict, typed_dict=typed_dict)
        return join([base, NONE]) if nullable else base

    def named(
        self, name: str, kind: str, schema: dict[str, Any], *, strict: bool, typed_dict: bool
    ) -> PyType:
        """The annotation naming definition `name`."""
        if kind in ("enum", "codes"):
            closed = PyType(name, models=frozenset({name}))
            if strict or typed_dict:
                return closed
            return join([closed, self.open_base(schema)])
        if kind == "alias":
            if typed_dict and self._alias_twins.get(name, False):
                return PyType(name + self.suffix, models=frozenset({name + self.suffix}))
            return PyType(name, models=frozenset({name}))
        shown = name + self.suffix if typed_dict else name
        return PyType(shown, models=frozenset({shown}))

    def open_base(self, schema: dict[str, Any]) -> PyType:
        """What an open enum also accepts: values of its type that this SDK does not know."""
        values = [
            v for v in schema.get("enum") or [m.get("const") for m in schema.get("oneOf", [])]
        ]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int}:
            return PyType("int")
        if kinds <= {int, float}:
            return PyType("float")
        return PyType("str")

    def define(self, name: str, raw: Any, where: str) -> None:
        """Builds the definition `name` of schema `raw`, once."""
        if name in self.defs or name in self._building:
            return
        self._building.add(name)
        try:
            schema, _ = self.split_null(self.merged(raw, where))
            definition = self.build_definition(name, schema, where)
        finally:
            self._building.discard(name)
        if definition is not None:
            self.defs[name] = definition

    def build_definition(self, name: str, schema: dict[str, Any], where: str) -> SchemaDef | None:
        module = python_identifier(snake_case(name))
        description = str(schema.get("description", "") or schema.get("title", "")).strip()
        kind = self.kind(schema)
        if kind == "codes":
            codes = tuple(
                CodeDef(str(item["const"]), int(item["x-status"]), item.get("description", ""))
                for item in schema["oneOf"]
            )
            return CodeSetDef(name, module, description, codes)
        if kind == "enum":
            values = schema.get("enum") or [m["const"] for m in schema["oneOf"]]
            return EnumDef(name, module, description, tuple(values), self.open_base(schema).code)
        if kind == "union":
            return self.build_union(name, module, description, schema, where)
        if kind == "model":
            return self.build_model(name, module, description, schema, where)
        self._alias_twins[name] = False
        alias_type = self.type_of(schema, strict=False, hint=name, where=where)
        twin = self.type_of(schema, strict=False, typed_dict=True, hint=name, where=where)
        self._alias_twins[name] = twin.code != alias_type.code
        return AliasDef(
            name, module, description, alias_type, twin if twin.code != alias_type.code else None
        )

    def build_union(
        self, name: str, module: str, description: str, schema: dict[str, Any], where: str
    ) -> UnionDef:
        discriminator = schema["discriminator"]
        prop = discriminator["propertyName"]
        members = schema.get("oneOf") or schema.get("anyOf") or []
        mapping: dict[str, str] = {}
        for tag, ref in (discriminator.get("mapping") or {}).items():
            target = Spec.ref_name({"$ref": ref}) if str(ref).startswith("#") else str(ref)
            if target not in self.components:
                self.problems.add(f"{where}.discriminator.mapping.{tag}", f"no schema {ref}")
                continue
            mapping[str(tag)] = target
        if not mapping:
            # Without a mapping, each member's tag is its `const`/single enum value, else its name.
            for index, member in enumerate(members):
                target = Spec.ref_name(member)
                if target is None:
                    self.problems.add(
                        f"{where}.oneOf.{index}",
                        "a discriminated union's members must be $refs to named schemas",
                    )
                    continue
                prop_schema = (
                    self.merged(self.components[target].schema, where)
                    .get("properties", {})
                    .get(prop, {})
                )
                prop_schema = self.spec.resolve(prop_schema)
                values = prop_schema.get("enum") or (
                    [prop_schema["const"]] if "const" in prop_schema else []
                )
                mapping[str(values[0]) if len(values) == 1 else target] = target
        variants = []
        for tag, target in mapping.items():
            component = self.components[target]
            self.define(component.name, component.schema, f"components.schemas.{target}")
            variants.append(UnionVariant(tag, component.name))
        fallback = unique(f"Unknown{name}", self.taken, fold_case=True)
        return UnionDef(
            name, module, description, prop, tuple(variants), fallback, field_identifier(prop)
        )

    def build_model(
        self, name: str, module: str, description: str, schema: dict[str, Any], where: str
    ) -> ModelDef:
        strict = schema.get("additionalProperties") is False
        required = set(schema.get("required", []))
        properties = list((schema.get("properties") or {}).items())
        types = {
            wire_name: (
                self.type_of(prop, strict=strict, hint=name + class_name(wire_name), where=w),
                self.type_of(
                    prop, strict=strict, typed_dict=True, hint=name + class_name(wire_name), where=w
                ),
            )
            for wire_name, prop in properties
            for w in [f"{where}.properties.{wire_name}"]
        }
        # A field named like a name the class's annotations use (`datetime`, a model) would
        # hide it from them.
        used: set[str] = {n for t, _ in types.values() for n in t.models | t.symbols}
        # A wire name that is already its own attribute name claims it before a converted one
        # (`foo_bar` stays `foo_bar`, `fooBar` beside it becomes `foo_bar2`), whatever the order.
        wire_names = [str(wire_name) for wire_name, _ in properties]
        own_first = sorted(wire_names, key=lambda wire: field_identifier(wire) != wire)
        attribute = {wire: unique(field_identifier(wire), used) for wire in own_first}
        fields = []
        for wire_name, prop in properties:
            prop_where = f"{where}.properties.{wire_name}"
            resolved = self.spec.resolve(prop) if isinstance(prop, dict) else {}
            resolved_plain, nullable = self.split_null(self.merged(resolved, prop_where))
            field_type, typed_dict_type = types[wire_name]
            own = prop if isinstance(prop, dict) else {}
            is_required = wire_name in required
            fields.append(
                FieldDef(
                    name=attribute[str(wire_name)],
                    wire_name=str(wire_name),
                    dict_key=str(wire_name)
                    if snake_case(str(wire_name)) == str(wire_name)
                    else attribute[str(wire_name)],
                    type=field_type,
                    typed_dict_type=typed_dict_type,
                    required=is_required,
                    nullable=nullable or "None" in field_type.code.split(" | "),
                    description=str(own.get("description", "")).strip(),
                    default_doc=None
                    if resolved_plain.get("default") is None
                    else repr(resolved_plain.get("default")),
                    secret=resolved_plain.get("format") == "password",
                    default=None if is_required else self.default_code(resolved_plain, field_type),
                    deprecated=bool(own.get("deprecated") or resolved.get("deprecated")),
                )
            )
        return ModelDef(
            name, module, description, tuple(fields), strict, bool(schema.get("deprecated"))
        )

    @staticmethod
    def default_code(schema: dict[str, Any], field_type: PyType) -> str | None:
        """The spec's default as Python code, when it is a plain value of the field's type."""
        if "default" not in schema:
            return None
        value = schema["default"]
        code = field_type.code
        fits = (
            (isinstance(value, bool) and code.startswith("bool"))
            or (
                isinstance(value, int)
                and not isinstance(value, bool)
                and code.startswith(("int", "float"))
            )
            or (isinstance(value, float) and code.startswith("float"))
            or (isinstance(value, str) and code.startswith("str"))
            or (
                isinstance(value, str)
                and "enum" in schema
                and value in schema["enum"]
                and "Literal[" in code
            )
        )
        return repr(value) if fits else None

    # -- annotations -------------------------------------------------------------------------

    def type_of(
        self,
        schema: Any,
        *,
        strict: bool,
        hint: str,
        where: str,
        typed_dict: bool = False,
        constraints: bool | None = None,
    ) -> PyType:
        """The annotation for a schema.

        `strict` is for what clients send: enums are closed and the spec's constraints are
        checked. Otherwise the type is lenient, as the API evolves: enums accept new values and
        constraints are the server's business. `hint` names an inline definition.
        """
        with_constraints = strict if constraints is None else constraints
        ref = Spec.ref_name(schema)
        if ref is not None:
            return self.component_type(ref, strict=strict, typed_dict=typed_dict)
        if isinstance(schema, bool):
            return ANY
        single = self.single_ref(schema)
        if single is not None:
            base = self.component_type(single, strict=strict, typed_dict=typed_dict)
            return join([base, NONE]) if schema.get("nullable") else base
        merged = self.merged(schema, where)
        plain, nullable = self.split_null(merged)
        base = self.plain_type(
            schema, plain, strict, typed_dict, with_constraints, hint=hint, where=where
        )
        return join([base, NONE]) if nullable else base

    def plain_type(
        self,
        original: Any,
        schema: dict[str, Any],
        strict: bool,
        typed_dict: bool,
        with_constraints: bool,
        *,
        hint: str,
        where: str,
    ) -> PyType:
        kind = self.kind(schema)
        if kind in ("model", "union"):
            name = self.inline_name(original, schema, hint)
            self.define(name, schema, where)
            return self.named(name, kind, schema, strict=strict, typed_dict=typed_dict)
        if "const" in schema:
            return literal([schema["const"]])
        if kind in ("enum", "codes"):
            values = schema.get("enum") or [m["const"] for m in schema["oneOf"]]
            closed = literal(list(values))
            return closed if strict or typed_dict else join([closed, self.open_base(schema)])
        members = schema.get("oneOf") or schema.get("anyOf")
        if members:
            key = "oneOf" if "oneOf" in schema else "anyOf"
            types = []
            for index, member in enumerate(members):
                title = member.get("title") if isinstance(member, dict) else None
                member_hint = class_name(title) if title else f"{hint}{index + 1}"
                types.append(
                    self.type_of(
                        member,
                        strict=strict,
                        typed_dict=typed_dict,
                        hint=member_hint,
                        where=f"{where}.{key}.{index}",
                    )
                )
            return join(types)
        kind_name = schema.get("type")
        if isinstance(kind_name, list):
            return join(
                [
                    self.plain_type(
                        original,
                        {**schema, "type": k},
                        strict,
                        typed_dict,
                        with_constraints,
                        hint=hint,
                        where=where,
                    )
                    for k in kind_name
                ]
            )
        if kind_name == "string" and schema.get("format") in _FORMATS:
            base = _FORMATS[schema["format"]]
            if typed_dict and base.code != "File":
                return join([base, PyType("str")])
            return base
        if kind_name == "string":
            return self.constrained(
                "str",
                {"min_length": "minLength", "max_length": "maxLength", "pattern": "pattern"},
                schema,
                with_constraints and not typed_dict,
            )
        if kind_name in ("integer", "number"):
            return self.constrained(
                _PRIMITIVES[kind_name],
                {"ge": "minimum", "le": "maximum"},
                schema,
                with_constraints and not typed_dict,
            )
        if kind_name == "boolean":
            return PyType("bool")
        if kind_name == "null":
            return NONE
        if kind_name == "array" or "items" in schema:
            item = self.type_of(
                schema.get("items", {}),
                strict=strict,
                typed_dict=typed_dict,
                hint=hint + "Item",
                where=f"{where}.items",
            )
            listed = PyType(f"list[{item.code}]", item.models, item.symbols)
            return self.constrained(
                listed.code,
                {"min_length": "minItems", "max_length": "maxItems"},
                schema,
                with_constraints and not typed_dict,
                inner=listed,
            )
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            value = self.type_of(
                extra,
                strict=strict,
                typed_dict=typed_dict,
                hint=hint + "Value",
                where=f"{where}.additionalProperties",
            )
            return PyType(f"dict[str, {value.code}]", value.models, value.symbols)
        if kind_name == "object" or "additionalProperties" in schema:
            return PyType("dict[str, Any]", symbols=frozenset({"Any"}))
        return ANY

    def inline_name(self, original: Any, schema: dict[str, Any], hint: str) -> str:
        key = id(original)
        if key not in self._inline:
            title = schema.get("title")
            name = class_name(str(title)) if title else hint
            self._inline[key] = unique(name, self.taken, fold_case=True)
        return self._inline[key]

    @staticmethod
    def constrained(
        base: str,
        keys: dict[str, str],
        schema: dict[str, Any],
        enabled: bool,
        inner: PyType | None = None,
    ) -> PyType:
        inner = inner or PyType(base)
        if not enabled:
            return inner
        args = [f"{arg}={schema[key]!r}" for arg, key in keys.items() if key in schema]
        if not args:
            return inner
        return PyType(
            f"Annotated[{inner.code}, Field({', '.join(args)})]",
            inner.models,
            inner.symbols | {"Annotated", "Field"},
        )

    def all_defs(self) -> Iterator[SchemaDef]:
        for name in sorted(self.defs):
            yield self.defs[name]
