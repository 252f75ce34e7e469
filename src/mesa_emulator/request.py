"""How the emulator reads a request, on top of Starlette's :class:`~starlette.requests.Request`.

Starlette reads a repeated header as its first value, the query string as Latin-1 and the path
percent-decoded; the emulator reads them as it always has:

* a repeated header is all its values joined with ``", "`` (so two ``Authorization`` headers
  are one bad credential, not the first of them);
* the query string is UTF-8 (400 ``INVALID_PARAMETER`` when it, or a %-escape in it, is not)
  and a repeated parameter is 400 ``INVALID_PARAMETER``;
* the path is the raw path, percent-escapes kept (``scope["raw_path"]``);
* a body is JSON only when its ``Content-Type`` says so (``application/json`` or
  ``application/*+json``, UTF-8): any other, or none, is 415 ``UNSUPPORTED_MEDIA_TYPE``;
* a JSON body is strict JSON (:func:`parse_json_body`), else 400 ``INVALID_REQUEST``: valid
  UTF-8, nested at most :data:`MAX_JSON_DEPTH` levels (checked without recursion before it is
  parsed), no repeated key in an object, no unpaired surrogate (``"\\ud800"``), no ``NaN`` or
  ``Infinity``, no integer of more than :data:`MAX_JSON_INTEGER_DIGITS` digits.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote_to_bytes

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import Scope

from mesa_emulator.errors import ApiError

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_JSON_INTEGER_DIGITS",
    "canonical_json",
    "check_json_media_type",
    "emulator_state",
    "header",
    "parse_json_body",
    "query_params",
    "raw_path",
]

# The deepest nesting of arrays and objects a body may have.  The contract's deepest body
# (a commit: object, edits array, edit, lfs pointer) is 4 levels; 32 leaves room and keeps
# every later step (parsing, canonical form, validation) far from any recursion limit.
MAX_JSON_DEPTH = 32
# The longest integer a body may hold: no field of the contract needs more than 20 digits.
MAX_JSON_INTEGER_DIGITS = 100


def raw_path(scope: Scope) -> bytes:
    """The path as the client sent it (percent-escapes kept), without the query string."""
    raw = scope.get("raw_path") or str(scope.get("path", "/")).encode("utf-8")
    return bytes(raw).split(b"?", 1)[0]


def header(request: Request, name: str) -> str | None:
    """A header's value; a repeated header's values joined with ", "."""
    values = request.headers.getlist(name)
    return ", ".join(values) if values else None


def query_params(request: Request) -> dict[str, str]:
    """The query parameters, each given once, read as UTF-8."""
    raw = bytes(request.scope.get("query_string", b""))
    try:
        text = raw.decode("utf-8")
        if "%" in text:
            unquote_to_bytes(text).decode("utf-8")  # the %-escapes too
    except UnicodeDecodeError:
        raise ApiError.invalid_parameter("query", "The query string is not valid UTF-8.") from None
    out: dict[str, str] = {}
    for name, value in QueryParams(text).multi_items():
        if name in out:
            raise ApiError.invalid_parameter(name, f"Query parameter '{name}' is repeated.")
        out[name] = value
    return out


def emulator_state(request: Request) -> EmulatorState:
    """The running emulator's state (``app.state.emulator`` of the Starlette application)."""
    state: EmulatorState = request.app.state.emulator
    return state


def check_json_media_type(content_type: str | None) -> None:
    """415 unless ``content_type`` is JSON: ``application/json`` or ``application/*+json``,
    with no charset but UTF-8."""
    media, _, params = (content_type or "").partition(";")
    kind, _, subtype = media.strip().lower().partition("/")
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        if charset in ("utf-8", "utf8"):
            return
        reason = f"has charset {charset!r}; JSON bodies must be UTF-8"
    elif content_type is None:
        reason = "is missing"
    else:
        reason = f"is {media.strip()[:100]!r}"
    raise ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        f"The request has a body but its Content-Type {reason}: send it as application/json.",
        {"content_type": content_type[:100] if content_type is not None else None},
    )


# Nesting is measured on the brackets left once escapes and strings are removed: byte
# operations in C, with no recursion whatever the body holds.
_ESCAPED_BACKSLASH_OR_QUOTE = (b"\\\\", b'\\"')
_JSON_STRING = re.compile(rb'"[^"]*"')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = [0] * 256
for _open, _close in (b"[]", b"{}"):
    _BRACKET_STEP[_open], _BRACKET_STEP[_close] = 1, -1


def _nesting_depth(body: bytes) -> int:
    for escape in _ESCAPED_BACKSLASH_OR_QUOTE:
        body = body.replace(escape, b"")
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_A_BRACKET)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _bad_body(why: str) -> NoReturn:
    raise ApiError.invalid_request("body", f"The request body {why}.")


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            _bad_body(f"is not valid JSON: the key {key[:100]!r} is repeated in an object")
        obj[key] = value
    return obj


def _bounded_integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INTEGER_DIGITS:
        _bad_body(f"holds an integer of more than {MAX_JSON_INTEGER_DIGITS} digits")
    return int(text)


def _finite_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        _bad_body(f"holds a number too large for a 64-bit float: {text[:40]}")
    return number


def _no_constant(name: str) -> NoReturn:
    _bad_body(f"is not valid JSON: {name} is not a JSON number")


# A \uXXXX escape of a high surrogate not followed by a low one, or of a low one not preceded
# by a high one: no UTF-8 text holds it.  Searched once escaped backslashes are removed, so
# that every backslash left starts an escape.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _has_lone_surrogate(body: bytes) -> bool:
    if _SURROGATE_ESCAPE.search(body) is None:
        return False
    return _LONE_SURROGATE.search(body.replace(b"\\\\", b"")) is not None


def parse_json_body(body: bytes) -> Any:
    """``body`` as strict JSON (see the module), or 400 ``INVALID_REQUEST`` naming the problem."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        _bad_body(f"is not valid UTF-8 (byte {exc.start})")
    if _nesting_depth(body) > MAX_JSON_DEPTH:
        _bad_body(f"is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects")
    if _has_lone_surrogate(body):
        _bad_body("is not valid JSON: a string holds an unpaired surrogate")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_repeats,
            parse_int=_bounded_integer,
            parse_float=_finite_number,
            parse_constant=_no_constant,
        )
    except ValueError as exc:  # JSONDecodeError: where and what
        _bad_body(f"is not valid JSON: {exc}")
    return value


def canonical_json(body: bytes) -> bytes:
    """One spelling of a JSON body (keys sorted, no spaces); a body that is not JSON as is."""
    if not body:
        return body
    try:
        value = parse_json_body(body)
    except ApiError:
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
