"""From a call's arguments to the parts of its HTTP request, every input checked first.

Nothing is sent unless every parameter, the body and the options are valid; all problems are
reported together, each at its location (`limit`, `body.edits.0.action`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from mesa_sdk._runtime.config import CallOptions, RetryConfig, parse_request_options
from mesa_sdk._runtime.errors import FieldError, InvalidOptionsError, InvalidRequestError
from mesa_sdk._runtime.type_adapters import type_adapter

if TYPE_CHECKING:
    from pydantic import ValidationError

    from mesa_sdk._runtime.operation import Operation, Param
    from mesa_sdk._runtime.settings import ClientSettings

JSON = "application/json"
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Segments that servers and proxies resolve away, turning `/repos/..` into another endpoint.
_DOT_SEGMENTS = frozenset({"", ".", ".."})


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """A call ready to be sent, as many times as its retries need."""

    operation: Operation
    url: str
    """The server URL and the path, parameters percent-encoded; no query."""
    query: tuple[tuple[str, str], ...]
    headers: httpx.Headers
    """Every header but `Authorization`, which is resolved for each attempt."""
    content: bytes | None
    idempotency_key: str | None
    timeout_seconds: float
    """Each attempt's timeout, before the deadline clips it."""
    retry_config: RetryConfig


def prepare_call(
    settings: ClientSettings,
    operation: Operation,
    args: Mapping[str, object],
    body: object,
    options: object,
    *,
    accept: str = JSON,
) -> PreparedCall:
    """Checks a call's inputs and builds its request parts, or raises without sending anything.

    Raises `InvalidOptionsError` for malformed `request_options` and `InvalidRequestError`
    for invalid arguments or body.
    """
    call_options = parse_request_options(options)
    if call_options.idempotency_key is not None and operation.idempotency_header is None:
        raise InvalidOptionsError(
            f"request_options.idempotency_key: {operation.method_name} takes no idempotency key"
        )
    errors: list[FieldError] = []
    wire_values = _wire_values(settings, operation, args, errors)
    content = _encode_body(operation, body, errors)
    if errors:
        raise InvalidRequestError(operation.method_name, errors)

    path_values = {
        param.wire_name: value
        for param, value in wire_values
        if param.location == "path" and isinstance(value, str)
    }
    query = tuple(
        (param.wire_name, item)
        for param, value in wire_values
        if param.location == "query"
        for item in ([value] if isinstance(value, str) else value)
    )
    header_params = {
        param.wire_name: value
        for param, value in wire_values
        if param.location == "header" and isinstance(value, str)
    }
    headers = _headers(settings, operation, call_options, header_params, accept, content)
    idempotency_key = (
        headers.get(operation.idempotency_header) if operation.idempotency_header else None
    )
    return PreparedCall(
        operation=operation,
        url=settings.server_url + _expand_path(operation.path, path_values),
        query=query,
        headers=headers,
        content=content,
        idempotency_key=idempotency_key,
        timeout_seconds=(call_options.timeout_ms or settings.timeout_ms) / 1000,
        retry_config=call_options.retries or settings.retry_config,
    )


def _wire_values(
    settings: ClientSettings,
    operation: Operation,
    args: Mapping[str, object],
    errors: list[FieldError],
) -> list[tuple[Param, str | list[str]]]:
    """Each given parameter, validated against its annotation, as text for the wire."""
    known = {param.name for param in operation.params}
    errors.extend(FieldError(name, "unexpected argument") for name in args if name not in known)
    values: list[tuple[Param, str | list[str]]] = []
    for param in operation.params:
        value = args.get(param.name)
        if value is None:
            value = settings.param_defaults.get(param.name)
        if value is None:
            if param.required:
                errors.append(FieldError("", _missing_message(settings, param)))
            continue
        text = _validated_text(param, value, errors)
        if text is not None:
            values.append((param, text))
    return values


def _missing_message(settings: ClientSettings, param: Param) -> str:
    if param.name in settings.param_defaults:
        return (
            f"{param.name} is required: pass {param.name}=... "
            f"or set {settings.client_name}({param.name}=...)"
        )
    return f"{param.name} is required"


def _validated_text(
    param: Param, value: object, errors: list[FieldError]
) -> str | list[str] | None:
    from pydantic import ValidationError

    adapter = type_adapter(param.annotation)
    try:
        plain = adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError as error:
        errors.extend(_field_errors(param.name, error))
        return None
    if isinstance(plain, list) and param.location == "query":
        return [_text(item) for item in plain]
    if isinstance(plain, (list, dict)):
        errors.append(FieldError(param.name, "expected a single value"))
        return None
    text = _text(plain)
    if param.location == "path" and text in _DOT_SEGMENTS:
        errors.append(
            FieldError(param.name, f"{text!r} cannot be sent as a path segment (it names no item)")
        )
        return None
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _expand_path(template: str, values: Mapping[str, str]) -> str:
    # quote(safe="") encodes `/` too, so a value is always exactly one path segment.
    return _PLACEHOLDER.sub(lambda match: quote(values[match.group(1)], safe=""), template)


def _encode_body(operation: Operation, body: object, errors: list[FieldError]) -> bytes | None:
    model = operation.body_model
    if model is None:
        if body is not None:
            errors.append(FieldError("body", f"{operation.method_name} takes no body"))
        return None
    if body is None:
        errors.append(FieldError("body", "is required"))
        return None
    from pydantic import BaseModel, ValidationError

    adapter = type_adapter(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        if isinstance(body, BaseModel) and not isinstance(body, model):
            errors.append(
                FieldError(
                    "body", f"expected {model.__name__} or a dict, got {type(body).__name__}"
                )
            )
            return None
        if not isinstance(body, (BaseModel, Mapping)):
            errors.append(
                FieldError(
                    "body", f"expected {model.__name__} or a dict, got {type(body).__name__}"
                )
            )
            return None
        if isinstance(body, Mapping):
            body = dict(body)
    try:
        value = adapter.validate_python(body)
    except ValidationError as error:
        errors.extend(_field_errors("body", error))
        return None
    # exclude_unset: fields the caller did not give are left to the server's defaults.
    return adapter.dump_json(value, by_alias=True, exclude_unset=True)


def _field_errors(prefix: str, error: ValidationError) -> list[FieldError]:
    # Only pydantic's message, never the input: a body may hold file content or secrets.
    return [
        FieldError(".".join([prefix, *(str(part) for part in detail["loc"])]), detail["msg"])
        for detail in error.errors(include_url=False, include_input=False)
    ]


def _headers(
    settings: ClientSettings,
    operation: Operation,
    options: CallOptions,
    header_params: Mapping[str, str],
    accept: str,
    content: bytes | None,
) -> httpx.Headers:
    # Later sources win: SDK headers, client headers, this call's parameters and options.
    headers = httpx.Headers({"User-Agent": settings.user_agent, "Accept": accept})
    if content is not None:
        headers["Content-Type"] = JSON
    headers.update(settings.headers)
    headers.update(header_params)
    if operation.idempotency_header is not None and options.idempotency_key is not None:
        headers[operation.idempotency_header] = options.idempotency_key
    if options.headers:
        headers.update(options.headers)
    if operation.idempotency_header is not None and operation.idempotency_header not in headers:
        # Imported here: only calls that may be retried safely need a key.
        from uuid import uuid4

        # One key per logical call, sent unchanged on every attempt.
        headers[operation.idempotency_header] = uuid4().hex
    return headers
