"""From a call's arguments to the parts of its HTTP request, every input checked first.

Nothing is sent unless every parameter, the body and the options are valid; all problems are
reported together, each at its location (`limit`, `body.edits.0.action`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from mesa_sdk._runtime.bodies import body_kind, form_content, multipart_content, raw_content
from mesa_sdk._runtime.config import (
    HEADER_VALUE_RULE,
    CallOptions,
    RetryConfig,
    is_header_value,
    parse_request_options,
)
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
# The separators of arrays and objects in one value, by OpenAPI `style`.
_SEPARATORS = {"form": ",", "simple": ",", "spaceDelimited": " ", "pipeDelimited": "|"}
# Characters a cookie value may hold as they are (RFC 6265's cookie-octet, less `%`).
_COOKIE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"
_NO_RETRIES = RetryConfig(strategy="none")


@dataclass(slots=True)
class PreparedCall:
    """A call ready to be sent, as many times as its retries need. Never changed once built
    (not frozen only because a frozen dataclass costs a microsecond more to build)."""

    operation: Operation
    url: httpx.URL
    """The server URL, the path with its parameters percent-encoded, and the query.

    Built once for every attempt: parsing a URL is a good part of httpx's cost per request.
    """
    headers: dict[str, str]
    """Every header but the credentials, which are added for each attempt."""
    headers_repeat: bool
    """Whether `headers` are only the client's own (the SDK's and those the client was given),
    the same on every call of the operation: no header parameter, no per-call header and no
    idempotency key, any of which may be a secret or unique to the call."""
    content: bytes | Iterable[bytes] | AsyncIterator[bytes] | None
    """The body: bytes, or a stream for a raw body given as an iterable or a file."""
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
    for_async: bool = False,
) -> PreparedCall:
    """Checks a call's inputs and builds its request parts, or raises without sending anything.

    Raises `InvalidOptionsError` for malformed `request_options` and `InvalidRequestError`
    for invalid arguments or body.
    """
    call_options = parse_request_options(options)
    if call_options.idempotency_key is not None:
        _check_idempotency_key(operation, call_options.idempotency_key)
    errors: list[FieldError] = []
    wire_values = _wire_values(settings, operation, args, errors)
    content, content_type = _encode_body(operation, body, errors, for_async=for_async)

    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    header_params: dict[str, str] = {}
    cookies: list[str] = []
    for param, plain in wire_values:
        location = param.location
        if param.as_json:
            plain = json.dumps(plain, separators=(",", ":"))
        if location == "path":
            path_values[param.wire_name] = _path_text(param, plain)
        elif location == "query":
            query += _named_texts(param, plain)
        elif location == "header":
            text = _simple_text(plain, param.explode)
            if is_header_value(text):
                header_params[param.wire_name] = text
            else:
                # Not echoed: a header may carry a secret.
                errors.append(FieldError(param.name, f"must be {HEADER_VALUE_RULE} (a header)"))
        else:
            cookies += (cookie_pair(name, text) for name, text in _named_texts(param, plain))
    if errors:
        raise InvalidRequestError(operation.method_name, errors)
    if cookies:
        header_params["cookie"] = "; ".join(cookies)
    headers = _headers(settings, operation, call_options, header_params, accept, content_type)
    idempotency_key = (
        headers.get(operation.idempotency_header.lower()) if operation.idempotency_header else None
    )
    retry_config = call_options.retries or settings.retry_config
    if not (content is None or isinstance(content, bytes)):
        retry_config = _NO_RETRIES  # a streamed body cannot be read twice
    return PreparedCall(
        operation=operation,
        url=_url(settings.server_url + _expand_path(operation.path, path_values), tuple(query)),
        headers=headers,
        headers_repeat=not (header_params or call_options.headers or idempotency_key),
        content=content,
        idempotency_key=idempotency_key,
        timeout_seconds=_timeout_seconds(call_options.timeout_ms or settings.timeout_ms),
        retry_config=retry_config,
    )


class PreparedCalls:
    """One client's calls that repeat, each prepared once.

    A script calls the same operation with the same org and repo again and again; checking
    those arguments and building the call's URL and headers is a tenth of a call's CPU on
    loopback. A call without a body or request options, whose arguments are all strings or
    None, depends on nothing else but the client's settings, which never change: it is kept,
    unless its headers are its own (`PreparedCall.headers_repeat`: a header or cookie
    parameter, which may be a secret, or an idempotency key, which each logical call has its
    own of).
    """

    __slots__ = ("_known", "_settings")

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._known: dict[tuple[object, ...], PreparedCall] = {}

    def prepare(
        self,
        operation: Operation,
        args: Mapping[str, object],
        body: object,
        options: object,
        *,
        accept: str,
        for_async: bool,
    ) -> PreparedCall:
        """What `prepare_call` gives for these inputs, taken from the calls kept if there."""
        key = _repeat_key(operation, args, accept) if body is None and options is None else None
        if key is not None:
            known = self._known.get(key)
            if known is not None:
                return known
        call = prepare_call(
            self._settings, operation, args, body, options, accept=accept, for_async=for_async
        )
        if key is not None and call.headers_repeat:
            if len(self._known) >= _MAX_PREPARED_CALLS:
                self._known.clear()
            self._known[key] = call
        return call


# Calls kept for each client; one more clears them.
_MAX_PREPARED_CALLS = 256


def _repeat_key(
    operation: Operation, args: Mapping[str, object], accept: str
) -> tuple[object, ...] | None:
    """The key a call is kept under, or None when an argument is not a string (a list or a
    model may change after the call, and `1` and `True` are equal keys)."""
    for value in args.values():
        if value is not None and type(value) is not str:
            return None
    # By identity: a kept call holds its operation, so that id is not reused while it is kept.
    return (id(operation), accept, *args.items())


def _check_idempotency_key(operation: Operation, key: str) -> None:
    """Refuses a key the operation takes none of, or one that breaks the spec's rule for it."""
    where = "request_options.idempotency_key"
    if operation.idempotency_header is None:
        raise InvalidOptionsError(f"{where}: {operation.method_name} takes no idempotency key")
    if operation.idempotency_key_annotation is str:
        return
    from pydantic import ValidationError

    try:
        type_adapter(operation.idempotency_key_annotation).validate_python(key)
    except ValidationError as error:
        # pydantic's words for the broken rule; the key itself is not repeated.
        problems = "; ".join(
            detail["msg"] for detail in error.errors(include_url=False, include_input=False)
        )
        raise InvalidOptionsError(
            f"{where}: {problems} (the {operation.idempotency_header} header of"
            f" {operation.method_name})"
        ) from None


@lru_cache(maxsize=1024)
def _url(url: str, query: tuple[tuple[str, str], ...]) -> httpx.URL:
    """The parsed URL, parsed once for calls to the same URL: parsing and checking one costs
    12-30 us, a tenth of a whole call on loopback. An `httpx.URL` is immutable."""
    return httpx.URL(url, params=query or None)


def cookie_pair(name: str, text: str) -> str:
    """`name=text` as a `Cookie` header holds it, the value percent-encoded where needed."""
    return f"{name}={quote(text, safe=_COOKIE_SAFE)}"


def _timeout_seconds(timeout_ms: int | None) -> float | None:
    return None if timeout_ms is None else timeout_ms / 1000


def _wire_values(
    settings: ClientSettings,
    operation: Operation,
    args: Mapping[str, object],
    errors: list[FieldError],
) -> list[tuple[Param, object]]:
    """Each given parameter, validated against its annotation, in its JSON form."""
    known = operation.param_names
    if not known.issuperset(args):
        errors.extend(FieldError(name, "unexpected argument") for name in args if name not in known)
    values: list[tuple[Param, object]] = []
    for param in operation.params:
        value = args.get(param.name)
        if value is None:
            value = settings.param_defaults.get(param.name)
        if value is None:
            if param.required:
                errors.append(FieldError("", _missing_message(settings, param)))
            continue
        plain = _validated_plain(param, value, errors)
        if plain is not None:
            values.append((param, plain))
    return values


def _missing_message(settings: ClientSettings, param: Param) -> str:
    if param.name in settings.param_defaults:
        ways = [f"pass {param.name}=...", f"set {settings.client_name}({param.name}=...)"]
        env = settings.param_envs.get(param.name)
        if env:
            ways.append(f"set the {env} environment variable")
        return f"{param.name} is required: {', '.join(ways[:-1])} or {ways[-1]}"
    return f"{param.name} is required"


def _validated_plain(param: Param, value: object, errors: list[FieldError]) -> object:
    if type(value) is str:
        known = _valid_texts.get((id(param), value))
        if known is not None and known[0] is param:
            return known[1]
    plain = _validate(param, value, errors)
    if type(value) is str and plain is not None:
        if len(_valid_texts) >= _MAX_VALID_TEXTS:
            _valid_texts.clear()
        _valid_texts[(id(param), value)] = (param, plain)
    return plain


# Each parameter's valid string arguments, in their JSON form: validating one costs more than
# the rest of building a request, and a script passes the same org and repo on every call.
# Keyed by id(): a parameter's annotation may not be hashable; the entry keeps the parameter,
# so that its id is never reused while the entry lives.
_valid_texts: dict[tuple[int, str], tuple[Param, object]] = {}
_MAX_VALID_TEXTS = 4096


def _validate(param: Param, value: object, errors: list[FieldError]) -> object:
    from pydantic import ValidationError

    adapter = type_adapter(param.annotation)
    try:
        validated = adapter.validate_python(value)
        # A str is already its wire form; anything else (int, enum, list) is dumped as JSON.
        plain = validated if type(validated) is str else adapter.dump_python(validated, mode="json")
    except ValidationError as error:
        errors.extend(_field_errors(param.name, error))
        return None
    if param.location == "path" and param.style is None and _text(plain) in _DOT_SEGMENTS:
        errors.append(
            FieldError(
                param.name, f"{_text(plain)!r} cannot be sent as a path segment (it names no item)"
            )
        )
        return None
    return plain


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _explode(param: Param, style: str) -> bool:
    return param.explode if param.explode is not None else style == "form"


def _named_texts(param: Param, plain: object) -> list[tuple[str, str]]:
    """A query or cookie parameter as the (name, text) pairs its style writes.

    `form` exploded (the default): `id=1&id=2` and `a=1&b=2` for an object; not exploded:
    `id=1,2` and `id=a,1,b,2`; `deepObject`: `id[a]=1&id[b]=2`.
    """
    name = param.wire_name
    if not isinstance(plain, (list, dict)):
        return [(name, _text(plain))]
    style = param.style or "form"
    explode = _explode(param, style)
    if isinstance(plain, list):
        if explode:
            return [(name, _text(item)) for item in plain]
        return [(name, _SEPARATORS.get(style, ",").join(_text(item) for item in plain))]
    if style == "deepObject":
        return [(f"{name}[{key}]", _text(value)) for key, value in plain.items()]
    if explode:
        return [(key, _text(value)) for key, value in plain.items()]
    separator = _SEPARATORS.get(style, ",")
    return [(name, separator.join(f"{key}{separator}{_text(v)}" for key, v in plain.items()))]


def _simple_text(plain: object, explode: bool | None) -> str:
    """A header value in `simple` style: `1,2`; an object `a,1,b,2` (exploded `a=1,b=2`)."""
    if isinstance(plain, list):
        return ",".join(_text(item) for item in plain)
    if isinstance(plain, dict):
        pair = "{}={}" if explode else "{},{}"
        return ",".join(pair.format(key, _text(value)) for key, value in plain.items())
    return _text(plain)


def _path_text(param: Param, plain: object) -> str:
    """A path parameter, percent-encoded, in its style: `simple` (`1,2`), `label` (`.1,2`) or
    `matrix` (`;id=1,2`). Each value is encoded whole (`/` too), so it stays in its segment."""
    if type(plain) is str and param.style is None:
        return _path_segment(plain)
    explode = bool(param.explode)
    if isinstance(plain, list):
        items = [quote(_text(item), safe="") for item in plain]
    elif isinstance(plain, dict):
        pair = "{}={}" if explode else "{},{}"
        items = [
            pair.format(quote(key, safe=""), quote(_text(v), safe="")) for key, v in plain.items()
        ]
    else:
        items = [quote(_text(plain), safe="")]
    style = param.style or "simple"
    if style == "label":
        return "." + ("." if explode else ",").join(items)
    if style == "matrix":
        if explode and isinstance(plain, dict):
            return "".join(";" + item for item in items)
        if explode and isinstance(plain, list):
            return "".join(f";{param.wire_name}={item}" for item in items)
        return f";{param.wire_name}=" + ",".join(items)
    return ",".join(items)


@lru_cache(maxsize=4096)
def _path_segment(text: str) -> str:
    """`text` percent-encoded whole, `/` too: the same org and repo come on every call."""
    return quote(text, safe="")


def _expand_path(template: str, values: Mapping[str, str]) -> str:
    """The path with each placeholder replaced by its value, already percent-encoded."""
    literals, names = _path_parts(template)
    parts = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        parts += (values[name], literal)
    return "".join(parts)


@lru_cache(maxsize=256)
def _path_parts(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`/{org}/repos` -> (("/", "/repos"), ("org",)): literals around each placeholder."""
    pieces = _PLACEHOLDER.split(template)
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def _encode_body(
    operation: Operation, body: object, errors: list[FieldError], *, for_async: bool
) -> tuple[bytes | Iterable[bytes] | AsyncIterator[bytes] | None, str | None]:
    """The body as sent, and its Content-Type: the spec's media type (with a multipart
    boundary added); (None, None) when nothing is sent."""
    model = operation.body_model
    if model is None:
        if body is not None:
            errors.append(FieldError("body", f"{operation.method_name} takes no body"))
        return None, None
    if body is None:
        if operation.body_required:
            errors.append(FieldError("body", "is required"))
        return None, None
    media_type = operation.body_media_type
    kind = body_kind(media_type)
    if kind == "raw":
        try:
            return raw_content(body, for_async=for_async), media_type
        except TypeError as error:
            errors.append(FieldError("body", str(error)))
            return None, None
    from pydantic import BaseModel, ValidationError

    adapter = type_adapter(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        if (isinstance(body, BaseModel) and not isinstance(body, model)) or not isinstance(
            body, (BaseModel, Mapping)
        ):
            errors.append(
                FieldError(
                    "body", f"expected {model.__name__} or a dict, got {type(body).__name__}"
                )
            )
            return None, None
        if isinstance(body, Mapping):
            body = dict(body)
    try:
        value = adapter.validate_python(body)
    except ValidationError as error:
        errors.extend(_field_errors("body", error))
        return None, None
    # exclude_unset: fields the caller did not give are left to the server's defaults.
    if kind == "json":
        return adapter.dump_json(value, by_alias=True, exclude_unset=True), media_type
    fields = adapter.dump_python(value, by_alias=True, exclude_unset=True)
    if not isinstance(fields, dict):
        errors.append(FieldError("body", f"a {media_type} body must be an object"))
        return None, None
    if kind == "form":
        return form_content(fields), media_type
    return multipart_content(fields)


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
    content_type: str | None,
) -> dict[str, str]:
    # Later sources win: SDK headers, client headers, this call's parameters and options.
    # Names are lower-cased so that a later source replaces an earlier one whatever its case;
    # a plain dict, as building httpx.Headers twice per request is a measurable cost.
    headers = {"user-agent": settings.user_agent, "accept": accept}
    if content_type is not None:
        headers["content-type"] = content_type
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
