"""Sending a request on an httpx client the SDK built itself, without `Client.send`'s costs.

`Client.send` runs, for every request, machinery the SDK's own clients never use: an auth
flow (they have no auth), event hooks (they have none), a walk of the cookie jar through
urllib's request emulation (even when the server sets no cookie), and a stream wrapper to
time the body. For one small GET on aiohttp's transport, 50 calls in flight, that was a
quarter of a call's CPU. So for the clients it builds, whose settings it knows, the SDK does
what `send` does that matters to them:

- each request goes to the transport httpx would choose (`_transport_for_url`: mounts and
  proxies, respx's mocks too), inside the same error context;
- redirects are followed with httpx's own redirect requests (method, body, `Authorization`
  and cookie rules), up to `max_redirects`, and every other credential header is dropped
  when a redirect leaves the server (httpx drops only `Authorization`);
- a cookie the server sets is kept, and sent by later requests;
- `elapsed`, `history` and httpx's own log line are as `send` gives them.

A client the user passes goes through its own `send`, hooks and auth included, and so does a
streamed response, whose body `send` times as it is read.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable

import httpx

from mesa_sdk._runtime.credentials import is_credential_header

_httpx_logger = logging.getLogger("httpx")


class CredentialStripper:
    """Drops every credential header from a request that leaves the server's origin."""

    def __init__(self, server_url: str) -> None:
        origin = httpx.URL(server_url)
        self._server = (origin.scheme, origin.host, origin.port)

    def __call__(self, request: httpx.Request) -> None:
        if (request.url.scheme, request.url.host, request.url.port) == self._server:
            return
        for name in [name for name in request.headers if is_credential_header(name)]:
            del request.headers[name]


def send(
    client: httpx.Client, request: httpx.Request, strip: Callable[[httpx.Request], None]
) -> httpx.Response:
    """The response to `request` on the SDK's own `client`, its body read, after redirects."""
    _check_open(client)
    history: list[httpx.Response] = []
    while True:
        started = time.perf_counter()
        transport = client._transport_for_url(request.url)  # httpx-private: see the docstring
        try:
            response = transport.handle_request(request)
        except httpx.RequestError as error:
            error.request = request
            raise
        try:
            response.read()
            _received(client, request, response, started, history)
            following = _redirect(client, request, response, history, strip)
        except BaseException:
            response.close()
            raise
        if following is None:
            return response
        request = following


async def send_async(
    client: httpx.AsyncClient, request: httpx.Request, strip: Callable[[httpx.Request], None]
) -> httpx.Response:
    """The response to `request` on the SDK's own `client`, its body read, after redirects."""
    _check_open(client)
    history: list[httpx.Response] = []
    while True:
        started = time.perf_counter()
        transport = client._transport_for_url(request.url)  # httpx-private: see the docstring
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as error:
            error.request = request
            raise
        try:
            await response.aread()
            _received(client, request, response, started, history)
            following = _redirect(client, request, response, history, strip)
        except BaseException:
            await response.aclose()
            raise
        if following is None:
            return response
        request = following


def _check_open(client: httpx.Client | httpx.AsyncClient) -> None:
    if client.is_closed:
        raise RuntimeError("Cannot send a request, as the client has been closed.")


def _received(
    client: httpx.Client | httpx.AsyncClient,
    request: httpx.Request,
    response: httpx.Response,
    started: float,
    history: list[httpx.Response],
) -> None:
    """What `send` records on a response once its body is read."""
    response.request = request
    response.elapsed = datetime.timedelta(seconds=time.perf_counter() - started)
    if history:
        response.history = list(history)
    # Checked first: the cookie jar's own check costs more than the rest of this function.
    if "set-cookie" in response.headers:
        client.cookies.extract_cookies(response)
    if _httpx_logger.isEnabledFor(logging.INFO):
        _httpx_logger.info(
            'HTTP Request: %s %s "%s %d %s"',
            request.method,
            request.url,
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )


def _redirect(
    client: httpx.Client | httpx.AsyncClient,
    request: httpx.Request,
    response: httpx.Response,
    history: list[httpx.Response],
    strip: Callable[[httpx.Request], None],
) -> httpx.Request | None:
    """The request that follows a redirect response, or None for any other response."""
    if not response.has_redirect_location:
        return None
    history.append(response)
    following = client._build_redirect_request(request, response)  # httpx-private
    if len(history) > client.max_redirects:
        raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=following)
    strip(following)
    return following
