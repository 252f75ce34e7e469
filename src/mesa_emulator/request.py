"""The parts of an ASGI HTTP request the emulator uses, and the ASGI types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from mesa_emulator.errors import ApiError

__all__ = ["ClientGone", "Message", "Receive", "Request", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request was read."""


class Request:
    """The parts of an ASGI HTTP scope the pipeline uses."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = str(scope["method"]).upper()
        raw = scope.get("raw_path") or str(scope.get("path", "/")).encode("utf-8")
        self.raw_path: bytes = bytes(raw).split(b"?", 1)[0]
        self.path: str = self.raw_path.decode("latin-1")
        self.query_string: bytes = bytes(scope.get("query_string", b""))
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", []):
            key = bytes(name).decode("latin-1").lower()
            text = bytes(value).decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        client = scope.get("client")
        self.client_host: str | None = str(client[0]) if client else None

    def base_url(self) -> str:
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}"

    def query(self) -> dict[str, str]:
        try:
            text = self.query_string.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            raise ApiError.invalid_parameter(
                "query", "The query string is not valid UTF-8."
            ) from None
        out: dict[str, str] = {}
        for name, value in pairs:
            if name in out:
                raise ApiError.invalid_parameter(name, f"Query parameter '{name}' is repeated.")
            out[name] = value
        return out
