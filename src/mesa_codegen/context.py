"""Helpers the templates call: imports, annotations and example code worked out in Python."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .ir import (
    AliasDef,
    BodyDef,
    CodeSetDef,
    EnumDef,
    ErrorResponseDef,
    FieldDef,
    ModelDef,
    OperationDef,
    ParamDef,
    ResourceDef,
    SchemaDef,
    SdkDef,
    UnionDef,
)
from .names import BUILTIN_NAMES

RUNTIME_ERRORS = (
    "MesaError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "ResponseValidationError",
    "InvalidRequestError",
    "MissingCredentialError",
    "InvalidApiUrlError",
    "InvalidOptionsError",
)


def md_cell(text: str) -> str:
    """Text safe to put in one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def upper_snake(name: str) -> str:
    from .names import snake_case

    return snake_case(name).upper()


@dataclass(frozen=True)
class ModuleUnit:
    """One module of the models package: one schema, or schemas that refer to each other."""

    module: str
    defs: tuple[SchemaDef, ...]
    rebuild: tuple[str, ...]
    """Models to rebuild once every name in the module exists (their references form a cycle)."""
    lazy: frozenset[str] = frozenset()
    """Aliases in a cycle: declared with `TypeAliasType`, whose value is read on first use."""


TEMPLATES = {
    ModelDef: "model.py.jinja",
    EnumDef: "enum.py.jinja",
    UnionDef: "union.py.jinja",
    CodeSetDef: "codes.py.jinja",
    AliasDef: "alias.py.jinja",
}


# What a models module may need from outside the package, by module; each name is imported
# only when the module's code uses it.
LIBRARY_NAMES = (
    ("datetime", ("date", "datetime")),
    ("enum", ("Enum",)),
    ("typing", ("Annotated", "Any", "Literal", "TypedDict")),
    ("uuid", ("UUID",)),
    ("pydantic", ("Discriminator", "Field", "Tag")),
    ("typing_extensions", ("NotRequired", "TypeAliasType")),
    ("mesa_sdk._runtime.bodies", ("File",)),
    (
        "mesa_sdk._runtime.models",
        ("NOT_NULL", "UNKNOWN_VARIANT", "RequestModel", "ResponseModel", "open_discriminator"),
    ),
)


def library_imports(code: str) -> list[tuple[str, list[str]]]:
    import re

    words = set(re.findall(r"(?<![.\w])[A-Za-z_]\w*", code))
    found = [(module, [n for n in names if n in words]) for module, names in LIBRARY_NAMES]
    return [(module, names) for module, names in found if names]


def references(schema: SchemaDef, suffix: str) -> set[str]:
    """The definitions a schema's code names (TypedDict twins count as their model)."""
    names: set[str] = set()
    if isinstance(schema, ModelDef):
        for f in schema.fields:
            names |= f.type.models | f.typed_dict_type.models
    elif isinstance(schema, UnionDef):
        names |= {v.model for v in schema.variants}
    elif isinstance(schema, AliasDef):
        names |= schema.type.models | (schema.twin.models if schema.twin else set())
    return {n[: -len(suffix)] if n.endswith(suffix) else n for n in names}


def module_units(schemas: tuple[SchemaDef, ...], suffix: str) -> list[ModuleUnit]:
    """Schemas grouped into modules: each strongly connected set of references shares one, so
    that no two modules import each other (which would fail at import)."""
    by_name = {s.name: s for s in schemas}
    graph = {s.name: sorted(references(s, suffix) & set(by_name)) for s in schemas}
    components = strongly_connected(graph)
    units = []
    for members in components:
        ordered = sorted(members)
        defs = [by_name[n] for n in ordered]
        cyclic = len(defs) > 1 or ordered[0] in graph[ordered[0]]
        # Literal aliases first, then classes (their annotations are read lazily), then
        # unions and aliases, which Python evaluates at once, each after what it names.
        early = [d for d in defs if isinstance(d, (EnumDef, CodeSetDef))]
        classes = [d for d in defs if isinstance(d, ModelDef)]
        late = eager_order([d for d in defs if isinstance(d, (UnionDef, AliasDef))], graph)
        units.append(
            ModuleUnit(
                module=by_name[ordered[0]].module,
                defs=tuple(early + classes + late),
                rebuild=tuple(d.name for d in classes) if cyclic and len(defs) > 1 else (),
                lazy=frozenset(d.name for d in late if cyclic and isinstance(d, AliasDef)),
            )
        )
    return sorted(units, key=lambda u: u.module)


def eager_order(defs: list[SchemaDef], graph: dict[str, list[str]]) -> list[SchemaDef]:
    names = {d.name for d in defs}
    done: list[SchemaDef] = []
    remaining = list(defs)
    while remaining:
        ready = [
            d
            for d in remaining
            if all(n not in names or n in {x.name for x in done} for n in graph[d.name])
        ]
        if not ready:
            # A recursive alias: the builder reports it; keep the order stable anyway.
            ready = remaining[:1]
        done += ready[:1]
        remaining.remove(ready[0])
    return done


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative over sorted nodes, so the result is reproducible."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = graph[node]
            if child < len(edges):
                work.append((node, child + 1))
                target = edges[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                result.append(members)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


class TemplateContext:
    """The functions and values every template sees, bound to one SdkDef."""

    def __init__(self, sdk: SdkDef) -> None:
        self.sdk = sdk
        self.units = module_units(sdk.schemas, sdk.typed_dict_suffix)
        self.modules: dict[str, str] = {}
        for unit in self.units:
            for schema in unit.defs:
                for name in self.exported_names(schema):
                    self.modules[name] = unit.module

    def exported_names(self, schema: SchemaDef) -> list[str]:
        names = [schema.name]
        if isinstance(schema, (ModelDef, UnionDef)) or (
            isinstance(schema, AliasDef) and schema.twin
        ):
            names.append(schema.name + self.sdk.typed_dict_suffix)
        if isinstance(schema, UnionDef):
            names.append(schema.fallback)
        if isinstance(schema, CodeSetDef):
            names.append(upper_snake(schema.name) + "_STATUS")
        return names

    def globals(self) -> dict[str, Any]:
        errors = self.sdk.error_classes
        return {
            "module_of": self.module_of,
            "unit_imports": self.unit_imports,
            "library_imports": library_imports,
            "module_doc": self.module_doc,
            "template_of": lambda schema: TEMPLATES[type(schema)],
            "class_keys": class_keys,
            "functional_typed_dict": self.functional_typed_dict,
            "resource_imports": self.resource_imports,
            "all_model_exports": self.all_model_exports,
            "field_annotation": self.field_annotation,
            "in_class": in_class,
            "wire_alias": wire_alias,
            "body_annotation": self.body_annotation,
            "field_default": self.field_default,
            "example_call": self.example_call,
            "param_code": self.param_code,
            "shared_params": self.shared_params,
            "resource_shared_params": self.resource_shared_params,
            "example_args_inline": self.example_args_inline,
            "sample_args": self.sample_args,
            "fragment": self.fragment,
            "examples": self.examples(),
            "common_errors": common_errors,
            "first_setting": first_setting,
            "doc_type": self.doc_type,
            "py_literal": py_literal,
            "error_names": [*RUNTIME_ERRORS, *(cls.name for cls in errors)],
            "client_error": errors[0].name,
            "server_error": errors[1].name,
            "retry_statuses": sorted(
                {
                    code
                    for r in self.sdk.resources
                    for op in r.operations
                    for code in op.retry_status_codes
                }
            ),
        }

    def module_of(self, name: str) -> str:
        return self.modules[name]

    def grouped(self, names: set[str], exclude: str | None = None) -> list[tuple[str, list[str]]]:
        by_module: dict[str, list[str]] = {}
        for name in names:
            module = self.modules[name]
            if module != exclude:
                by_module.setdefault(module, []).append(name)
        return [(module, sorted(by_module[module])) for module in sorted(by_module)]

    def unit_imports(self, unit: ModuleUnit) -> list[tuple[str, list[str]]]:
        names: set[str] = set()
        for schema in unit.defs:
            if isinstance(schema, ModelDef):
                for f in schema.fields:
                    names |= f.type.models | f.typed_dict_type.models
            elif isinstance(schema, UnionDef):
                for v in schema.variants:
                    names |= {v.model, v.model + self.sdk.typed_dict_suffix}
            elif isinstance(schema, AliasDef):
                names |= schema.type.models | (schema.twin.models if schema.twin else set())
        return self.grouped(names, exclude=unit.module)

    @staticmethod
    def module_doc(unit: ModuleUnit) -> str:
        if len(unit.defs) == 1:
            return unit.defs[0].description or unit.defs[0].name
        names = [f"`{d.name}`" for d in unit.defs]
        return f"{', '.join(names[:-1])} and {names[-1]}, which refer to each other."

    def functional_typed_dict(self, schema: ModelDef) -> str:
        """A TypedDict whose keys are not all identifiers, in the call syntax that allows them."""
        name = schema.name + self.sdk.typed_dict_suffix
        items = []
        for f in schema.fields:
            annotation = f.typed_dict_type.code
            if not f.required:
                annotation = f"NotRequired[{annotation}]"
            items.append(f"    {f.dict_key!r}: {annotation!r},")
        body = "\n".join(items)
        return f"{name} = TypedDict(\n    {name!r},\n    {{\n{body}\n    }},\n)"

    def resource_imports(self, resource: ResourceDef) -> list[tuple[str, list[str]]]:
        names: set[str] = set()
        for op in resource.operations:
            if op.body:
                names |= op.body.models
            names |= op.response_models
            if op.pagination:
                names.add(op.pagination.item_type)
            if op.idempotency_key_type:
                names |= op.idempotency_key_type.models
            for p in op.params:
                names |= p.signature_type.models | p.validator_type.models
        return self.grouped(names)

    def all_model_exports(self) -> list[tuple[str, list[str]]]:
        return self.grouped(set(self.modules))

    @staticmethod
    def body_annotation(body: BodyDef) -> str:
        return body.model if body.twin == body.model else f"{body.model} | {body.twin}"

    @staticmethod
    def param_code(p: ParamDef) -> str:
        extras = "".join(
            f", {key}={value!r}"
            for key, value in (
                ("style", p.style),
                ("explode", p.explode),
                ("as_json", True if p.as_json else None),
            )
            if value is not None
        )
        if p.default_doc is not None:
            extras += f", server_default={p.default_doc}"
        return (
            f"Param({p.name!r}, {p.wire_name!r}, {p.location!r}, "
            f"{p.validator_type.code}, {p.required}{extras})"
        )

    def shared_params(self) -> list[ParamDef]:
        """Each shared parameter once, by name; every use of one must agree."""
        found: dict[str, ParamDef] = {}
        for resource in self.sdk.resources:
            for op in resource.operations:
                for p in op.params:
                    if p.shared_name:
                        found.setdefault(p.shared_name, p)
        return [found[name] for name in sorted(found)]

    @staticmethod
    def resource_shared_params(resource: ResourceDef) -> list[str]:
        return sorted(
            {p.shared_name for op in resource.operations for p in op.params if p.shared_name}
        )

    @staticmethod
    def field_annotation(f: FieldDef, schema: ModelDef) -> str:
        if f.required or f.nullable or f.default is not None:
            return f.type.code
        if schema.strict:
            # Unset means "not sent"; an explicit None is rejected, as the field is not nullable.
            return f"Annotated[{f.type.code} | None, NOT_NULL]"
        return f"{f.type.code} | None"

    @staticmethod
    def field_default(f: FieldDef, schema: ModelDef) -> str:
        extras = []
        if f.name != f.wire_name:
            extras.append(wire_alias(f.wire_name))
        if f.secret:
            extras.append("repr=False")
        if f.deprecated:
            extras.append("deprecated=True")
        if f.required:
            return f" = Field({', '.join(extras)})" if extras else ""
        default = "None" if f.default is None else f.default
        return (
            f" = Field({', '.join([f'default={default}', *extras])})" if extras else f" = {default}"
        )

    def sample_args(self, op: OperationDef) -> list[tuple[str, Any]]:
        """The arguments a sample passes: the required ones (the spec's examples), then gen.yaml's
        extra ones; a parameter gen.yaml names a variable for is passed as that variable."""
        extra = self.sdk.samples.args.get(op.operation_id, {})
        args = [(n, v) for n, v in op.example_args if n != "body"] + list(extra.items())
        args += [(n, v) for n, v in op.example_args if n == "body"]
        variables = self.sdk.samples.variables
        return [(n, SampleVariable(variables[n]) if n in variables else v) for n, v in args]

    def fragment(self, op: OperationDef | None, *needs: str) -> str:
        """The comment marking a sample as a fragment (its `needs`, the operation's from gen.yaml
        and the variables it passes), with a line break; empty for a sample that stands alone."""
        if op is not None:
            needs += self.sdk.samples.needs.get(op.operation_id, ())
            needs += tuple(v for _, v in self.sample_args(op) if isinstance(v, SampleVariable))
        unique = list(dict.fromkeys(needs))
        return f"<!-- fragment: needs {', '.join(unique)} -->\n" if unique else ""

    def example_call(self, resource: ResourceDef, op: OperationDef) -> str:
        lines = [f"    {name}={py_literal(value, 1)}," for name, value in self.sample_args(op)]
        call = f"client.{resource.name}.{op.method_name}("
        result = "page" if op.pagination else ("result" if op.response_model else None)
        head = f"{result} = {call}" if result else call
        text = head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")
        if op.pagination:
            items = op.pagination.items_field
            text += f"\nfor item in page.result.{items}:\n    print(item)"
        elif result:
            text += f"\nprint({result})"
        return text

    def doc_type(self, code: str) -> str:
        """A type for the docs: a link to its page when it names one schema."""
        if code in self.modules and (code in {s.name for s in self.sdk.schemas}):
            return f"[`{code}`](../../models/{code}.md)"
        return f"`{md_cell(code)}`"

    def examples(self) -> dict[str, tuple[ResourceDef, OperationDef] | None]:
        """The operations USAGE.md and the package docstring show, chosen from the spec:
        a plain read, a call with a body, a paginated list."""
        found: dict[str, tuple[ResourceDef, OperationDef] | None] = {
            "read": None,
            "body": None,
            "page": None,
        }
        ops = [(r, op) for r in self.sdk.resources for op in r.operations]
        for kind, fits in (
            (
                "read",
                lambda op: op.http_method == "GET" and not op.pagination and op.response_model,
            ),
            ("body", lambda op: op.body is not None),
            ("page", lambda op: op.pagination is not None),
        ):
            found[kind] = next(((r, op) for r, op in ops if fits(op)), None)
        if found["read"] is None and ops:
            found["read"] = ops[0]
        return found

    def example_args_inline(self, op: OperationDef) -> str:
        return ", ".join(
            f"{name}={py_literal(value, 0)}"
            for name, value in self.sample_args(op)
            if name != "body"
        )


class SampleVariable(str):
    """A variable name a sample passes instead of a literal value."""


def py_literal(value: Any, level: int) -> str:
    """A Python literal for JSON-like data, in the layout ruff would give it."""
    if isinstance(value, SampleVariable):
        return str(value)
    pad = "    " * (level + 1)
    end = "    " * level
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {py_literal(v, level + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + end + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{pad}{py_literal(v, level + 1)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + end + "]"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def class_keys(schema: ModelDef) -> bool:
    """Whether every key of the TypedDict twin can be written in class syntax."""
    import keyword

    return all(
        f.dict_key.isidentifier() and not keyword.iskeyword(f.dict_key) for f in schema.fields
    )


def wire_alias(wire_name: str) -> str:
    """The `Field` arguments that read and write a field under its wire name.

    Not `alias=`: type checkers (through `dataclass_transform`) would then take only the wire
    name as the constructor's keyword, and `Casing(total_lines=1)` would not type-check
    without pydantic's mypy plugin. The models' `populate_by_name` accepts both at runtime.
    """
    return f"validation_alias={wire_name!r}, serialization_alias={wire_name!r}"


def in_class(code: str, resource: ResourceDef) -> str:
    """An annotation inside the resource class, where a method named `list` hides the builtin."""
    import re

    shadowed = {op.method_name for op in resource.operations} & BUILTIN_NAMES
    for name in shadowed:
        code = re.sub(rf"(?<![.\w]){name}\b", f"builtins.{name}", code)
    return code


def common_errors(resource: ResourceDef) -> list[ErrorResponseDef]:
    """The error rows every operation of a resource shares: documented once, on the class."""
    rows = [list(op.errors) for op in resource.operations]
    return [e for e in rows[0] if all(e in other for other in rows[1:])] if rows else []


def first_setting(resource: ResourceDef, name: str) -> tuple[Any, ...]:
    """The first non-empty value of an operation setting: written once per module."""
    values: list[tuple[Any, ...]] = [getattr(op, name) for op in resource.operations]
    return next((v for v in values if v), ())
