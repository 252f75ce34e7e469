"""The httpx clients the SDK opens itself, when the user passes none.

Building the TLS context (loading the CA bundle) is most of the cost of a new httpx client,
tens of milliseconds, so it is built once per process and shared: every SDK client, sync or
async, in any event loop, still gets its own connection pool.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

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
        # httpx drops Authorization when a redirect leaves the origin.
        "follow_redirects": True,
        "limits": _LIMITS,
        "timeout": httpx.Timeout(timeout_seconds),
    }


def new_http_client(timeout_seconds: float) -> httpx.Client:
    return httpx.Client(**_client_settings(timeout_seconds))


def new_async_http_client(timeout_seconds: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(**_client_settings(timeout_seconds))
