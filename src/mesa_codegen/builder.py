"""Builds the intermediate model (ir.SdkDef) from the spec and the settings."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from mesa_sdk._runtime.bodies import body_kind

from .ir import (
    BodyDef,
    CodeSetDef,
    ErrorClassDef,
    ErrorResponseDef,
    MediaMethodDef,
    OperationDef,
    PaginationDef,
    ParamDef,
    PyType,
    ResourceDef,
    RetryDefaults,
    Samples,
    SchemaDef,
    SdkDef,
    Security,
    SecuritySchemeDef,
)
from .names import class_name, python_identifier, snake_case, unique
from .problems import Problems, SpecError, location
from .schemas import NONE, SchemaTypes, join
from .settings import MediaMethod, Settings
from .spec import Spec

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")
JSON = "application/json"
# Which body media type an operation offering several is called with: the first listed of
# the most preferred encoding.
BODY_PREFERENCE = ("json", "multipart", "form", "raw")
# Each parameter location's default style (OpenAPI's); the runtime assumes the same.
DEFAULT_STYLES = {"path": "simple", "header": "simple", "query": "form", "cookie": "form"}
STYLES_BY_LOCATION = {
    "path": {"simple", "label", "matrix"},
    "header": {"simple"},
    "query": {"form", "spaceDelimited", "pipeDelimited", "deepObject"},
    "cookie": {"form"},
}
# Arguments every method has: a parameter named so is renamed (`body_`).
RESERVED_ARGUMENTS = frozenset({"self", "body", "request_options"})
# Attributes of every client: a resource may not be named like one.
CLIENT_ATTRIBUTES = frozenset({"close", "aclose", "hooks", "server_url"})
# Speakeasy's default backoff, for a spec without `x-speakeasy-retries`.
DEFAULT_BACKOFF = {
    "initialInterval": 500,
    "maxInterval": 60000,
    "exponent": 1.5,
    "maxElapsedTime": 3600000,
}


def is_json(media_type: str) -> bool:
    """`application/json`, `application/problem+json`, `application/json; charset=utf-8`..."""
    return body_kind(media_type) == "json"


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def fits_type(value: Any, kind: Any) -> bool:
    """Whether a spec's example or default is of the schema's `type` (any, when unset)."""
    if not isinstance(kind, str) or kind not in _JSON_TYPES:
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _JSON_TYPES[kind])


# What a string of these formats must parse as; a default that does not would fail at runtime.
_FORMAT_PARSERS: dict[str, Any] = {
    "uuid": uuid.UUID,
    "date": date.fromisoformat,
    "date-time": lambda text: datetime.fromisoformat(text.replace("Z", "+00:00")),
}


def fits_format(value: Any, schema: dict[str, Any]) -> bool:
    """Whether a string default parses as the schema's `format` (`uuid`, `date`, `date-time`).

    A default of another type is left to `fits_type` where it matters (docs' examples)."""
    parse = _FORMAT_PARSERS.get(str(schema.get("format")))
    if parse is None or not isinstance(value, str):
        return True
    try:
        parse(value)
    except ValueError:
        return False
    return True


# A response key: a status code, a range such as `4XX`, or `default`.
_RESPONSE_KEY = re.compile(r"[1-5](\d\d|XX)|default", re.IGNORECASE)


class Unsupported(SpecError):
    """Valid OpenAPI that the runtime cannot send or read yet; `--skip-unsupported` omits it."""


class Builder:
    """Walks the spec once; each method turns one kind of node into IR."""

    def __init__(self, spec: Spec, settings: Settings, *, skip_unsupported: bool = False) -> None:
        self.spec = spec
        self.settings = settings
        self.suffix = settings.models.typed_dict_suffix
        self.problems = Problems()
        self.skipped: list[str] = []
        self.skip_unsupported = skip_unsupported
        self.types = SchemaTypes(spec, self.suffix, self.problems)
        self.schemas = self.types.raw
        self.security_schemes, self.unsupported_schemes = self.build_security_schemes()
        self.default_security = self.usable_security(
            self.spec.document.get("security") or [], "security", strict=False
        )

    def type_of(self, schema: Any, *, strict: bool, hint: str, where: str, **kw: Any) -> PyType:
        return self.types.type_of(schema, strict=strict, hint=hint, where=where, **kw)

    @staticmethod
    def is_code_set(schema: Any) -> bool:
        return (
            isinstance(schema, dict)
            and "oneOf" in schema
            and all(
                isinstance(m, dict) and "x-status" in m and "const" in m for m in schema["oneOf"]
            )
        )

    # -- operations --------------------------------------------------------------------------

    def build_resources(self, schema_names: set[str]) -> tuple[ResourceDef, ...]:
        document = self.spec.document
        tags = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
        by_group: dict[str, list[OperationDef]] = {}
        operation_ids: set[str] = set()
        for path, raw_item in (document.get("paths") or {}).items():
            item = self.spec.resolve(raw_item)
            shared = item.get("parameters", [])
            for http_method in HTTP_METHODS:
                if http_method not in item:
                    continue
                where = location("paths", path, http_method)
                try:
                    op = self.build_operation(
                        path, http_method, item[http_method], shared, operation_ids
                    )
                except Unsupported as exc:
                    if not self.skip_unsupported:
                        for line in exc.problems:
                            self.problems.add(where, line)
                    else:
                        self.skipped.extend(f"{where}: {line}" for line in exc.problems)
                    continue
                except SpecError as exc:
                    for line in exc.problems:
                        self.problems.add(where, line)
                    continue
                by_group.setdefault(op.resource, []).append(op)
        resources = []
        taken = set(CLIENT_ATTRIBUTES)
        classes = set(schema_names)
        tag_order = list(tags)
        for group in sorted(
            by_group, key=lambda g: (tag_order.index(g) if g in tag_order else len(tag_order), g)
        ):
            operations = self.unique_methods(by_group[group])
            # A resource class named like a model (`Content`) would shadow it in its module.
            resource_class = class_name(group)
            if resource_class in classes:
                resource_class += "Resource"
            resource_class = unique(resource_class, classes, fold_case=True)
            name = unique(python_identifier(snake_case(group)), taken)
            resources.append(
                ResourceDef(
                    name=name,
                    class_name=resource_class,
                    module=name,
                    description=str(tags.get(group, "")).strip(),
                    operations=operations,
                )
            )
        return tuple(resources)

    @staticmethod
    def unique_methods(operations: list[OperationDef]) -> tuple[OperationDef, ...]:
        """Two operations of one resource with one method name: the later one gets a number."""
        from dataclasses import replace

        taken: set[str] = set()
        result = []
        for op in operations:
            name = unique(op.method_name, taken)
            result.append(op if name == op.method_name else replace(op, method_name=name))
        return tuple(result)

    def derived_operation_id(self, path: str, http_method: str) -> str:
        """`GET /pets/{id}` -> `get_pets_id`: for an operation without an operationId."""
        words = [w for w in re.split(r"[^0-9A-Za-z]+", path) if w]
        return snake_case("_".join([http_method, *words]))

    @staticmethod
    def derived_group(path: str) -> str:
        """The first literal segment of the path (`/pets/{id}` -> `pets`), else `default`."""
        for segment in path.strip("/").split("/"):
            if segment and not segment.startswith("{"):
                return segment
        return "default"

    def build_operation(
        self,
        path: str,
        http_method: str,
        node: dict[str, Any],
        shared: list[Any],
        operation_ids: set[str],
    ) -> OperationDef:
        where = location("paths", path, http_method)
        operation_id = str(node.get("operationId") or self.derived_operation_id(path, http_method))
        operation_id = unique(operation_id, operation_ids)
        group = str(
            node.get("x-speakeasy-group")
            or (node.get("tags") or [None])[0]
            or self.derived_group(path)
        )
        method_name = python_identifier(
            snake_case(str(node.get("x-speakeasy-name-override") or operation_id))
        )
        hint = class_name(operation_id)

        params: list[ParamDef] = []
        idempotency_header = None
        idempotency_key_type = None
        by_key: dict[tuple[str, str], tuple[Any, str | None, str]] = {}
        for index, raw in enumerate([*shared, *node.get("parameters", [])]):
            param = self.spec.resolve(raw)
            by_key[(param["in"], param["name"])] = (
                param,
                self.component_name(raw),
                f"parameters.{index}",
            )
        problems: list[str] = []
        names: set[str] = set()
        for (param_in, wire_name), (param, component, param_where) in by_key.items():
            if param_in == "header" and wire_name.lower() == "idempotency-key":
                idempotency_header = wire_name
                idempotency_key_type = self.type_of(
                    # A header's value is text: a key described by no schema is any str.
                    param.get("schema") or {"type": "string"},
                    strict=True,
                    constraints=True,
                    hint=hint + class_name(wire_name),
                    where=param_where,
                )
                continue
            try:
                params.append(self.build_param(param, component, hint, names, param_where))
            except SpecError as exc:
                problems += exc.problems
        if problems:
            raise Unsupported(problems)
        for status in node.get("responses") or {}:
            if not _RESPONSE_KEY.fullmatch(str(status)):
                raise SpecError(
                    f"responses.{status}: not a status code, a range such as 4XX, or default"
                )

        body = self.request_body(node, hint, where)
        success = self.success_response(node, hint, where)
        media_methods = []
        for media_type in success.media:
            if is_json(media_type):
                continue
            setting = self.media_method(media_type)
            media_methods.append(
                MediaMethodDef(
                    name=f"{method_name}_{setting.suffix}",
                    media_type=media_type,
                    returns=setting.returns,
                    stream_name=f"{method_name}_stream" if setting.stream else None,
                )
            )
        ordered_params = tuple(self.ordered(params))
        return OperationDef(
            operation_id=operation_id,
            resource=group,
            method_name=method_name,
            http_method=http_method.upper(),
            path=path,
            summary=str(node.get("summary", "")).strip(),
            description=str(node.get("description", "")).strip(),
            params=ordered_params,
            idempotency_header=idempotency_header,
            idempotency_key_type=idempotency_key_type,
            body=body,
            success_status=success.status,
            response_model=success.type.code if success.type else None,
            response_description=success.description,
            media_methods=tuple(media_methods),
            pagination=self.pagination(node, params, success.component, where),
            scopes=self.scopes(node),
            security=self.security(node),
            retry_status_codes=self.retry_status_codes(node),
            retry_error_codes=self.retry_error_codes(node),
            errors=self.error_responses(node),
            example_args=self.example_args(ordered_params, body),
            response_models=success.type.models if success.type else frozenset(),
            response_symbols=success.type.symbols if success.type else frozenset(),
            deprecated=bool(node.get("deprecated")),
            returns_headers=http_method == "head" and success.headers,
        )

    def media_method(self, media_type: str) -> MediaMethod:
        """gen.yaml's setting for a non-JSON media type, else one derived from the type."""
        configured = self.settings.media_methods.get(media_type)
        if configured is not None:
            return configured
        if media_type.startswith("text/"):
            return MediaMethod(suffix="text", returns="text")
        return MediaMethod(suffix="raw", returns="bytes", stream=True)

    def request_body(self, node: dict[str, Any], hint: str, where: str) -> BodyDef | None:
        if "requestBody" not in node:
            return None
        request_body = self.spec.resolve(node["requestBody"])
        content = request_body.get("content") or {}
        if not content:
            raise SpecError(f"{where}: requestBody.content: no media type")
        media_type = min(content, key=lambda m: BODY_PREFERENCE.index(body_kind(m)))
        kind = body_kind(media_type)
        schema = content[media_type].get("schema", {})
        required = bool(request_body.get("required", False))
        if kind == "raw":
            return BodyDef(
                model="RawBody",
                required=required,
                twin="RawBody",
                media_type=media_type,
                validator="bytes",
                example="..." if media_type.startswith("text/") else b"...",
            )
        body_where = location(where, "requestBody.content", media_type, "schema")
        body_type = self.type_of(schema, strict=True, hint=hint + "Request", where=body_where)
        twin = self.type_of(
            schema, strict=True, hint=hint + "Request", where=body_where, typed_dict=True
        )
        return BodyDef(
            model=body_type.code,
            required=required,
            twin=twin.code,
            models=body_type.models | twin.models,
            symbols=body_type.symbols | twin.symbols,
            example=self.example_of(schema),
            media_type=media_type,
            validator=body_type.code,
        )

    def example_args(
        self, params: tuple[ParamDef, ...], body: BodyDef | None
    ) -> tuple[tuple[str, Any], ...]:
        args: list[tuple[str, Any]] = [
            (p.name, p.example) for p in params if p.required or p.client_default
        ]
        if body is not None:
            args.append(("body", body.example))
        return tuple(args)

    def example_of(self, schema: Any, depth: int = 0) -> Any:
        """An example value: the spec's own, else one built from required fields and types."""
        schema = self.types.merged(schema, "") if depth < 8 else {}
        schema, _ = self.types.split_null(schema)
        for key in ("example", "default", "const"):
            # A value of another type than the schema's (`type: string, default: 1`) would
            # make an example call that fails validation.
            if key in schema and fits_type(schema[key], schema.get("type")):
                return schema[key]
        if schema.get("enum"):
            return schema["enum"][0]
        members = schema.get("oneOf") or schema.get("anyOf")
        if members:
            return self.example_of(members[0], depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = kind[0]
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            return {
                name: self.example_of(properties[name], depth + 1)
                for name in schema.get("required", [])
                if name in properties
            }
        if kind == "array":
            return [self.example_of(schema.get("items", {}), depth + 1)]
        if kind == "string" and schema.get("format") in ("date-time", "date", "uuid"):
            return {
                "date-time": "2024-01-01T00:00:00Z",
                "date": "2024-01-01",
                "uuid": "00000000-0000-0000-0000-000000000000",
            }[schema["format"]]
        return {"integer": schema.get("minimum", 1), "number": 1.0, "boolean": True}.get(
            str(kind), "string"
        )

    @staticmethod
    def component_name(raw: Any) -> str | None:
        """`Org` for `{"$ref": "#/components/parameters/Org"}`; None for an inline parameter."""
        prefix = "#/components/parameters/"
        ref = raw.get("$ref") if isinstance(raw, dict) else None
        return ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None

    def build_param(
        self,
        param: dict[str, Any],
        component: str | None,
        hint: str,
        names: set[str],
        where: str,
    ) -> ParamDef:
        wire_name = param["name"]
        param_in = param["in"]
        where = f"{where} ({param_in} {wire_name})"
        as_json = "content" in param
        if as_json:
            # OpenAPI allows one media type here; its schema describes the value.
            media_type, media = next(iter((param["content"] or {None: {}}).items()))
            if media_type is None or not is_json(media_type):
                raise Unsupported(
                    f"{where}: a parameter's `content` must be JSON to be sent, not {media_type}"
                )
            schema = media.get("schema", {})
        else:
            schema = param.get("schema", {})
        name = python_identifier(snake_case(wire_name), RESERVED_ARGUMENTS)
        if name in names:
            name = f"{name}_{param_in}"
        name = unique(name, names)
        resolved, _ = self.types.split_null(self.types.merged(schema, where))
        style = str(param.get("style", DEFAULT_STYLES.get(param_in, "simple")))
        if style not in STYLES_BY_LOCATION.get(param_in, set()):
            raise SpecError(f"{where}: style {style} is not allowed in the {param_in}")
        explode = bool(param.get("explode", style == "form"))
        if as_json:  # one JSON text: no style applies
            style, explode = DEFAULT_STYLES[param_in], style == "form"
        required = bool(param.get("required", False))
        if param_in == "path" and not required:
            raise SpecError(f"{where}: a path parameter must be `required: true`")
        client_default = param_in == "path" and name in self.settings.client.default_params
        param_hint = hint + class_name(wire_name)
        base = self.type_of(schema, strict=True, constraints=False, hint=param_hint, where=where)
        optional = (not required) or client_default
        signature = join([base, NONE]) if optional else base
        default = resolved.get("default")
        if not fits_format(default, resolved):
            raise SpecError(f"{where}: the default {default!r} is not a {resolved['format']}")
        return ParamDef(
            name=name,
            wire_name=wire_name,
            location=param_in,
            required=required,
            description=str(param.get("description", "")).strip(),
            signature_type=signature,
            validator_type=self.type_of(
                schema, strict=True, constraints=True, hint=param_hint, where=where
            ),
            client_default=client_default,
            default_doc=None if default is None else repr(default),
            example=param["example"] if "example" in param else self.example_of(schema),
            shared_name=None if component is None else snake_case(component).upper(),
            deprecated=bool(param.get("deprecated")),
            style=None if style == DEFAULT_STYLES[param_in] else style,
            explode=None if explode == (style == "form") else explode,
            as_json=as_json,
        )

    @staticmethod
    def ordered(params: list[ParamDef]) -> list[ParamDef]:
        """Path parameters in path order first, then required, then optional ones."""
        return sorted(params, key=lambda p: (p.location != "path", not p.required))

    def success_response(self, node: dict[str, Any], hint: str, where: str) -> _Success:
        responses = node.get("responses") or {}
        successes = [s for s in responses if str(s).upper().startswith("2")]
        if not successes and "default" in responses:
            successes = ["default"]
        types: list[PyType] = []
        media: list[str] = []
        descriptions: list[str] = []
        empty: list[str] = []
        component: str | None = None
        headers = False
        for status in successes:
            response = self.spec.resolve(responses[status])
            headers = headers or bool(response.get("headers"))
            content = response.get("content") or {}
            descriptions.append(str(response.get("description", "")).strip())
            json_types = [m for m in content if is_json(m)]
            media += [m for m in content if m not in media]
            if not json_types:
                empty.append(str(status))
                continue
            schema = content[json_types[0]].get("schema", {})
            role = "Response" if len(successes) == 1 else f"Response{status}"
            types.append(
                self.type_of(
                    schema,
                    strict=False,
                    hint=hint + role,
                    where=location(where, "responses", status, "content", json_types[0], "schema"),
                )
            )
            component = component or Spec.ref_name(schema)
        if types and empty:
            # The runtime answers None for an empty body when the type allows it.
            types.append(NONE)
        first = str(successes[0]) if successes else "200"
        status = int(first) if first.isdigit() else 200
        return _Success(
            status=status,
            type=join(types) if types else None,
            description=" / ".join(d for d in descriptions if d),
            media=media,
            component=component if len(types) == 1 else None,
            headers=headers,
        )

    def pagination(
        self,
        node: dict[str, Any],
        params: list[ParamDef],
        response_component: str | None,
        where: str,
    ) -> PaginationDef | None:
        config = node.get("x-speakeasy-pagination")
        if not config:
            return None
        where = location(where, "x-speakeasy-pagination")
        if config.get("type") != "cursor":
            raise SpecError(f"{where}: only cursor pagination is supported")
        cursor_inputs = [i for i in config.get("inputs", []) if i.get("type") == "cursor"]
        if len(cursor_inputs) != 1 or cursor_inputs[0].get("in") != "parameters":
            raise SpecError(f"{where}: pagination needs one cursor parameter")
        cursor_param = python_identifier(snake_case(cursor_inputs[0]["name"]))
        if cursor_param not in {p.name for p in params}:
            raise SpecError(f"{where}: pagination cursor {cursor_param} is no parameter")
        outputs = config.get("outputs", {})

        def field_of(path: str, what: str) -> str:
            match = re.fullmatch(r"\$\.([A-Za-z_][A-Za-z0-9_]*)", str(path))
            if not match:
                raise SpecError(f"{where}: pagination {what} must be `$.field`")
            return match.group(1)

        next_cursor = field_of(outputs.get("nextCursor", ""), "nextCursor")
        items = field_of(outputs.get("results", ""), "results")
        if response_component is None:
            raise SpecError(f"{where}: a paginated operation needs a named JSON response")
        properties = self.types.merged(self.schemas[response_component], where).get(
            "properties", {}
        )
        for name in (next_cursor, items):
            if name not in properties:
                raise SpecError(f"{where}: {response_component} has no field {name}")
        item_ref = Spec.ref_name(self.spec.resolve(properties[items]).get("items"))
        if item_ref is None:
            raise SpecError(f"{where}: paginated items must be a named schema")
        item_type = self.types.components[item_ref].name
        return PaginationDef(cursor_param, next_cursor, items, item_type)

    def build_security_schemes(self) -> tuple[dict[str, SecuritySchemeDef], dict[str, str]]:
        """The schemes the runtime sends, by name, and why each other one is not served."""
        raw = (self.spec.document.get("components") or {}).get("securitySchemes") or {}
        served: dict[str, SecuritySchemeDef] = {}
        unsupported: dict[str, str] = {}
        for name, node in raw.items():
            scheme = self.spec.resolve(node)
            kind = scheme.get("type")
            http_scheme = str(scheme.get("scheme", "")).lower()
            if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
                served[name] = SecuritySchemeDef(
                    name, "api_key", str(scheme["in"]), str(scheme.get("name", ""))
                )
            elif kind == "http" and http_scheme in ("bearer", "basic"):
                served[name] = SecuritySchemeDef(name, http_scheme)
            elif kind in ("oauth2", "openIdConnect"):
                # Their access token goes in `Authorization: Bearer`.
                served[name] = SecuritySchemeDef(name, "bearer")
            else:
                shown = f"{kind} {http_scheme}".strip() if kind == "http" else kind
                unsupported[name] = f"the security scheme {name} ({shown}) is not supported"
        return served, unsupported

    def usable_security(self, requirements: Any, where: str, *, strict: bool = True) -> Security:
        """The alternatives of a `security` list whose schemes the runtime can send.

        With `strict`, a requirement naming no declared scheme is an error, and a list whose
        every alternative needs an unsupported scheme is refused.
        """
        alternatives: list[tuple[str, ...]] = []
        reasons: list[str] = []
        for index, requirement in enumerate(requirements):
            names = tuple(requirement)
            for name in names:
                if strict and name not in self.security_schemes | self.unsupported_schemes:
                    raise SpecError(f"{where}.{index}: {name} is not in components.securitySchemes")
            why = [self.unsupported_schemes.get(name) for name in names]
            reasons += [reason for reason in why if reason]
            if all(name in self.security_schemes for name in names) and names not in alternatives:
                alternatives.append(names)
        if strict and requirements and not alternatives:
            raise Unsupported(f"{where}: " + "; ".join(dict.fromkeys(reasons)))
        return tuple(alternatives)

    def security(self, node: dict[str, Any]) -> Security | None:
        """The operation's security requirements; None when they are the spec's."""
        own = "security" in node
        requirements = node["security"] if own else self.spec.document.get("security") or []
        usable = self.usable_security(requirements, "security" if own else "(top-level) security")
        return usable if own and usable != self.default_security else None

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

    def error_class_for(self, status: str) -> str:
        errors = self.settings.errors
        if status.isdigit() and int(status) in errors.by_status:
            return errors.by_status[int(status)]
        if status.startswith("5"):
            return errors.server_error
        if status.startswith("4"):
            return errors.client_error
        return "APIError"

    def error_responses(self, node: dict[str, Any]) -> tuple[ErrorResponseDef, ...]:
        result = []
        responses = node.get("responses") or {}
        has_success = any(str(s).startswith("2") for s in responses)
        for status, raw in responses.items():
            text = str(status).upper()
            if text[0] in "45" or (text == "DEFAULT" and has_success):
                response = self.spec.resolve(raw)
                label = "any other status" if text == "DEFAULT" else text
                result.append(
                    ErrorResponseDef(
                        label,
                        self.error_class_for(text),
                        " ".join(str(response.get("description", "")).split()),
                    )
                )
        return tuple(sorted(result, key=lambda e: (not e.status[0].isdigit(), e.status)))

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
            base = self.error_class_for(str(codes[code]))
            classes.append(ErrorClassDef(name, base, (codes[code],), code, docs.get(name, "")))
        return tuple(classes)

    def retry_defaults(self) -> RetryDefaults:
        config = self.spec.document.get("x-speakeasy-retries") or {
            "strategy": "backoff",
            "backoff": DEFAULT_BACKOFF,
        }
        where = "x-speakeasy-retries"
        if config.get("strategy") != "backoff":
            raise SpecError(f"{where}.strategy: only backoff is supported")
        backoff = {**DEFAULT_BACKOFF, **config.get("backoff", {})}
        return RetryDefaults(
            initial_interval=int(backoff["initialInterval"]),
            max_interval=int(backoff["maxInterval"]),
            exponent=float(backoff["exponent"]),
            max_elapsed_time=int(backoff["maxElapsedTime"]),
            retry_connection_errors=bool(config.get("retryConnectionErrors", True)),
            jitter=self.settings.defaults.retry_jitter,
            max_unreachable_time=self.settings.defaults.retry_max_unreachable_time,
        )

    def server_url(self) -> str:
        """The first server's URL, its variables replaced by their defaults."""
        servers = self.spec.document.get("servers") or [{"url": "/"}]
        server = servers[0]
        url = str(server.get("url", "/"))
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        return url.rstrip("/")

    def build(self) -> SdkDef:
        info = self.spec.document.get("info", {})
        client = self.settings.client
        package = self.settings.package
        try:
            self.types.build_components()
        except SpecError as exc:
            for line in exc.problems:
                self.problems.add("", line)
        names = {d.name for d in self.types.defs.values()}
        resources = self.build_resources(names)
        schemas = tuple(self.types.all_defs())
        operation_ids = {op.operation_id for r in resources for op in r.operations}
        samples = self.settings.samples
        for key, listed in (("needs", samples.needs), ("args", samples.args)):
            for unknown in sorted(set(listed) - operation_ids):
                self.problems.add(f"gen.yaml: samples.{key}", f"no operation {unknown!r}")
        self.problems.raise_if_any()
        return SdkDef(
            package_name=package.name,
            module=package.module,
            version=package.version,
            title=str(info.get("title", "")),
            api_version=str(info.get("version", "")),
            description=str(info.get("description", "")).strip(),
            client_class=client.class_name,
            server_url=self.server_url(),
            api_key_env=client.api_key_env,
            server_url_env=client.server_url_env,
            default_params=client.default_params,
            user_agent=client.user_agent.format(version=package.version),
            timeout_ms=self.settings.defaults.timeout_ms,
            retries=self.retry_defaults(),
            typed_dict_suffix=self.suffix,
            resources=resources,
            schemas=schemas,
            error_classes=self.build_error_classes(schemas),
            skipped=tuple(self.skipped),
            security_schemes=tuple(self.security_schemes.values()),
            security=self.default_security,
            samples=Samples(**self.settings.samples.model_dump()),
        )


class _Success:
    """What an operation's 2xx answers hold."""

    def __init__(
        self,
        *,
        status: int,
        type: PyType | None,
        description: str,
        media: list[str],
        component: str | None,
        headers: bool,
    ) -> None:
        self.status = status
        self.type = type
        self.description = description
        self.media = media
        self.component = component
        self.headers = headers
        """Whether a 2xx answer declares response headers."""


def build_sdk(spec: Spec, settings: Settings, *, skip_unsupported: bool = False) -> SdkDef:
    return Builder(spec, settings, skip_unsupported=skip_unsupported).build()
