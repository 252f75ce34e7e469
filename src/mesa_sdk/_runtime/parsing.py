"""From a 2xx response to the operation's result: its body validated into the declared type.

Imported by the first call that parses, with pydantic, so that building a client stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from pydantic import ValidationError

from mesa_sdk._runtime.errors import ResponseValidationError
from mesa_sdk._runtime.models import ResponseModel, set_request_id
from mesa_sdk._runtime.type_adapters import type_adapter

if TYPE_CHECKING:
    import httpx

    from mesa_sdk._runtime.request_builder import PreparedCall

# Errors in a ResponseValidationError message; the rest are on `.cause`.
_ERRORS_IN_MESSAGE = 3


def parse_response(call: PreparedCall, response: httpx.Response) -> Any:
    """The body as the operation's `response_type`: None when it has none, or when an empty
    body answers an operation that may answer without one. A body that does not match raises
    `ResponseValidationError`."""
    response_type = call.operation.response_type
    content = response.content
    if response_type is None or (not content and _allows_none(response_type)):
        return None
    try:
        parsed = type_adapter(response_type).validate_json(content)
    except ValidationError as error:
        raise _validation_error(call, response, response_type, error) from error
    if isinstance(parsed, ResponseModel):
        set_request_id(parsed, response.headers.get("x-request-id"))
    return parsed


def _allows_none(response_type: Any) -> bool:
    """Whether `Pet | None` (an operation answering 200 with a body or 204 without one)."""
    return type(None) in get_args(response_type)


def _validation_error(
    call: PreparedCall, response: httpx.Response, response_type: Any, error: ValidationError
) -> ResponseValidationError:
    details = error.errors(include_url=False, include_input=False)
    shown = "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or '(body)'}: {detail['msg']}"
        for detail in details[:_ERRORS_IN_MESSAGE]
    )
    more = (
        f"; and {len(details) - _ERRORS_IN_MESSAGE} more"
        if len(details) > _ERRORS_IN_MESSAGE
        else ""
    )
    request_id = response.headers.get("x-request-id")
    type_name = getattr(response_type, "__name__", None) or repr(response_type)
    return ResponseValidationError(
        f"{call.operation.method_name}: the {response.status_code} response does not match "
        f"{type_name}: {shown}{more}" + (f" (request id {request_id})" if request_id else ""),
        cause=error,
        status_code=response.status_code,
        body=response.text,
        request_id=request_id,
        response=response,
    )
