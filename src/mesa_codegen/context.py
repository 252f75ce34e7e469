"""Helpers the templates call: imports, annotations and example code worked out in Python."""

from __future__ import annotations

import json
from typing import Any

from .ir import (
    CodeSetDef,
    FieldDef,
    ModelDef,
    OperationDef,
    ParamDef,
    ResourceDef,
    SdkDef,
    UnionDef,
)

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


def upper_snake(name: str) -> str:
    from .builder import snake_case

    return snake_case(name).upper()


class TemplateContext:
    """The functions and values every template sees, bound to one SdkDef."""

    def __init__(self, sdk: SdkDef) -> None:
        self.sdk = sdk
        self.modules: dict[str, str] = {}
        for schema in sdk.schemas:
            self.modules[schema.name] = schema.module
            if isinstance(schema, (ModelDef, UnionDef)):
                self.modules[schema.name + sdk.typed_dict_suffix] = schema.module
            if isinstance(schema, UnionDef):
                self.modules[schema.fallback] = schema.module
            if isinstance(schema, CodeSetDef):
                self.modules[upper_snake(schema.name) + "_STATUS"] = schema.module

    def globals(self) -> dict[str, Any]:
        errors = self.sdk.error_classes
        return {
            "module_of": self.module_of,
            "model_imports": self.model_imports,
            "resource_imports": self.resource_imports,
            "all_model_exports": self.all_model_exports,
            "field_annotation": self.field_annotation,
            "field_default": self.field_default,
            "example_call": self.example_call,
            "param_code": self.param_code,
            "shared_params": self.shared_params,
            "resource_shared_params": self.resource_shared_params,
            "example_args_inline": self.example_args_inline,
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

    def model_imports(self, schema: ModelDef) -> list[tuple[str, list[str]]]:
        names: set[str] = set()
        for f in schema.fields:
            names |= f.type.models | f.typed_dict_type.models
        return self.grouped(names, exclude=schema.module)

    def resource_imports(self, resource: ResourceDef) -> list[tuple[str, list[str]]]:
        names: set[str] = set()
        for op in resource.operations:
            if op.body:
                names |= {op.body.model, op.body.model + self.sdk.typed_dict_suffix}
            if op.response_model:
                names.add(op.response_model)
            if op.pagination:
                names.add(op.pagination.item_type)
        return self.grouped(names)

    def all_model_exports(self) -> list[tuple[str, list[str]]]:
        return self.grouped(set(self.modules))

    @staticmethod
    def param_code(p: ParamDef) -> str:
        return (
            f"Param({p.name!r}, {p.wire_name!r}, {p.location!r}, "
            f"{p.validator_type.code}, {p.required})"
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
        if f.required or f.nullable:
            return f.type.code
        if schema.strict:
            # Unset means "not sent"; an explicit None is rejected, as the field is not nullable.
            return f"Annotated[{f.type.code} | None, NOT_NULL]"
        return f"{f.type.code} | None"

    @staticmethod
    def field_default(f: FieldDef, schema: ModelDef) -> str:
        extras = []
        if f.name != f.wire_name:
            extras.append(f"alias={f.wire_name!r}")
        if f.secret:
            extras.append("repr=False")
        if f.required:
            return f" = Field({', '.join(extras)})" if extras else ""
        return f" = Field({', '.join(['default=None', *extras])})" if extras else " = None"

    def example_call(self, resource: ResourceDef, op: OperationDef) -> str:
        lines = [f"    {name}={py_literal(value, 1)}," for name, value in op.example_args]
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

    @staticmethod
    def example_args_inline(op: OperationDef) -> str:
        return ", ".join(
            f"{name}={py_literal(value, 0)}" for name, value in op.example_args if name != "body"
        )


def py_literal(value: Any, level: int) -> str:
    """A Python literal for JSON-like data, in the layout ruff would give it."""
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
