"""Builds the intermediate model (ir.SdkDef) from the spec and the settings."""

from __future__ import annotations

import keyword
import re
from typing import Any

from .ir import (
    BodyDef,
    CodeDef,
    CodeSetDef,
    EnumDef,
    ErrorClassDef,
    ErrorResponseDef,
    FieldDef,
    MediaMethodDef,
    ModelDef,
    OperationDef,
    PaginationDef,
    ParamDef,
    PyType,
    ResourceDef,
    RetryDefaults,
    SchemaDef,
    SdkDef,
    UnionDef,
    UnionVariant,
)
from .settings import Settings
from .spec import Spec, SpecError

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
JSON = "application/json"


def snake_case(name: str) -> str:
    """`CreateApiKey` -> `create_api_key`, `Idempotency-Key` -> `idempotency_key`."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.strip("_").lower()


def python_identifier(name: str) -> str:
    """A valid, non-keyword identifier for a wire name (`from` -> `from_`)."""
    ident = snake_case(name) if not name.isidentifier() else name
    if not ident or ident[0].isdigit():
        ident = "field_" + ident
    if keyword.iskeyword(ident) or ident in {"self", "body", "request_options"}:
        ident += "_"
    return ident


def class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def _join(types: list[PyType], separator: str = " | ") -> PyType:
    return PyType(
        code=separator.join(t.code for t in types),
        models=frozenset().union(*(t.models for t in types)),
        symbols=frozenset().union(*(t.symbols for t in types)),
    )


def _literal(values: list[Any]) -> PyType:
    return PyType(f"Literal[{', '.join(repr(v) for v in values)}]", symbols=frozenset({"Literal"}))


class Builder:
    """Walks the spec once; each method turns one kind of node into IR."""

    def __init__(self, spec: Spec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.schemas: dict[str, Any] = spec.document.get("components", {}).get("schemas", {})
        self.suffix = settings.models.typed_dict_suffix

    # -- schemas ---------------------------------------------------------------------------

    def schema_kind(self, name: str) -> str:
        schema = self.schemas[name]
        if self.is_code_set(schema):
            return "codes"
        if "oneOf" in schema:
            return "union"
        if "enum" in schema:
            return "enum"
        return "model"

    def build_schemas(self) -> tuple[SchemaDef, ...]:
        defs: list[SchemaDef] = []
        for name in sorted(self.schemas):
            schema = self.schemas[name]
            module = snake_case(name)
            description = str(schema.get("description", "")).strip()
            kind = self.schema_kind(name)
            if kind == "codes":
                codes = tuple(
                    CodeDef(
                        name=item["const"],
                        status=int(item["x-status"]),
                        description=item.get("description", ""),
                    )
                    for item in schema["oneOf"]
                )
                defs.append(CodeSetDef(name, module, description, codes))
            elif kind == "union":
                defs.append(self.build_union(name, module, description, schema))
            elif kind == "enum":
                defs.append(EnumDef(name, module, description, tuple(schema["enum"])))
            else:
                defs.append(self.build_model(name, module, description, schema))
        return tuple(defs)

    def build_union(self, name: str, module: str, description: str, schema: Any) -> UnionDef:
        discriminator = schema.get("discriminator", {})
        prop = discriminator.get("propertyName")
        if not prop:
            raise SpecError(f"schema {name}: oneOf needs a discriminator")
        variants = []
        for tag, ref in discriminator.get("mapping", {}).items():
            model = ref.rsplit("/", 1)[-1]
            if model not in self.schemas:
                raise SpecError(f"schema {name}: discriminator maps {tag!r} to unknown {ref}")
            variants.append(UnionVariant(tag, model))
        return UnionDef(name, module, description, prop, tuple(variants), fallback=f"Unknown{name}")

    def build_model(self, name: str, module: str, description: str, schema: Any) -> ModelDef:
        if schema.get("type") != "object":
            raise SpecError(f"schema {name}: only object, enum and oneOf schemas are supported")
        strict = schema.get("additionalProperties") is False
        required = set(schema.get("required", []))
        fields = []
        for wire_name, prop in schema.get("properties", {}).items():
            resolved = self.spec.resolve(prop)
            nullable = self.is_nullable(resolved)
            default = resolved.get("default") if isinstance(resolved, dict) else None
            fields.append(
                FieldDef(
                    name=python_identifier(wire_name),
                    wire_name=wire_name,
                    type=self.type_of(prop, strict=strict),
                    typed_dict_type=self.type_of(prop, strict=strict, typed_dict=True),
                    required=wire_name in required,
                    nullable=nullable,
                    description=str(prop.get("description", "")).strip()
                    if isinstance(prop, dict)
                    else "",
                    default_doc=None if default is None else repr(default),
                    secret=isinstance(resolved, dict) and resolved.get("format") == "password",
                )
            )
        return ModelDef(name, module, description, tuple(fields), strict)

    @staticmethod
    def is_nullable(schema: Any) -> bool:
        kind = schema.get("type") if isinstance(schema, dict) else None
        return isinstance(kind, list) and "null" in kind

    # -- types -------------------------------------------------------------------------------

    def type_of(
        self,
        schema: Any,
        *,
        strict: bool,
        typed_dict: bool = False,
        constraints: bool | None = None,
    ) -> PyType:
        """The annotation for a schema.

        `strict` is for what clients send: enums are closed and the spec's constraints are
        checked. Otherwise the type is lenient, as the API evolves: enums accept new values and
        constraints are the server's business.
        """
        with_constraints = strict if constraints is None else constraints
        ref = Spec.ref_name(schema)
        if ref is not None:
            return self.named_type(ref, strict=strict, typed_dict=typed_dict)
        if not isinstance(schema, dict):
            raise SpecError(f"unsupported schema {schema!r}")
        kind = schema.get("type")
        if isinstance(kind, list):
            others = [k for k in kind if k != "null"]
            if len(others) != 1:
                raise SpecError(f"unsupported type list {kind}")
            inner = self.type_of(
                {**schema, "type": others[0]},
                strict=strict,
                typed_dict=typed_dict,
                constraints=with_constraints,
            )
            return _join([inner, PyType("None")])
        if "const" in schema:
            return _literal([schema["const"]])
        if "enum" in schema:
            closed = _literal(list(schema["enum"]))
            return closed if strict or typed_dict else _join([closed, PyType("str")])
        if kind == "string":
            if schema.get("format") == "date-time":
                base = PyType("datetime", symbols=frozenset({"datetime"}))
                return _join([base, PyType("str")]) if typed_dict else base
            if schema.get("format") == "binary":
                return PyType("bytes")
            return self.constrained(
                "str",
                {"min_length": "minLength", "max_length": "maxLength", "pattern": "pattern"},
                schema,
                with_constraints and not typed_dict,
            )
        if kind == "integer":
            return self.constrained(
                "int",
                {"ge": "minimum", "le": "maximum"},
                schema,
                with_constraints and not typed_dict,
            )
        if kind == "number":
            return self.constrained(
                "float",
                {"ge": "minimum", "le": "maximum"},
                schema,
                with_constraints and not typed_dict,
            )
        if kind == "boolean":
            return PyType("bool")
        if kind == "array":
            item = self.type_of(schema.get("items", {}), strict=strict, typed_dict=typed_dict)
            listed = PyType(f"list[{item.code}]", item.models, item.symbols)
            return self.constrained(
                listed.code,
                {"min_length": "minItems", "max_length": "maxItems"},
                schema,
                with_constraints and not typed_dict,
                inner=listed,
            )
        if kind == "object" and not schema.get("properties"):
            return PyType("dict[str, Any]", symbols=frozenset({"Any"}))
        raise SpecError(f"unsupported inline schema {schema!r}; give it a name in components")

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

    def named_type(self, name: str, *, strict: bool, typed_dict: bool) -> PyType:
        if name not in self.schemas:
            raise SpecError(f"reference to unknown schema {name}")
        kind = self.schema_kind(name)
        if kind in ("enum", "codes"):
            closed = PyType(name, models=frozenset({name}))
            return closed if strict or typed_dict else _join([closed, PyType("str")])
        shown = name + self.suffix if typed_dict else name
        return PyType(shown, models=frozenset({shown}))

    # -- operations --------------------------------------------------------------------------

    def build_resources(self) -> tuple[ResourceDef, ...]:
        tags = {t["name"]: t.get("description", "") for t in self.spec.document.get("tags", [])}
        by_group: dict[str, list[OperationDef]] = {}
        for path, item in self.spec.document.get("paths", {}).items():
            shared = item.get("parameters", [])
            for http_method in HTTP_METHODS:
                if http_method in item:
                    op = self.build_operation(path, http_method, item[http_method], shared)
                    by_group.setdefault(op.resource, []).append(op)
        resources = []
        for group in sorted(by_group, key=lambda g: (list(tags).index(g) if g in tags else 99, g)):
            operations = tuple(by_group[group])
            names = [op.method_name for op in operations]
            if len(set(names)) != len(names):
                raise SpecError(f"resource {group} has two operations with one method name")
            # A resource class named like a model (`Content`) would shadow it in its module.
            resource_class = class_name(group)
            if resource_class in self.schemas:
                resource_class += "Resource"
            resources.append(
                ResourceDef(
                    name=group,
                    class_name=resource_class,
                    module=snake_case(group),
                    description=str(tags.get(group, "")).strip(),
                    operations=operations,
                )
            )
        return tuple(resources)

    def build_operation(
        self, path: str, http_method: str, node: dict[str, Any], shared: list[Any]
    ) -> OperationDef:
        operation_id = node.get("operationId")
        if not operation_id:
            raise SpecError(f"{http_method.upper()} {path}: operationId is required")
        group = node.get("x-speakeasy-group") or (node.get("tags") or [None])[0]
        if not group:
            raise SpecError(f"{operation_id}: needs x-speakeasy-group or a tag")
        method_name = node.get("x-speakeasy-name-override") or snake_case(operation_id)

        params: list[ParamDef] = []
        idempotency_header = None
        by_key: dict[tuple[str, str], tuple[Any, str | None]] = {}
        for raw in [*shared, *node.get("parameters", [])]:
            param = self.spec.resolve(raw)
            by_key[(param["in"], param["name"])] = (param, self.component_name(raw))
        for (location, wire_name), (param, component) in by_key.items():
            if location == "header" and wire_name.lower() == "idempotency-key":
                idempotency_header = wire_name
                continue
            if location not in ("path", "query", "header"):
                raise SpecError(f"{operation_id}: parameters in {location} are not supported")
            params.append(self.build_param(param, component))

        body = None
        request_body = self.spec.resolve(node.get("requestBody")) if "requestBody" in node else None
        if request_body:
            schema = request_body.get("content", {}).get(JSON, {}).get("schema")
            model = Spec.ref_name(schema)
            if model is None:
                raise SpecError(f"{operation_id}: the JSON request body must be a named schema")
            body = BodyDef(model=model, required=bool(request_body.get("required", False)))

        success_status, response_model, response_description, media = self.success_response(
            operation_id, node
        )
        media_methods = []
        for media_type in media:
            if media_type == JSON:
                continue
            setting = self.settings.media_methods.get(media_type)
            if setting is None:
                raise SpecError(
                    f"{operation_id}: success media type {media_type} has no media_methods entry"
                    " in gen.yaml"
                )
            media_methods.append(
                MediaMethodDef(
                    name=f"{method_name}_{setting.suffix}",
                    media_type=media_type,
                    returns=setting.returns,
                    stream_name=f"{method_name}_stream" if setting.stream else None,
                )
            )

        return OperationDef(
            operation_id=operation_id,
            resource=group,
            method_name=method_name,
            http_method=http_method.upper(),
            path=path,
            summary=str(node.get("summary", "")).strip(),
            description=str(node.get("description", "")).strip(),
            params=tuple(self.ordered(params)),
            idempotency_header=idempotency_header,
            body=body,
            success_status=success_status,
            response_model=response_model,
            response_description=response_description,
            media_methods=tuple(media_methods),
            pagination=self.pagination(operation_id, node, params, response_model),
            scopes=self.scopes(node),
            retry_status_codes=self.retry_status_codes(node),
            retry_error_codes=self.retry_error_codes(node),
            errors=self.error_responses(node),
            example_args=self.example_args(params, body),
        )

    def example_args(
        self, params: list[ParamDef], body: BodyDef | None
    ) -> tuple[tuple[str, Any], ...]:
        args: list[tuple[str, Any]] = [
            (p.name, p.example) for p in self.ordered(params) if p.required or p.client_default
        ]
        if body is not None:
            args.append(("body", self.example_of({"$ref": f"#/components/schemas/{body.model}"})))
        return tuple(args)

    def example_of(self, schema: Any) -> Any:
        """An example value: the spec's own, else one built from required fields and types."""
        schema = self.spec.resolve(schema)
        for key in ("example", "default", "const"):
            if key in schema:
                return schema[key]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next(k for k in kind if k != "null")
        if kind == "object":
            properties = schema.get("properties", {})
            return {
                name: self.example_of(properties[name])
                for name in schema.get("required", [])
                if name in properties
            }
        if kind == "array":
            return [self.example_of(schema.get("items", {}))]
        return {"integer": schema.get("minimum", 1), "number": 1.0, "boolean": True}.get(
            str(kind), "string"
        )

    @staticmethod
    def component_name(raw: Any) -> str | None:
        """`Org` for `{"$ref": "#/components/parameters/Org"}`; None for an inline parameter."""
        prefix = "#/components/parameters/"
        ref = raw.get("$ref") if isinstance(raw, dict) else None
        return ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None

    def build_param(self, param: dict[str, Any], component: str | None = None) -> ParamDef:
        wire_name = param["name"]
        name = python_identifier(snake_case(wire_name))
        schema = param.get("schema", {})
        required = bool(param.get("required", False))
        client_default = param["in"] == "path" and name in self.settings.client.default_params
        base = self.type_of(schema, strict=True, constraints=False)
        optional = (not required) or client_default
        signature = _join([base, PyType("None")]) if optional else base
        default = schema.get("default")
        return ParamDef(
            name=name,
            wire_name=wire_name,
            location=param["in"],
            required=required,
            description=str(param.get("description", "")).strip(),
            signature_type=signature,
            validator_type=self.type_of(schema, strict=True, constraints=True),
            client_default=client_default,
            default_doc=None if default is None else repr(default),
            example=param["example"] if "example" in param else self.example_of(schema),
            shared_name=None if component is None else snake_case(component).upper(),
        )

    @staticmethod
    def ordered(params: list[ParamDef]) -> list[ParamDef]:
        """Path parameters in path order first, then required, then optional ones."""
        return sorted(params, key=lambda p: (p.location != "path", not p.required))

    def success_response(
        self, operation_id: str, node: dict[str, Any]
    ) -> tuple[int, str | None, str, list[str]]:
        successes = [s for s in node.get("responses", {}) if str(s).startswith("2")]
        if len(successes) != 1:
            raise SpecError(f"{operation_id}: exactly one 2xx response is supported")
        status = successes[0]
        response = self.spec.resolve(node["responses"][status])
        content = response.get("content", {})
        model = None
        if JSON in content:
            model = Spec.ref_name(content[JSON].get("schema"))
            if model is None:
                raise SpecError(f"{operation_id}: the JSON response must be a named schema")
        return int(status), model, str(response.get("description", "")).strip(), list(content)

    def pagination(
        self,
        operation_id: str,
        node: dict[str, Any],
        params: list[ParamDef],
        response_model: str | None,
    ) -> PaginationDef | None:
        config = node.get("x-speakeasy-pagination")
        if not config:
            return None
        if config.get("type") != "cursor":
            raise SpecError(f"{operation_id}: only cursor pagination is supported")
        cursor_inputs = [i for i in config.get("inputs", []) if i.get("type") == "cursor"]
        if len(cursor_inputs) != 1 or cursor_inputs[0].get("in") != "parameters":
            raise SpecError(f"{operation_id}: pagination needs one cursor parameter")
        cursor_param = python_identifier(snake_case(cursor_inputs[0]["name"]))
        if cursor_param not in {p.name for p in params}:
            raise SpecError(f"{operation_id}: pagination cursor {cursor_param} is no parameter")
        outputs = config.get("outputs", {})

        def field_of(path: str, what: str) -> str:
            match = re.fullmatch(r"\$\.([A-Za-z_][A-Za-z0-9_]*)", str(path))
            if not match:
                raise SpecError(f"{operation_id}: pagination {what} must be `$.field`")
            return match.group(1)

        next_cursor = field_of(outputs.get("nextCursor", ""), "nextCursor")
        items = field_of(outputs.get("results", ""), "results")
        if response_model is None:
            raise SpecError(f"{operation_id}: a paginated operation needs a JSON response")
        properties = self.schemas[response_model].get("properties", {})
        for name in (next_cursor, items):
            if name not in properties:
                raise SpecError(f"{operation_id}: {response_model} has no field {name}")
        item_type = Spec.ref_name(properties[items].get("items"))
        if item_type is None:
            raise SpecError(f"{operation_id}: paginated items must be a named schema")
        return PaginationDef(cursor_param, next_cursor, items, item_type)

    def scopes(self, node: dict[str, Any]) -> tuple[str, ...]:
        requirements = node.get("security", self.spec.document.get("security", []))
        return tuple(scope for req in requirements for scopes in req.values() for scope in scopes)

    def retry_status_codes(self, node: dict[str, Any]) -> tuple[int, ...]:
        config = node.get("x-speakeasy-retries") or self.spec.document.get("x-speakeasy-retries")
        if not config:
            return ()
        codes: set[int] = set()
        for code in config.get("statusCodes", []):
            text = str(code).upper()
            if text.endswith("XX"):
                first = int(text[0])
                codes.update(range(first * 100, first * 100 + 100))
            else:
                codes.add(int(text))
        return tuple(sorted(codes))

    def retry_error_codes(self, node: dict[str, Any]) -> tuple[str, ...]:
        codes = node.get("x-mesa-retry-error-codes")
        if codes is None:
            codes = self.spec.document.get("x-mesa-retry-error-codes", [])
        known = {
            item["const"]
            for schema in self.schemas.values()
            if self.is_code_set(schema)
            for item in schema["oneOf"]
        }
        unknown = sorted(set(codes) - known)
        if unknown:
            raise SpecError(f"x-mesa-retry-error-codes names unknown codes: {', '.join(unknown)}")
        return tuple(sorted(codes))

    @staticmethod
    def is_code_set(schema: Any) -> bool:
        return "oneOf" in schema and all("const" in item for item in schema["oneOf"])

    def error_class_for(self, status: int) -> str:
        errors = self.settings.errors
        if status in errors.by_status:
            return errors.by_status[status]
        return errors.server_error if status >= 500 else errors.client_error

    def error_responses(self, node: dict[str, Any]) -> tuple[ErrorResponseDef, ...]:
        result = []
        for status, raw in node.get("responses", {}).items():
            if str(status)[0] in "45":
                response = self.spec.resolve(raw)
                code = int(status)
                result.append(
                    ErrorResponseDef(
                        code, self.error_class_for(code), str(response.get("description", ""))
                    )
                )
        return tuple(sorted(result, key=lambda e: e.status))

    # -- errors and the whole SDK -----------------------------------------------------------

    def build_error_classes(self, schemas: tuple[SchemaDef, ...]) -> tuple[ErrorClassDef, ...]:
        errors = self.settings.errors
        docs = errors.docs
        by_class: dict[str, list[int]] = {}
        for status, name in errors.by_status.items():
            by_class.setdefault(name, []).append(status)
        classes = [
            ErrorClassDef(
                errors.client_error, "APIError", (), None, docs.get(errors.client_error, "")
            ),
            ErrorClassDef(
                errors.server_error, "APIError", (), None, docs.get(errors.server_error, "")
            ),
        ]
        for name, statuses in by_class.items():
            if name in (errors.client_error, errors.server_error):
                continue
            base = errors.server_error if min(statuses) >= 500 else errors.client_error
            classes.append(
                ErrorClassDef(name, base, tuple(sorted(statuses)), None, docs.get(name, ""))
            )
        codes = {c.name: c.status for s in schemas if isinstance(s, CodeSetDef) for c in s.codes}
        for code, name in errors.by_code.items():
            if code not in codes:
                raise SpecError(f"gen.yaml errors.by_code names {code}, which no ErrorCode lists")
            base = self.error_class_for(codes[code])
            classes.append(ErrorClassDef(name, base, (codes[code],), code, docs.get(name, "")))
        return tuple(classes)

    def retry_defaults(self) -> RetryDefaults:
        config = self.spec.document.get("x-speakeasy-retries")
        if not config or config.get("strategy") != "backoff":
            raise SpecError("the spec needs a top-level x-speakeasy-retries with strategy backoff")
        backoff = config.get("backoff", {})
        try:
            return RetryDefaults(
                initial_interval=int(backoff["initialInterval"]),
                max_interval=int(backoff["maxInterval"]),
                exponent=float(backoff["exponent"]),
                max_elapsed_time=int(backoff["maxElapsedTime"]),
                retry_connection_errors=bool(config.get("retryConnectionErrors", True)),
                jitter=self.settings.defaults.retry_jitter,
                max_unreachable_time=self.settings.defaults.retry_max_unreachable_time,
            )
        except KeyError as exc:
            raise SpecError(f"x-speakeasy-retries.backoff lacks {exc.args[0]}") from exc

    def build(self) -> SdkDef:
        info = self.spec.document.get("info", {})
        servers = self.spec.document.get("servers") or []
        if not servers:
            raise SpecError("the spec needs a server URL")
        schemas = self.build_schemas()
        client = self.settings.client
        package = self.settings.package
        return SdkDef(
            package_name=package.name,
            module=package.module,
            version=package.version,
            title=info.get("title", ""),
            api_version=str(info.get("version", "")),
            description=str(info.get("description", "")).strip(),
            client_class=client.class_name,
            server_url=servers[0]["url"].rstrip("/"),
            api_key_env=client.api_key_env,
            server_url_env=client.server_url_env,
            default_params=client.default_params,
            user_agent=client.user_agent.format(version=package.version),
            timeout_ms=self.settings.defaults.timeout_ms,
            retries=self.retry_defaults(),
            typed_dict_suffix=self.suffix,
            resources=self.build_resources(),
            schemas=schemas,
            error_classes=self.build_error_classes(schemas),
        )


def build_sdk(spec: Spec, settings: Settings) -> SdkDef:
    return Builder(spec, settings).build()
