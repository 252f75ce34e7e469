"""Static descriptions of API operations.

Generated resource methods describe each operation once, as a module-level `Operation`, and hand
it to the runtime together with the call's arguments. Everything the runtime needs to send the
request and read the answer is here, so no runtime logic lives in generated code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal

from typing_extensions import TypeVar

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]
ParamLocation = Literal["path", "query", "header", "cookie"]
ParamStyle = Literal[
    "simple", "label", "matrix", "form", "spaceDelimited", "pipeDelimited", "deepObject"
]
ResultT = TypeVar("ResultT", default=Any)
Security = tuple[tuple[str, ...], ...]
"""OpenAPI's `security`: alternatives, each the names of the schemes sent together; `()` for
no credentials, and an empty alternative for credentials that are optional."""
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Param:
    """One path, query, header or cookie parameter of an operation."""

    name: str
    """The keyword argument's name in Python."""
    wire_name: str
    """The parameter's name on the wire (`Idempotency-Key`, `cursor`, ...)."""
    location: ParamLocation
    annotation: Any
    """The type the argument is validated against, with the spec's constraints."""
    required: bool
    style: ParamStyle | None = None
    """How an array or object is written (OpenAPI's `style`); None for the location's default:
    `form` in the query and cookies, `simple` in the path and headers."""
    explode: bool | None = None
    """OpenAPI's `explode`; None for the style's default (true for `form` only)."""
    as_json: bool = False
    """Described by `content: {application/json: ...}`: the value is sent as one JSON text."""
    server_default: Any = None
    """What the server uses when the argument is omitted (the spec's `default`); never sent."""


@dataclass(frozen=True, slots=True)
class Pagination:
    """How a list operation pages: which argument takes the cursor, where the answer keeps it."""

    cursor_param: str
    """The Python name of the parameter that takes the cursor."""
    next_cursor_field: str
    """The field of the result model holding the next page's cursor."""
    items_field: str
    """The field of the result model holding this page's items."""


@dataclass(frozen=True, slots=True)
class Operation(Generic[ResultT]):
    """One API operation, as the spec describes it.

    `ResultT` is what a call returns (the parsed `response_type`), so that generated methods
    are typed through the runtime's call without a cast.
    """

    operation_id: str
    """The spec's operationId, used in hooks, logs and error messages."""
    method_name: str
    """`resource.method` as users call it, for messages."""
    http_method: HttpMethod
    path: str
    """The path template below the server URL, such as `/{org}/{repo}/branches/{branch}`."""
    params: tuple[Param, ...] = ()
    body_model: Any = None
    """The type a request body is validated against (`bytes` for a raw body), or None without
    a body."""
    body_media_type: str = JSON
    """The body's Content-Type as the spec names it; it also picks the encoding: JSON, a
    form, multipart, or raw bytes."""
    body_required: bool = True
    """False when the body may be left out: then nothing is sent."""
    response_type: Any = None
    """The type a JSON success body is parsed into, or None when it is ignored. An empty body
    is None when the type allows None (`Pet | None` for an operation answering 200 or 204)."""
    idempotency_header: str | None = None
    """The header that makes a retry safe, when the operation accepts one."""
    idempotency_key_annotation: Any = str
    """The type `request_options["idempotency_key"]` is validated against, with the spec's
    constraints on the header's value."""
    retry_status_codes: frozenset[int] = field(default_factory=frozenset)
    """Statuses that are retried, from the spec's `x-speakeasy-retries`."""
    retry_error_codes: frozenset[str] = field(default_factory=frozenset)
    """Error codes that are retried whatever their status (`x-mesa-retry-error-codes`)."""
    pagination: Pagination | None = None
    security: Security | None = None
    """The operation's own security requirements; None for the API's (`SdkDefaults.security`)."""
    scopes: tuple[str, ...] = ()
    """The OAuth scopes the operation needs; a 403 answer's message names them."""
    param_names: frozenset[str] = field(init=False, repr=False, compare=False)
    """The Python names of `params`: the arguments a call may pass (worked out once, not on
    every call)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_names", frozenset(param.name for param in self.params))
