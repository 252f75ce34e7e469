"""From a call's arguments to the parts of its HTTP request, every input checked first.

Nothing is sent unless every parameter, the body and the options are valid; all problems are
reported together, each at its location (`limit`, `body.edits.0.action`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
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
    url: httpx.URL
    """The server URL, the path with its parameters percent-encoded, and the query.

    Built once for every attempt: parsing a URL is a good part of httpx's cost per request.
    """
    headers: dict[str, str]
    """Every header but `Authorization`, which is resolved for each attempt."""
    content: bytes | None
    idempotency_key: str | None
    timeout_seconds: float | None
    """Each attempt's timeout, before the deadline clips it; None when neither the call nor
    the SDK client set `timeout_ms`, so that the httpx client's own timeout applies."""
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
        headers.get(operation.idempotency_header.lower()) if operation.idempotency_header else None
    )
    return PreparedCall(
        operation=operation,
        url=_url(settings.server_url + _expand_path(operation.path, path_values), query),
        headers=headers,
        content=content,
        idempotency_key=idempotency_key,
        timeout_seconds=_timeout_seconds(call_options.timeout_ms or settings.timeout_ms),
        retry_config=call_options.retries or settings.retry_config,
    )


@lru_cache(maxsize=1024)
def _url(url: str, query: tuple[tuple[str, str], ...]) -> httpx.URL:
    """The parsed URL, parsed once for calls to the same URL: parsing and checking one costs
    12-30 us, a tenth of a whole call on loopback. An `httpx.URL` is immutable."""
    return httpx.URL(url, params=query or None)


def _timeout_seconds(timeout_ms: int | None) -> float | None:
    return None if timeout_ms is None else timeout_ms / 1000


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
        validated = adapter.validate_python(value)
        # A str is already its wire form; anything else (int, enum, list) is dumped as JSON.
        plain = validated if type(validated) is str else adapter.dump_python(validated, mode="json")
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
    literals, names = _path_parts(template)
    parts = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        parts += (quote(values[name], safe=""), literal)
    return "".join(parts)


@lru_cache(maxsize=256)
def _path_parts(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`/{org}/repos` -> (("/", "/repos"), ("org",)): literals around each placeholder."""
    pieces = _PLACEHOLDER.split(template)
    return tuple(pieces[0::2]), tuple(pieces[1::2])


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
) -> dict[str, str]:
    # Later sources win: SDK headers, client headers, this call's parameters and options.
    # Names are lower-cased so that a later source replaces an earlier one whatever its case;
    # a plain dict, as building httpx.Headers twice per request is a measurable cost.
    headers = {"user-agent": settings.user_agent, "accept": accept}
    if content is not None:
        headers["content-type"] = JSON
    _merge(headers, settings.headers)
    _merge(headers, header_params)
    idempotency_header = operation.idempotency_header
    if idempotency_header is not None and options.idempotency_key is not None:
        headers[idempotency_header.lower()] = options.idempotency_key
    if options.headers:
        _merge(headers, options.headers)
    if idempotency_header is not None and idempotency_header.lower() not in headers:
        # Imported here: only calls that may be retried safely need a key.
        from uuid import uuid4

        # One key per logical call, sent unchanged on every attempt.
        headers[idempotency_header.lower()] = uuid4().hex
    return headers


def _merge(headers: dict[str, str], more: Mapping[str, str]) -> None:
    for name, value in more.items():
        headers[name.lower()] = value
