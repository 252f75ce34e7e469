"""The intermediate model: everything the templates need, derived once from spec + settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PyType:
    """A Python annotation as code, with what it needs imported."""

    code: str
    models: frozenset[str] = frozenset()
    """Model, enum and union names from the models package that the code names."""
    symbols: frozenset[str] = frozenset()
    """Names to import from typing, datetime or pydantic (`Literal`, `datetime`, `Field`, ...)."""


@dataclass(frozen=True)
class FieldDef:
    name: str
    """The attribute name in Python: snake_case, a valid identifier, unique in its model."""
    wire_name: str
    """The property name in JSON, the field's alias when it differs from `name`."""
    dict_key: str
    """The key in the TypedDict twin: the wire name when it is already snake_case (`from`,
    `2fa`: a key need not be an identifier), else `name`."""
    type: PyType
    typed_dict_type: PyType
    required: bool
    nullable: bool
    description: str
    default_doc: str | None
    """The spec's default, for docs: the server applies it, the SDK does not send it."""
    secret: bool = False
    """`format: password`: kept out of `repr`, so printing a model never shows it."""
    default: str | None = None
    """The spec's default as code, for an optional field whose default fits its type."""
    deprecated: bool = False


@dataclass(frozen=True)
class ModelDef:
    """A pydantic model and its TypedDict twin."""

    name: str
    module: str
    description: str
    fields: tuple[FieldDef, ...]
    strict: bool
    """Sent by clients (`additionalProperties: false`): unknown fields and values are rejected."""
    deprecated: bool = False


@dataclass(frozen=True)
class EnumDef:
    """A closed set of strings, as a `Literal` alias."""

    name: str
    module: str
    description: str
    values: tuple[Any, ...]
    open_base: str = "str"
    """The type that also accepts values newer than this SDK, in what the server sends."""


@dataclass(frozen=True)
class AliasDef:
    """A name for any other type: a list, a map, a primitive, an undiscriminated union."""

    name: str
    module: str
    description: str
    type: PyType
    twin: PyType | None
    """The same with TypedDicts for models, when that differs."""


@dataclass(frozen=True)
class UnionVariant:
    tag: str
    model: str


@dataclass(frozen=True)
class UnionDef:
    """A discriminated union; values it does not know parse into `fallback`."""

    name: str
    module: str
    description: str
    discriminator: str
    variants: tuple[UnionVariant, ...]
    fallback: str
    discriminator_attr: str = ""
    """The fallback model's attribute for the discriminator (`discriminator` is its wire name)."""


@dataclass(frozen=True)
class CodeDef:
    name: str
    status: int
    description: str


@dataclass(frozen=True)
class CodeSetDef:
    """A string schema whose `oneOf` lists constants with their HTTP status (ErrorCode)."""

    name: str
    module: str
    description: str
    codes: tuple[CodeDef, ...]


SchemaDef = ModelDef | EnumDef | UnionDef | CodeSetDef | AliasDef


@dataclass(frozen=True)
class ParamDef:
    name: str
    wire_name: str
    location: str
    required: bool
    description: str
    signature_type: PyType
    """The keyword argument's annotation."""
    validator_type: PyType
    """The annotation, with the spec's constraints, that the runtime validates the value with."""
    client_default: bool
    """Filled from the client when omitted (`Mesa(org=...)`)."""
    default_doc: str | None
    example: Any
    shared_name: str | None = None
    """The module-level name of a parameter the spec shares (`components/parameters`)."""
    deprecated: bool = False
    style: str | None = None
    """OpenAPI's `style`, when not the location's default."""
    explode: bool | None = None
    """OpenAPI's `explode`, when not the style's default."""
    as_json: bool = False
    """Described by a JSON `content` instead of a `schema`: the value is sent as JSON text."""


@dataclass(frozen=True)
class BodyDef:
    model: str
    """The body's type as code: a model's name, or any other annotation."""
    required: bool
    twin: str
    """The same with TypedDicts for models, which a dict body is checked against by mypy."""
    models: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()
    example: Any = None
    media_type: str = "application/json"
    """The Content-Type it is sent with; it also picks the encoding."""
    validator: str = ""
    """What the runtime checks the body against: the model, or `bytes` for a raw body."""

    @property
    def raw(self) -> bool:
        return self.validator == "bytes"


@dataclass(frozen=True)
class MediaMethodDef:
    name: str
    media_type: str
    returns: str
    """`bytes` or `text`."""
    stream_name: str | None


@dataclass(frozen=True)
class PaginationDef:
    cursor_param: str
    next_cursor_field: str
    items_field: str
    item_type: str


@dataclass(frozen=True)
class ErrorResponseDef:
    status: str
    """`404`, `4XX`, or `any other status` for `default`."""
    error_class: str
    description: str


@dataclass(frozen=True)
class SecuritySchemeDef:
    """A security scheme the runtime sends: `bearer`, `basic` or `api_key`."""

    name: str
    """Its name in `components.securitySchemes`."""
    kind: str
    location: str = "header"
    param_name: str = "Authorization"

    @property
    def code(self) -> str:
        """The runtime's `SecurityScheme(...)`, its defaults left out."""
        args = [] if self.kind == "bearer" else [f"kind={self.kind!r}"]
        if self.kind == "api_key":
            args += [f"location={self.location!r}", f"name={self.param_name!r}"]
        return f"SecurityScheme({', '.join(args)})"

    @property
    def sends(self) -> str:
        """How the credential goes on the wire, for the docs."""
        if self.kind == "bearer":
            return "`api_key` as `Authorization: Bearer <api_key>`"
        if self.kind == "basic":
            return (
                "`username` and `password` as `Authorization: Basic <base64 of username:password>`"
            )
        where = {"header": "header", "query": "query parameter", "cookie": "cookie"}[self.location]
        return f"`api_key` in the `{self.param_name}` {where}"


Security = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class OperationDef:
    operation_id: str
    resource: str
    method_name: str
    http_method: str
    path: str
    summary: str
    description: str
    params: tuple[ParamDef, ...]
    idempotency_header: str | None
    idempotency_key_type: PyType | None
    """The idempotency header's value type, with the spec's constraints."""
    body: BodyDef | None
    success_status: int
    response_model: str | None
    response_description: str
    media_methods: tuple[MediaMethodDef, ...]
    pagination: PaginationDef | None
    scopes: tuple[str, ...]
    retry_status_codes: tuple[int, ...]
    retry_error_codes: tuple[str, ...]
    errors: tuple[ErrorResponseDef, ...]
    example_args: tuple[tuple[str, Any], ...]
    """Arguments for the docs' example call: required parameters and an example body."""
    response_models: frozenset[str] = frozenset()
    """The models `response_model` names, to import."""
    response_symbols: frozenset[str] = frozenset()
    deprecated: bool = False
    security: Security | None = None
    """The operation's own security requirements, when they differ from the spec's."""
    returns_headers: bool = False
    """A HEAD operation whose answer declares headers: the method returns them."""

    @property
    def constant(self) -> str:
        """The name of the module-level `Operation` in the resource module."""
        return "_" + self.method_name.upper()


@dataclass(frozen=True)
class ResourceDef:
    name: str
    """The client attribute: `client.repos`."""
    class_name: str
    module: str
    description: str
    operations: tuple[OperationDef, ...]


@dataclass(frozen=True)
class ErrorClassDef:
    name: str
    base: str
    statuses: tuple[int, ...]
    code: str | None
    description: str


@dataclass(frozen=True)
class RetryDefaults:
    initial_interval: int
    max_interval: int
    exponent: float
    max_elapsed_time: int
    retry_connection_errors: bool
    jitter: float
    max_unreachable_time: int


@dataclass(frozen=True)
class Samples:
    """What the docs' samples need beyond the spec's examples (gen.yaml's `samples`)."""

    needs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    args: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SdkDef:
    package_name: str
    module: str
    version: str
    title: str
    api_version: str
    description: str
    client_class: str
    server_url: str
    api_key_env: str | None
    """None when the API takes no credentials."""
    server_url_env: str
    default_params: dict[str, str]
    """Path parameter name -> the environment variable read when the client is not given it."""
    user_agent: str
    timeout_ms: int
    retries: RetryDefaults
    typed_dict_suffix: str
    resources: tuple[ResourceDef, ...]
    schemas: tuple[SchemaDef, ...]
    error_classes: tuple[ErrorClassDef, ...]
    scope_docs: dict[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    """Operations left out with `--skip-unsupported`, each with its reason."""
    security_schemes: tuple[SecuritySchemeDef, ...] = ()
    security: Security = ()
    """The spec's top-level security requirements."""
    samples: Samples = field(default_factory=Samples)

    @property
    def takes_basic(self) -> bool:
        """Whether the client takes a username and password (an HTTP basic scheme)."""
        return any(scheme.kind == "basic" for scheme in self.security_schemes)

    @property
    def models(self) -> tuple[ModelDef, ...]:
        return tuple(s for s in self.schemas if isinstance(s, ModelDef))
