"""`sending`: the SDK's own clients send without `Client.send`, and must behave exactly as it.

The oracle is httpx itself: each exchange is run through `Client.send` (with the SDK's
credential stripper as a request hook, as the SDK's own clients carry it) and through
`sending.send`, against the same scripted server, and what the server received at every hop
and what the caller got back must be the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from mesa_sdk._runtime import sending

SERVER = "http://api.test"
STRIP = sending.CredentialStripper(SERVER)


@dataclass
class Exchange:
    """A scripted server: its answer to each URL (one URL redirecting to itself loops)."""

    answers: dict[str, Callable[[httpx.Request], httpx.Response]]
    received: list[tuple[str, str, list[tuple[str, str]], bytes]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.received.append(
            (request.method, str(request.url), sorted(request.headers.items()), request.read())
        )
        return self.answers[str(request.url.copy_with(query=None))](request)


def redirect(
    status: int, location: str, **headers: str
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(status, headers={"Location": location, **headers})


def ok(body: bytes = b'{"ok":true}', **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(
        200, headers=headers, content=body + request.headers.get("cookie", "").encode()
    )


# name: (method, url, body, headers, answers)
SCENARIOS: dict[
    str, tuple[str, str, bytes | None, dict[str, str], dict[str, Callable[..., httpx.Response]]]
] = {
    "a plain answer": ("GET", f"{SERVER}/ok", None, {}, {f"{SERVER}/ok": ok()}),
    "a POST through 302, 303 and 307 to another host": (
        "POST",
        f"{SERVER}/a",
        b'{"name":"x"}',
        {"authorization": "Bearer k", "x-api-key": "k", "content-type": "application/json"},
        {
            f"{SERVER}/a": redirect(302, "/b"),
            f"{SERVER}/b": redirect(303, f"{SERVER}/c"),
            f"{SERVER}/c": redirect(307, "https://other.test/d"),
            "https://other.test/d": ok(),
        },
    ),
    "a PUT kept whole through 308": (
        "PUT",
        f"{SERVER}/x",
        b"payload",
        {"authorization": "Bearer k"},
        {f"{SERVER}/x": redirect(308, f"{SERVER}/y"), f"{SERVER}/y": ok()},
    ),
    "a cookie set on the way is sent on": (
        "GET",
        f"{SERVER}/login",
        None,
        {},
        {
            f"{SERVER}/login": redirect(302, "/home?tab=1", **{"set-cookie": "session=s1; Path=/"}),
            f"{SERVER}/home": ok(),
        },
    ),
    "http upgraded to https on the same host keeps Authorization": (
        "GET",
        f"{SERVER}/a",
        None,
        {"authorization": "Bearer k", "x-api-key": "k"},
        {f"{SERVER}/a": redirect(301, "https://api.test/a"), "https://api.test/a": ok()},
    ),
}


def _outcome(client: httpx.Client | httpx.AsyncClient, response: httpx.Response) -> object:
    return (
        response.status_code,
        str(response.url),
        response.content,
        [(past.status_code, str(past.url)) for past in response.history],
        [len(past.history) for past in response.history],
        response.request.method,
        sorted(client.cookies.items()),
        response.is_closed,
    )


def _run_sync(scenario: str, *, ours: bool) -> tuple[object, list[object]]:
    method, url, body, headers, answers = SCENARIOS[scenario]
    exchange = Exchange(answers)
    with httpx.Client(
        transport=httpx.MockTransport(exchange.handle),
        follow_redirects=True,
        event_hooks={"request": [STRIP]},
    ) as client:
        request = client.build_request(method, url, headers=headers, content=body)
        response = sending.send(client, request, STRIP) if ours else client.send(request)
        return _outcome(client, response), list(exchange.received)


async def _run_async(scenario: str, *, ours: bool) -> tuple[object, list[object]]:
    method, url, body, headers, answers = SCENARIOS[scenario]
    exchange = Exchange(answers)

    async def strip(request: httpx.Request) -> None:
        STRIP(request)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(exchange.handle),
        follow_redirects=True,
        event_hooks={"request": [strip]},
    ) as client:
        request = client.build_request(method, url, headers=headers, content=body)
        response = (
            await sending.send_async(client, request, STRIP) if ours else await client.send(request)
        )
        return _outcome(client, response), list(exchange.received)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_exchange_goes_as_httpx_s_own_send_makes_it(scenario: str) -> None:
    assert _run_sync(scenario, ours=True) == _run_sync(scenario, ours=False)


@pytest.mark.parametrize("async_transport", ["httpx"], indirect=True)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_each_exchange_goes_as_httpx_s_own_async_send_makes_it(
    scenario: str, async_transport: str
) -> None:
    assert await _run_async(scenario, ours=True) == await _run_async(scenario, ours=False)


def test_the_time_a_response_took_is_recorded() -> None:
    with httpx.Client(transport=httpx.MockTransport(ok())) as client:
        response = sending.send(client, client.build_request("GET", f"{SERVER}/ok"), STRIP)
    assert response.elapsed.total_seconds() >= 0


def test_a_redirect_to_another_host_drops_every_credential_header() -> None:
    _, received = _run_sync("a POST through 302, 303 and 307 to another host", ours=True)
    last_headers = dict(received[-1][2])  # type: ignore[index]
    assert received[-1][1] == "https://other.test/d"  # type: ignore[index]
    assert "authorization" not in last_headers
    assert "x-api-key" not in last_headers
    # 307 keeps the method and body that 303 turned into a GET without one.
    assert [hop[0] for hop in received] == ["POST", "GET", "GET", "GET"]  # type: ignore[index]


def test_endless_redirects_stop_where_httpx_stops_them() -> None:
    answers = {f"{SERVER}/loop": redirect(302, "/loop")}
    errors = []
    for ours in (True, False):
        exchange = Exchange(answers)
        with httpx.Client(
            transport=httpx.MockTransport(exchange.handle), follow_redirects=True, max_redirects=3
        ) as client:
            request = client.build_request("GET", f"{SERVER}/loop")
            with pytest.raises(httpx.TooManyRedirects) as raised:
                sending.send(client, request, STRIP) if ours else client.send(request)
            errors.append(
                (str(raised.value), str(raised.value.request.url), len(exchange.received))
            )
    assert errors[0] == errors[1] == ("Exceeded maximum allowed redirects.", f"{SERVER}/loop", 4)


def test_a_transport_error_names_the_request_it_failed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        request = client.build_request("GET", f"{SERVER}/ok")
        with pytest.raises(httpx.ConnectError) as raised:
            sending.send(client, request, STRIP)
    assert raised.value.request is request


def test_a_closed_client_refuses_as_httpx_does() -> None:
    client = httpx.Client(transport=httpx.MockTransport(ok()))
    request = client.build_request("GET", f"{SERVER}/ok")
    client.close()
    with pytest.raises(RuntimeError) as raised:
        sending.send(client, request, STRIP)
    assert str(raised.value) == "Cannot send a request, as the client has been closed."


def test_httpx_s_own_log_line_is_written(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    with httpx.Client(transport=httpx.MockTransport(ok())) as client:
        sending.send(client, client.build_request("GET", f"{SERVER}/ok"), STRIP)
    assert [record.getMessage() for record in caplog.records] == [
        f'HTTP Request: GET {SERVER}/ok "HTTP/1.1 200 OK"'
    ]
