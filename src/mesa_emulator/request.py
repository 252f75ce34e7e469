"""How the emulator reads a request, on top of Starlette's :class:`~starlette.requests.Request`.

Starlette reads a repeated header as its first value, the query string as Latin-1 and the path
percent-decoded; the emulator reads them as it always has:

* a repeated header is all its values joined with ``", "`` (so two ``Authorization`` headers
  are one bad credential, not the first of them);
* the query string is UTF-8 (400 ``INVALID_PARAMETER`` when it, or a %-escape in it, is not)
  and a repeated parameter is 400 ``INVALID_PARAMETER``;
* the path is the raw path, percent-escapes kept (``scope["raw_path"]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import Scope

from mesa_emulator.errors import ApiError

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = ["emulator_state", "header", "query_params", "raw_path"]


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
