"""A server that is not there fails the call within seconds, with default settings, saying
what was tried; one that is restarting is waited for. Real sockets on loopback.

The bounds asserted ("ends within 15 s") are the promise itself, with the default
`max_unreachable_time` of 10 s; tests/runtime/test_transport_failures.py pins the arithmetic.
"""

from __future__ import annotations

import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from mesa_sdk import APIConnectionError, Mesa

from .support import QuietHTTPServer, loopback_http_server, refusing_port, server_port

KEY = "mesa_reliability_unreachable_key_42"
PROMISED_S = 15.0
REPO = {
    "id": "repo_1",
    "org": "acme",
    "name": "r",
    "default_branch": "main",
    "head_sha": None,
    "size_bytes": 0,
    "created_at": "2026-12-01T00:00:00Z",
    "upstream": None,
}


class RepoHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(REPO).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def server_listening_after(seconds: float) -> Iterator[int]:
    """A loopback HTTP server that refuses connections for `seconds`, then answers: a restart."""
    server = QuietHTTPServer(("127.0.0.1", 0), RepoHandler, bind_and_activate=False)
    server.server_bind()
    stop, serving = threading.Event(), threading.Event()

    def come_back() -> None:
        if stop.wait(seconds):
            return
        server.server_activate()
        serving.set()
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=come_back, daemon=True)
    thread.start()
    try:
        yield server_port(server)
    finally:
        stop.set()
        if serving.is_set():  # shutdown() waits for serve_forever, which may never have run
            server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def attempts_over(message: str, prefix: str) -> tuple[int, float]:
    """The attempts and seconds at the end of an error message that starts with `prefix`."""
    match = re.fullmatch(re.escape(prefix) + r" \((\d+) attempts over (\d+\.\d) s\)", message)
    assert match, message
    return int(match[1]), float(match[2])


def failed_get(url: str) -> tuple[APIConnectionError, float]:
    """The error `repos.get` raises against `url` with default settings, and the seconds it
    took to raise it."""
    with Mesa(api_key=KEY, server_url=url, org="acme") as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as caught:
            client.repos.get(repo="r")
        return caught.value, time.monotonic() - started


def test_a_closed_port_fails_within_seconds_saying_what_was_tried() -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/api/v1"
        error, elapsed = failed_get(url)
    assert elapsed < PROMISED_S, elapsed
    attempts, reported = attempts_over(
        str(error),
        f"repos.get: GET {url}/acme/r failed: cannot connect to http://127.0.0.1:{port}: "
        "connection refused",
    )
    # The default backoff fits 5 to 7 waits in 10 s, whatever its jitter draws.
    assert 6 <= attempts <= 8 and error.attempts == attempts
    assert 4.0 <= reported <= elapsed + 0.05  # reported to a tenth of a second


async def test_the_async_client_reads_the_refusal_behind_anyio_s_summary_error() -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/api/v1"
        retries = {"strategy": "backoff", "backoff": {}, "max_unreachable_time": 1_000}
        async with Mesa(api_key=KEY, server_url=url, org="acme", retry_config=retries) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.repos.get_async(repo="r")
    attempts, _ = attempts_over(
        str(caught.value),
        f"repos.get: GET {url}/acme/r failed: cannot connect to http://127.0.0.1:{port}: "
        "connection refused",
    )
    assert attempts >= 2


def test_https_to_a_plain_http_port_fails_at_once_with_one_attempt() -> None:
    with loopback_http_server(RepoHandler) as server:
        port = server_port(server)
        url = f"https://127.0.0.1:{port}/api/v1"
        error, elapsed = failed_get(url)
        assert server.connections == 1
    assert elapsed < 5.0, elapsed
    assert error.attempts == 1
    message = str(error)
    prefix = f"repos.get: GET {url}/acme/r failed: cannot connect to https://127.0.0.1:{port}: "
    # OpenSSL 3 says "wrong version number"; newer releases may say "record layer failure".
    assert re.fullmatch(
        re.escape(prefix)
        + r"TLS handshake failed: (wrong version number|record layer failure), is the server "
        r"speaking plain HTTP\? \(1 attempt over \d+\.\d s\)",
        message,
    ), message


def test_a_name_that_does_not_resolve_fails_within_seconds() -> None:
    host = "nonexistent.invalid"  # RFC 6761: never resolves, answered by the local resolver
    started = time.monotonic()
    with suppress(socket.gaierror):
        socket.getaddrinfo(host, 80)
    if time.monotonic() - started > 1.0:
        pytest.skip("this machine's resolver is slow to refuse a .invalid name")
    url = f"http://{host}:8080/api/v1"
    error, elapsed = failed_get(url)
    assert elapsed < PROMISED_S, elapsed
    attempts, _ = attempts_over(
        str(error),
        f"repos.get: GET {url}/acme/r failed: cannot connect to http://{host}:8080: "
        "name not resolved",
    )
    assert attempts >= 6


def test_a_server_that_comes_back_after_2_s_is_reached() -> None:
    with server_listening_after(2.0) as port:
        url = f"http://127.0.0.1:{port}/api/v1"
        with Mesa(api_key=KEY, server_url=url, org="acme") as client:
            started = time.monotonic()
            repo = client.repos.get(repo="r")
            elapsed = time.monotonic() - started
    assert repo.name == "r"
    assert 2.0 <= elapsed < PROMISED_S, elapsed
