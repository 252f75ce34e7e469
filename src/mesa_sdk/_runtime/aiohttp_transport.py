"""The async client on aiohttp (the `aiohttp` extra): httpx's API above, aiohttp's I/O below.

httpx's own async connection pool spends more CPU per request the more requests run at once;
aiohttp's does not. httpx-aiohttp puts aiohttp under httpx's transport interface, so what lies
above it stays httpx's own: requests and responses, event hooks, redirects, cookies, timeouts,
streaming, proxies from the environment.

Where httpx-aiohttp's defaults would make the client behave otherwise than on httpx's
transport, this module keeps httpx's behaviour:

- Cookies are httpx's alone: the aiohttp session keeps none, so a cookie is never sent twice,
  nor after `client.cookies.clear()`.
- Each aiohttp error becomes the httpx error httpx's transport raises for the same failure
  (`ConnectError` for a refused connection, `RemoteProtocolError` for a dropped one,
  `ReadTimeout`...), with the aiohttp error as its cause; httpx-aiohttp maps every aiohttp
  connection error, a refused connection too, to `ConnectTimeout`, which the SDK would retry
  and report as a timeout.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import NoReturn

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

# The httpx error for each aiohttp error: the first class that matches, so subclasses first.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),
    # Refused, no route, name not resolved, TLS handshake: the cause chain tells which.
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.InvalidUrlClientError, httpx.UnsupportedProtocol),
)
# httpx's words where aiohttp's differ for the same failure.
_HTTPX_MESSAGES: dict[type[Exception], str] = {
    aiohttp.ServerDisconnectedError: "Server disconnected without sending a response.",
}


def _raise_as_httpx_error(error: Exception, request: httpx.Request) -> NoReturn:
    """Raises the httpx error for an aiohttp one, raw or as httpx-aiohttp mapped it, with the
    aiohttp error as its cause; any other error as it is."""
    cause = error.__cause__ if isinstance(error, httpx.TransportError) else error
    for aiohttp_error, httpx_error in _HTTPX_ERRORS:
        if isinstance(cause, aiohttp_error):
            message = _HTTPX_MESSAGES.get(type(cause)) or str(cause) or type(cause).__name__
            raise httpx_error(message, request=request) from cause
    raise error


class _ResponseStream(httpx.AsyncByteStream):
    """The body of a response, raising httpx's errors."""

    def __init__(self, body: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._body = body
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError) as error:
            _raise_as_httpx_error(error, self._request)

    async def aclose(self) -> None:
        await self._body.aclose()


class _Transport(AiohttpTransport):
    def get_client(self) -> aiohttp.ClientSession:
        # Built on the first request, inside the event loop that then owns it.
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError) as error:
            _raise_as_httpx_error(error, request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ResponseStream(response.stream, request)
        return response


class AiohttpClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` whose connections, proxied ones too, are aiohttp's."""

    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: httpx._types.CertTypes | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return _Transport(verify=verify, cert=cert, trust_env=trust_env, limits=limits)

    def _init_proxy_transport(
        self,
        proxy: httpx.Proxy,
        verify: ssl.SSLContext | str | bool = True,
        cert: httpx._types.CertTypes | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = _DEFAULT_LIMITS,
    ) -> httpx.AsyncBaseTransport:
        return _Transport(verify=verify, cert=cert, trust_env=trust_env, limits=limits, proxy=proxy)
