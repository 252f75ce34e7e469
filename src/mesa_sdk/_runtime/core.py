"""`ClientCore`: the one object generated code calls, sync and async.

A generated method hands it a static `Operation` and the call's arguments; the core checks
them, sends the request with retries, and parses the answer. Settings are resolved (and
checked) when the client is built; the httpx clients are built on first use, since building
one costs tens of milliseconds that a client which never sends should not pay.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from mesa_sdk._runtime.call_methods import CallMethods, Reader
from mesa_sdk._runtime.clock import Clock, SystemClock
from mesa_sdk._runtime.errors import InvalidOptionsError
from mesa_sdk._runtime.hooks import Hooks
from mesa_sdk._runtime.settings import resolve_settings

# The modules that send requests are imported by the first call, not by building a client:
# constructing a client must stay nearly free. Each call imports them as `import a.b as b`,
# which costs half of `from a import b` once the module is loaded.
if TYPE_CHECKING:
    from mesa_sdk._runtime.config import (
        AsyncTransport,
        RequestOptions,
        RetryConfig,
        RetryConfigDict,
        SdkDefaults,
    )
    from mesa_sdk._runtime.credentials import ApiKeyInput
    from mesa_sdk._runtime.http_clients import AsyncPools
    from mesa_sdk._runtime.operation import Operation
    from mesa_sdk._runtime.pipeline import CallAttempts
    from mesa_sdk._runtime.request_builder import PreparedCall, PreparedCalls
    from mesa_sdk._runtime.sending import CredentialStripper
    from mesa_sdk._runtime.streaming import AsyncByteStream, ByteStream


def _system_random() -> float:
    # Imported here: only a retry needs it.
    import random

    return random.random()  # noqa: S311 - jitter, not cryptography


class ClientCore(CallMethods):
    """Sends operations for a client: settings, connection pools, hooks, retries."""

    def __init__(
        self,
        defaults: SdkDefaults,
        *,
        api_key: ApiKeyInput | None,
        server_url: str | None,
        param_defaults: Mapping[str, str | None],
        timeout_ms: int | None,
        retry_config: RetryConfig | RetryConfigDict | None,
        headers: Mapping[str, str] | None,
        http_client: httpx.Client | None,
        async_http_client: httpx.AsyncClient | None,
        async_transport: AsyncTransport | None = None,
        username: str | None = None,
        password: ApiKeyInput | None = None,
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidOptionsError(
                f"http_client: expected an httpx.Client, got {type(http_client).__name__}"
            )
        if async_http_client is not None and not isinstance(async_http_client, httpx.AsyncClient):
            raise InvalidOptionsError(
                "async_http_client: expected an httpx.AsyncClient, "
                f"got {type(async_http_client).__name__}"
            )
        if async_http_client is not None and async_transport is not None:
            raise InvalidOptionsError(
                "async_transport and async_client: pass one; an async_client sends with its "
                "own transport"
            )
        self.settings = resolve_settings(
            defaults,
            api_key=api_key,
            server_url=server_url,
            param_defaults=param_defaults,
            timeout_ms=timeout_ms,
            retry_config=retry_config,
            headers=headers,
            async_transport=async_transport,
            username=username,
            password=password,
        )
        self.hooks = Hooks()
        self.clock: Clock = SystemClock()
        self.random_fraction: Callable[[], float] = _system_random
        """A number in [0, 1) for each jittered wait."""
        self._given_http_client = http_client
        self._given_async_http_client = async_http_client
        self._own_http_client: httpx.Client | None = None
        self._own_async_http_clients: AsyncPools | None = None
        self._lock = threading.Lock()

    @property
    def server_url(self) -> str:
        return self.settings.server_url

    def __repr__(self) -> str:
        return f"ClientCore(server_url={self.server_url!r})"

    # -- the calls ------------------------------------------------------------------
    # `call`, `call_page`... come from CallMethods, each sending with `_respond`.

    @property
    def _client_core(self) -> ClientCore:
        return self

    def _respond(self, call: PreparedCall, read: Reader) -> Any:
        return read(call, self._send(call, stream=False))

    async def _respond_async(self, call: PreparedCall, read: Reader) -> Any:
        return read(call, await self._send_async(call, stream=False))

    def stream(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> AbstractContextManager[ByteStream]:
        """A `with` block over the body as it arrives. Inputs are checked now; the request is
        sent (with retries) when the block is entered."""
        return _StreamContext(self, self._prepare(op, args, None, options, accept))

    def close(self) -> None:
        """Closes the sync connection pool the SDK opened; a client passed in stays open."""
        with self._lock:
            client, self._own_http_client = self._own_http_client, None
        if client is not None:
            client.close()

    def stream_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> AbstractAsyncContextManager[AsyncByteStream]:
        """An `async with` block over the body as it arrives. Inputs are checked now; the
        request is sent (with retries) when the block is entered."""
        return _AsyncStreamContext(self, self._prepare(op, args, None, options, accept))

    async def aclose(self) -> None:
        """Closes every connection pool the SDK opened; clients passed in stay open."""
        self.close()
        if self._own_async_http_clients is not None:
            await self._own_async_http_clients.aclose()

    # -- the pipeline -------------------------------------------------------------------

    def _prepare(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
        accept: str,
        *,
        for_async: bool = False,
    ) -> PreparedCall:
        return self._prepared_calls.prepare(
            op, args, body, options, accept=accept, for_async=for_async
        )

    @functools.cached_property
    def _prepared_calls(self) -> PreparedCalls:
        from mesa_sdk._runtime.request_builder import PreparedCalls

        return PreparedCalls(self.settings)

    def _attempts(self, call: PreparedCall) -> CallAttempts:
        import mesa_sdk._runtime.pipeline as pipeline

        return pipeline.CallAttempts(
            call,
            auth=self.settings.auth,
            hooks=self.hooks,
            error_map=self.settings.error_map,
            clock=self.clock,
            random_fraction=self.random_fraction,
        )

    def _send(self, call: PreparedCall, *, stream: bool) -> httpx.Response:
        """The 2xx response to `call`, after retries; raises the SDK's error otherwise.

        With `stream`, the body of the returned response is not read yet.
        """
        import mesa_sdk._runtime.sending as sending

        client = self._http_client()
        # The SDK's own clients skip `Client.send` (see `sending`); a user's keeps its own.
        fast = not stream and self._given_http_client is None
        attempts = self._attempts(call)
        while True:
            context, request = attempts.start(client)
            try:
                if fast:
                    response = sending.send(client, request, self._credential_stripper)
                else:
                    response = client.send(request, stream=stream)
                if stream and not response.is_success:
                    try:
                        response.read()  # the error body is small and names the problem
                    finally:
                        response.close()
            except httpx.RequestError as failure:
                delay = attempts.failed_in_transport(context, request, failure)
            else:
                if response.is_success:
                    try:
                        return attempts.succeeded(context, response)
                    except BaseException:
                        response.close()
                        raise
                delay = attempts.failed_with_status(context, request, response)
            self.clock.sleep(delay)

    async def _send_async(self, call: PreparedCall, *, stream: bool) -> httpx.Response:
        """The 2xx response to `call`, after retries; raises the SDK's error otherwise.

        With `stream`, the body of the returned response is not read yet.
        """
        import mesa_sdk._runtime.sending as sending

        client = self._async_http_client()
        fast = not stream and self._given_async_http_client is None
        attempts = self._attempts(call)
        while True:
            context, request = attempts.start(client)
            try:
                if fast:
                    response = await sending.send_async(client, request, self._credential_stripper)
                else:
                    response = await client.send(request, stream=stream)
                if stream and not response.is_success:
                    try:
                        await response.aread()  # the error body is small and names the problem
                    finally:
                        await response.aclose()
            except httpx.RequestError as failure:
                delay = attempts.failed_in_transport(context, request, failure)
            else:
                if response.is_success:
                    try:
                        return attempts.succeeded(context, response)
                    except BaseException:
                        await response.aclose()
                        raise
                delay = attempts.failed_with_status(context, request, response)
            await self.clock.async_sleep(delay)

    # -- connection pools ---------------------------------------------------------------

    @functools.cached_property
    def _credential_stripper(self) -> CredentialStripper:
        from mesa_sdk._runtime.sending import CredentialStripper

        return CredentialStripper(self.server_url)

    @property
    def _timeout_seconds(self) -> float:
        return (self.settings.timeout_ms or self.settings.default_timeout_ms) / 1000

    def _http_client(self) -> httpx.Client:
        if self._given_http_client is not None:
            return self._given_http_client
        client = self._own_http_client
        if client is None:
            with self._lock:
                client = self._own_http_client
                if client is None:
                    from mesa_sdk._runtime.http_clients import close_with_owner, new_http_client

                    client = self._own_http_client = new_http_client(
                        self._timeout_seconds, self._credential_stripper
                    )
                    close_with_owner(self, client, self.settings.client_name)
        return client

    def _async_http_client(self) -> httpx.AsyncClient:
        if self._given_async_http_client is not None:
            return self._given_async_http_client
        pools = self._own_async_http_clients
        if pools is None:
            with self._lock:
                pools = self._own_async_http_clients
                if pools is None:
                    from mesa_sdk._runtime.http_clients import (
                        AsyncPools,
                        close_with_owner,
                        new_async_http_client,
                    )

                    def new_client() -> httpx.AsyncClient:
                        client = new_async_http_client(
                            self._timeout_seconds,
                            self._credential_stripper,
                            self.settings.async_transport,
                        )
                        close_with_owner(self, client, self.settings.client_name)
                        return client

                    pools = self._own_async_http_clients = AsyncPools(new_client)
        return pools.get()


class _StreamContext(AbstractContextManager["ByteStream"]):
    def __init__(self, core: ClientCore, call: PreparedCall) -> None:
        self._core = core
        self._call = call
        self._stream: ByteStream | None = None

    def __enter__(self) -> ByteStream:
        from mesa_sdk._runtime.streaming import ByteStream

        response = self._core._send(self._call, stream=True)
        self._stream = ByteStream(response, self._call.operation.method_name)
        return self._stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.close()


class _AsyncStreamContext(AbstractAsyncContextManager["AsyncByteStream"]):
    def __init__(self, core: ClientCore, call: PreparedCall) -> None:
        self._core = core
        self._call = call
        self._stream: AsyncByteStream | None = None

    async def __aenter__(self) -> AsyncByteStream:
        from mesa_sdk._runtime.streaming import AsyncByteStream

        response = await self._core._send_async(self._call, stream=True)
        self._stream = AsyncByteStream(response, self._call.operation.method_name)
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()
