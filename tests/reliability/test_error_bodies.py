"""Whatever a server sends back as an error, the caller gets the status's error class, and
never the key it sent: real HTTP on loopback from servers that echo and that misbehave."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator

import pytest

from mesa_sdk import AuthenticationError, Mesa, ServerError, ValidationError

from .support import QuietHTTPServer, fast_retries, loopback_http_server, server_port

KEY = "mesa_reliability_echoed_key_0123456789"
TOKEN = "tok_caller_header_secret_42"
DEEP = 10_000


class MisbehavingHandler(http.server.BaseHTTPRequestHandler):
    """`/echo` answers 401 with the request's headers in the envelope's message and details;
    `/deep<status>` answers a JSON array nested 10,000 deep."""

    def do_GET(self) -> None:
        if self.path.endswith("/echo"):
            status = 401
            headers = dict(self.headers.items())
            body = json.dumps(
                {
                    "error": {
                        "code": "UNAUTHORIZED",
                        "message": f"rejected Authorization: {self.headers.get('Authorization')}",
                        "details": {"received_headers": headers},
                    }
                }
            )
        else:
            status = int(self.path[-3:])
            body = "[" * DEEP + "]" * DEEP
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def misbehaving() -> Iterator[QuietHTTPServer]:
    with loopback_http_server(MisbehavingHandler) as server:
        yield server


def client_of(server: QuietHTTPServer) -> Mesa:
    return Mesa(
        api_key=KEY,
        server_url=f"http://127.0.0.1:{server_port(server)}/api/v1",
        org="acme",
        headers={"X-Api-Token": TOKEN},
        retry_config=fast_retries(max_elapsed_ms=300),
    )


def test_an_error_echoing_the_key_does_not_show_it(misbehaving: QuietHTTPServer) -> None:
    with client_of(misbehaving) as client, pytest.raises(AuthenticationError) as caught:
        client.repos.get(repo="echo")
    error = caught.value
    assert error.status_code == 401 and error.code == "UNAUTHORIZED"
    assert error.message == "rejected Authorization: Bearer [redacted]"
    received = error.details["received_headers"]
    assert received["authorization"] == "Bearer [redacted]"
    assert received["x-api-token"] == "[redacted]"
    assert received["user-agent"].startswith("mesa-sdk-python/")
    for text in (str(error), repr(error), error.message, repr(error.details), error.body):
        assert KEY not in text and TOKEN not in text, text


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, ValidationError), (422, ValidationError), (503, ServerError)]
)
def test_an_error_body_nested_10000_deep_raises_the_status_s_class(
    misbehaving: QuietHTTPServer, status: int, error_class: type[Exception]
) -> None:
    with client_of(misbehaving) as client, pytest.raises(error_class) as caught:
        client.repos.get(repo=f"deep{status}")
    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status  # type: ignore[attr-defined]
    assert error.code is None and error.details == {}  # type: ignore[attr-defined]
