"""The httpx clients the SDK opens itself, when the user passes none.

Building the TLS context (loading the CA bundle) is most of the cost of a new httpx client,
tens of milliseconds, so it is built once per process and shared: every SDK client, sync or
async, in any event loop, still gets its own connection pool.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import asyncio

    from mesa_sdk._runtime.config import AsyncTransport
    from mesa_sdk._runtime.sending import CredentialStripper

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


def new_http_client(timeout_seconds: float, strip: CredentialStripper) -> httpx.Client:
    # The hook serves streamed responses, which go through `send` (see `sending`).
    return httpx.Client(**_client_settings(timeout_seconds), event_hooks={"request": [strip]})


def new_async_http_client(
    timeout_seconds: float, strip: CredentialStripper, transport: AsyncTransport
) -> httpx.AsyncClient:
    async def strip_async(request: httpx.Request) -> None:
        strip(request)

    settings = {**_client_settings(timeout_seconds), "event_hooks": {"request": [strip_async]}}
    if transport == "aiohttp":
        from mesa_sdk._runtime.aiohttp_transport import AiohttpClient

        return AiohttpClient(**settings)
    return httpx.AsyncClient(**settings)


class AsyncPools:
    """An SDK client's own async httpx clients: one per event loop, made on first use there.

    An async client's connections belong to the loop that opened them (`asyncio.run()` twice
    must not reuse the first loop's), and only that loop can close them. Each is closed by
    `aclose()` in its loop, or else when its loop shuts down: asyncio finalizes the async
    generators of a loop before closing it (`asyncio.run()`, `asyncio.Runner` and
    pytest-asyncio all do), and each client has one that closes it, so that no socket outlives
    its loop.
    """

    def __init__(self, new_client: Callable[[], httpx.AsyncClient]) -> None:
        self._new_client = new_client
        self._closers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def clients(self) -> list[httpx.AsyncClient]:
        """The open clients, of every loop."""
        with self._lock:
            return [client for client, _ in self._closers.values()]

    def get(self) -> httpx.AsyncClient:
        """The running loop's client."""
        import asyncio

        loop = asyncio.get_running_loop()
        # Looked up without the lock, which only keeps two threads from both creating the
        # loop's client: a dict lookup is atomic.
        entry = self._closers.get(loop)
        if entry is not None:
            return entry[0]
        with self._lock:
            entry = self._closers.get(loop)
            if entry is None:
                client = self._new_client()
                closer = _close_at_the_end(client)
                # The first step registers the generator with the running loop and runs it to
                # its `yield`: from then on, the loop's shutdown closes the client.
                with contextlib.suppress(StopIteration):
                    closer.asend(None).send(None)
                entry = self._closers[loop] = (client, closer)
        return entry[0]

    async def aclose(self) -> None:
        """Closes the running loop's client. Those of other loops cannot be closed from this
        one; they are dropped, and their loops close them."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._closers.pop(loop, None)
            self._closers.clear()
        if entry is not None:
            await entry[1].aclose()


async def _close_at_the_end(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.aclose()


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
