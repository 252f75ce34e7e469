"""The httpx clients the SDK opens itself, when the user passes none.

Building the TLS context (loading the CA bundle) is most of the cost of a new httpx client,
tens of milliseconds, so it is built once per process and shared: every SDK client, sync or
async, in any event loop, still gets its own connection pool.
"""

from __future__ import annotations

import ssl
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import httpx

from mesa_sdk._runtime.credentials import is_credential_header

_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _shared_ssl_context() -> ssl.SSLContext:
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            # Verification on, with httpx's CA bundle (or SSL_CERT_FILE / SSL_CERT_DIR).
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _client_settings(timeout_seconds: float) -> dict[str, Any]:
    return {
        "verify": _shared_ssl_context(),
        "follow_redirects": True,
        "limits": _LIMITS,
        "timeout": httpx.Timeout(timeout_seconds),
    }


def _credential_stripper(server_url: str) -> Callable[[httpx.Request], None]:
    """A request hook that drops every credential header from a request leaving the server.

    httpx drops `Authorization` when a redirect leaves the origin, but keeps any other header,
    so a credential passed as `headers={"X-Api-Key": ...}` would follow a redirect elsewhere.
    httpx runs request hooks on each request of a redirect chain.
    """
    origin = httpx.URL(server_url)
    server = (origin.scheme, origin.host, origin.port)

    def strip(request: httpx.Request) -> None:
        if (request.url.scheme, request.url.host, request.url.port) == server:
            return
        for name in [name for name in request.headers if is_credential_header(name)]:
            del request.headers[name]

    return strip


def new_http_client(timeout_seconds: float, server_url: str) -> httpx.Client:
    strip = _credential_stripper(server_url)
    return httpx.Client(**_client_settings(timeout_seconds), event_hooks={"request": [strip]})


def new_async_http_client(timeout_seconds: float, server_url: str) -> httpx.AsyncClient:
    strip = _credential_stripper(server_url)

    async def strip_async(request: httpx.Request) -> None:
        strip(request)

    return httpx.AsyncClient(
        **_client_settings(timeout_seconds), event_hooks={"request": [strip_async]}
    )


def close_with_owner(owner: object, client: httpx.Client | httpx.AsyncClient, name: str) -> None:
    """When `owner` is garbage-collected with `client` still open, warns (`ResourceWarning`,
    as an unclosed file or socket does) and closes a sync client; an async one can only be
    closed in its event loop, which may be gone, so it is only reported. `name` is the SDK
    client's class name, for the message."""
    weakref.finalize(owner, _close_unclosed, client, name).atexit = False


def _close_unclosed(client: httpx.Client | httpx.AsyncClient, name: str) -> None:
    if client.is_closed:
        return
    if isinstance(client, httpx.Client):
        client.close()
        what = f"its connections are closed now; call close() or use `with {name}() as client:`"
    else:
        what = f"its async connections leak; await aclose() or use `async with {name}() as client:`"
    warnings.warn(f"unclosed {name} client: {what}", ResourceWarning, stacklevel=2)
