"""Static descriptions of API operations.

Generated resource methods describe each operation once, as a module-level `Operation`, and hand
it to the runtime together with the call's arguments. Everything the runtime needs to send the
request and read the answer is here, so no runtime logic lives in generated code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
ParamLocation = Literal["path", "query", "header"]


@dataclass(frozen=True, slots=True)
class Param:
    """One path, query or header parameter of an operation."""

    name: str
    """The keyword argument's name in Python."""
    wire_name: str
    """The parameter's name on the wire (`Idempotency-Key`, `cursor`, ...)."""
    location: ParamLocation
    annotation: Any
    """The type the argument is validated against, with the spec's constraints."""
    required: bool
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
class Operation:
    """One API operation, as the spec describes it."""

    operation_id: str
    """The spec's operationId, used in hooks, logs and error messages."""
    method_name: str
    """`resource.method` as users call it, for messages."""
    http_method: HttpMethod
    path: str
    """The path template below the server URL, such as `/{org}/{repo}/branches/{branch}`."""
    params: tuple[Param, ...] = ()
    body_model: Any = None
    """The pydantic model a request body is validated against, or None without a body."""
    response_type: Any = None
    """The type a JSON success body is parsed into, or None when it is ignored."""
    idempotency_header: str | None = None
    """The header that makes a retry safe, when the operation accepts one."""
    retry_status_codes: frozenset[int] = field(default_factory=frozenset)
    """Statuses that are retried, from the spec's `x-speakeasy-retries`."""
    retry_error_codes: frozenset[str] = field(default_factory=frozenset)
    """Error codes that are retried whatever their status (`x-mesa-retry-error-codes`)."""
    pagination: Pagination | None = None
    scopes: tuple[str, ...] = ()
