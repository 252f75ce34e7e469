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
- A request goes out with the headers httpx built, and no Content-Type aiohttp would add.
  Header bytes go out unchanged when they are UTF-8 (aiohttp writes text as UTF-8); any
  other header is refused (`httpx.LocalProtocolError`), where httpx would send it. A DELETE
  without a body carries aiohttp's `Content-Length: 0`, which HTTP allows.
- An answer reads as on httpx's transport: its version, reason, headers and decoded body
  (`tests/runtime/test_async_transports.py` holds every one to httpx's own).

So httpx-aiohttp gives the transport's settings, its aiohttp session and its closing, and
the sending is this module's.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from functools import lru_cache

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport

_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# Methods aiohttp sends without a body of its own making (its GET_METHODS).
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CONTENT_TYPE = ("Content-Type",)
_CHUNK_BYTES = 64 * 1024
_SMALL_BODY = 64 * 1024
# aiohttp hands the socket this much of a request body before it waits for it to drain.
_AIOHTTP_WRITE_BUFFER = 64 * 1024

# The httpx error for each aiohttp error: the first class that matches, so subclasses first;
# the last catches every other.
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
    (aiohttp.ClientError, httpx.TransportError),
)
# httpx's words where aiohttp's differ for the same failure.
_HTTPX_MESSAGES: dict[type[Exception], str] = {
    aiohttp.ServerDisconnectedError: "Server disconnected without sending a response.",
}


def _httpx_error(error: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx error httpx's own transport raises for the failure `error` describes."""
    httpx_error = next(
        httpx_error
        for aiohttp_error, httpx_error in _HTTPX_ERRORS
        if isinstance(error, aiohttp_error)
    )
    if isinstance(error, aiohttp.NonHttpUrlClientError):  # httpx's words name the scheme
        message = f"Request URL has an unsupported protocol '{request.url.scheme}://'."
    else:
        message = _HTTPX_MESSAGES.get(type(error)) or str(error) or type(error).__name__
    return httpx_error(message, request=request)


def _aiohttp_headers(request: httpx.Request) -> list[tuple[str, str]]:
    """The request's headers as aiohttp takes them: text, which it writes as UTF-8, so that
    UTF-8 bytes go out unchanged. Other bytes would not, and are refused."""
    try:
        return [(name.decode(), value.decode()) for name, value in request.headers.raw]
    except UnicodeDecodeError:
        names = ", ".join(
            name.decode("latin-1")
            for name, value in request.headers.raw
            if not (_is_utf8(name) and _is_utf8(value))
        )
        raise httpx.LocalProtocolError(
            f"the aiohttp transport sends headers as UTF-8, and cannot send {names} as it is"
            " (not UTF-8)",
            request=request,
        ) from None


def _proxy_headers(proxy: httpx.Proxy) -> dict[str, str]:
    """The proxy's headers, with its credentials as httpx's transport sends them (aiohttp's
    own `proxy_auth` is deprecated)."""
    headers = {name.decode(): value.decode() for name, value in proxy.headers.raw}
    if proxy.raw_auth is not None:
        pair = base64.b64encode(b":".join(proxy.raw_auth)).decode("ascii")
        headers["Proxy-Authorization"] = f"Basic {pair}"
    return headers


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _aiohttp_url(url: httpx.URL) -> yarl.URL:
    """`url` as aiohttp takes it, converted once for each `httpx.URL` object: the SDK builds
    each endpoint's URL once and sends that same object on every call."""
    known = _aiohttp_urls.get(id(url))
    if known is not None:
        return known[1]
    converted = yarl.URL(str(url), encoded=True)
    if len(_aiohttp_urls) >= _MAX_AIOHTTP_URLS:
        _aiohttp_urls.clear()
    # The entry holds `url`, so that its id is not reused while the entry is kept.
    _aiohttp_urls[id(url)] = (url, converted)
    return converted


_aiohttp_urls: dict[int, tuple[httpx.URL, yarl.URL]] = {}
_MAX_AIOHTTP_URLS = 256


@lru_cache(maxsize=8)
def _http_version(major: int, minor: int) -> bytes:
    """`HTTP/1.1` or `HTTP/1.0`, as httpx's transport names the answer's version."""
    return f"HTTP/{major}.{minor}".encode("ascii")


@lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    # aiohttp's `connect` covers waiting for a pooled connection and making a new one.
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


def _may_stall(data: bytes | AsyncIterable[bytes]) -> bool:
    """Whether sending `data` may wait on the server: a stream, or more bytes than aiohttp
    writes before waiting for the socket to take them."""
    return not isinstance(data, bytes) or len(data) > _AIOHTTP_WRITE_BUFFER


class _Upload:
    """A request body handed to aiohttp piece by piece, noting when each piece was taken.

    aiohttp has no write timeout: a server that stops reading an upload would hold the call
    forever. httpx's transport bounds each write by the `write` timeout; here, aiohttp taking
    no piece of the body for that long ends the request with httpx's `WriteTimeout`.
    """

    def __init__(self, data: bytes | AsyncIterable[bytes]) -> None:
        self._data = data
        self._taken_at = asyncio.get_running_loop().time()
        self._all_taken = False

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        data = self._data
        if isinstance(data, bytes):
            for start in range(0, len(data), _CHUNK_BYTES):
                self._taken_at = loop.time()
                yield data[start : start + _CHUNK_BYTES]
        else:
            async for chunk in data:
                self._taken_at = loop.time()
                yield chunk
        # Asked for more once the last piece was written: the body is out.
        self._all_taken = True

    async def sent_within(
        self,
        sending: Awaitable[aiohttp.ClientResponse],
        write_timeout: float,
        request: httpx.Request,
    ) -> aiohttp.ClientResponse:
        """The response to `sending`, or `httpx.WriteTimeout` once no piece of the body has
        been taken for `write_timeout` seconds (noticed within a quarter more)."""
        task = asyncio.ensure_future(sending)
        loop = asyncio.get_running_loop()
        try:
            while not self._all_taken:
                done, _ = await asyncio.wait({task}, timeout=write_timeout / 4)
                if done:
                    break
                if not self._all_taken and loop.time() - self._taken_at > write_timeout:
                    raise httpx.WriteTimeout("", request=request)
            # The body is out: aiohttp's read timeout bounds the rest.
            return await task
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})


class _ResponseStream(httpx.AsyncByteStream):
    """A response's body as aiohttp reads it, raising httpx's errors."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_CHUNK_BYTES):
                yield chunk
        except aiohttp.ClientError as error:
            raise _httpx_error(error, self._request) from error

    async def aclose(self) -> None:
        # Back to the pool once read to the end; closed otherwise.
        self._response.release()


class _Transport(AiohttpTransport):
    """httpx-aiohttp's transport (its settings, session and closing), sending as below."""

    def get_client(self) -> aiohttp.ClientSession:
        # Built on the first request, inside the event loop that then owns it.
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # httpx-aiohttp's own version hands aiohttp the `httpx.Headers` and the URL as text to
        # parse again; a call costs about a third less CPU this way.
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        headers = _aiohttp_headers(request)
        data: bytes | AsyncIterable[bytes] | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # type: ignore[assignment]
            headers = [
                (name, value) for name, value in headers if name.lower() != "transfer-encoding"
            ]
        timeout = request.extensions.get("timeout", {})
        write_timeout = timeout.get("write")
        upload = None
        if write_timeout is not None and data is not None and _may_stall(data):
            upload = _Upload(data)
            data = upload.chunks()
        proxy = self.proxy
        tunnel_headers = None
        if proxy is not None:
            # As httpx's transport: a proxy's headers (its credentials too) go on the request
            # it forwards, or on the CONNECT of a tunnel to an https server.
            if request.url.scheme == "https":
                tunnel_headers = _proxy_headers(proxy)
            else:
                headers = [*_proxy_headers(proxy).items(), *headers]
        try:
            sending = self.client.request(
                request.method,
                _aiohttp_url(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,
                # httpx sends the Content-Type a request has, or none; aiohttp would add its own.
                skip_auto_headers=None if request.method in _NO_BODY_METHODS else _CONTENT_TYPE,
                auto_decompress=False,
                compress=False,
                timeout=_client_timeout(
                    timeout.get("connect"), timeout.get("read"), timeout.get("pool")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_headers=tunnel_headers,
            )
            if upload is None:
                response = await sending
            else:
                assert write_timeout is not None
                response = await upload.sent_within(sending, write_timeout, request)
            length = response.content_length
            # A small body is read at once, as one piece: reading it through httpx's stream
            # layers costs more than the rest of the transport.
            body = await response.read() if length is not None and length <= _SMALL_BODY else None
        except aiohttp.ClientError as error:
            raise _httpx_error(error, request) from error
        version = response.version or aiohttp.HttpVersion11  # set once the answer has come
        extensions = {
            "http_version": _http_version(version.major, version.minor),
            "reason_phrase": (response.reason or "").encode("latin-1"),
        }
        if body is not None:
            whole = httpx.Response(
                status_code=response.status,
                headers=response.raw_headers,
                stream=httpx.ByteStream(body),
                request=request,
                extensions=extensions,
            )
            # Marked as read: httpx's reading of a body it holds already costs as much as the
            # rest of the transport. Were httpx to keep its body elsewhere, it would read the
            # stream instead, as it does for any response. A compressed body is left for httpx
            # to read, which decodes it (aiohttp is told not to).
            if "Content-Encoding" not in response.headers:
                whole._content = body
            return whole
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            request=request,
            extensions=extensions,
        )


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
