"""The API key goes only where it should: never in a log line, an error or a repr (checked for
the whole suite by tests/plugins/secret_guard.py; the first test here proves that check is
armed), never to another host on a redirect, and only over verified TLS."""

from __future__ import annotations

import http.server
import json
import logging
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import APIConnectionError, AuthenticationError, Mesa
from tests.shared import commit_body

from .support import (
    QuietHTTPServer,
    fast_retries,
    loopback_http_server,
    refusing_port,
    sdk_client,
    self_signed_certificate,
    server_port,
)

KEY = "mesa_reliability_fixed_key_0123456789"


# -- the suite-wide check -------------------------------------------------------------------


def test_the_suite_wide_secret_check_is_armed(secret_guard: Any, emu: Emulator, org: str) -> None:
    assert logging.getLogger("mesa_sdk").getEffectiveLevel() == logging.DEBUG
    assert secret_guard.knows(emu.api_key)  # the bootstrap key
    before = secret_guard.pending
    with sdk_client(emu, org) as client:
        created = client.admin.create_api_key(body={"name": "probe", "scopes": ["git:read"]})
        made_here = emu.create_api_key(org, ["git:read"])
    # Keys made through the admin API and directly are both known...
    assert secret_guard.knows(created.key) and secret_guard.knows(made_here)
    # ...the client's repr and each DEBUG line of the call were captured for checking...
    assert secret_guard.pending >= before + 4
    # ...and a text holding a key is caught, and reported with the key masked.
    text = f"Authorization: Bearer {created.key}"
    found = secret_guard.keys_in(text)
    assert len(found) == 1 and found[0] == created.key
    masked = secret_guard.mask(text)
    assert created.key not in masked and "<API key #" in masked


LEAKY_TESTS = """
import logging

from mesa_sdk import APIError, Mesa

KEY = "mesa_planted_key_for_the_leak_check_42"


def test_logs_the_key_elsewhere():
    Mesa(api_key=KEY, server_url="http://127.0.0.1:9/api/v1")
    logging.getLogger("some.library").warning("connecting with %s", KEY)


def test_puts_the_key_in_an_error():
    Mesa(api_key=KEY, server_url="http://127.0.0.1:9/api/v1")
    APIError(f"rejected {KEY}", status_code=401)


def test_stays_clean():
    Mesa(api_key=KEY, server_url="http://127.0.0.1:9/api/v1")
    logging.getLogger("some.library").warning("nothing secret here")
"""


def test_the_secret_check_fails_a_leaking_test_loudly_without_showing_the_key(
    tmp_path: Path,
) -> None:
    """The check itself, run on planted leaks in a separate pytest process."""
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.plugins.secret_guard",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rE",
            str(tmp_path),
        ],
        cwd=tmp_path,
        # Only the check under test: no other plugin slows the start or joins in.
        env={**os.environ, "PYTHONPATH": str(root), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "3 passed, 2 errors" in output, output
    assert "API KEY LEAK in test_leaky.py::test_logs_the_key_elsewhere" in output
    assert "log record some.library WARNING" in output
    assert "connecting with <API key #1 (given to the SDK)>" in output
    assert "API KEY LEAK in test_leaky.py::test_puts_the_key_in_an_error" in output
    assert "exception mesa_sdk.errors.APIError" in output
    assert "test_stays_clean" not in output.split("short test summary")[-1]
    assert "mesa_planted_key_for_the_leak_check_42" not in output


def test_a_rejected_key_is_not_echoed_in_the_error(emu: Emulator, org: str) -> None:
    wrong = "mesa_not_a_key_the_emulator_knows_0000"
    with Mesa(api_key=wrong, server_url=emu.url, org=org) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.repos.list()
        error = caught.value
    leaked = [text for text in (str(error), repr(error), error.body, repr(client)) if wrong in text]
    assert leaked == []


def test_the_repr_of_a_created_key_does_not_show_its_secret(emu: Emulator, org: str) -> None:
    with sdk_client(emu, org) as client:
        created = client.admin.create_api_key(body={"name": "shown-once", "scopes": ["git:read"]})
    shows_secret = created.key in repr(created) or created.key in str(created)
    assert not shows_secret, "the created key's secret is in its repr"


# -- redirects ------------------------------------------------------------------------------


def repo_json(name: str = "r") -> dict[str, Any]:
    return {
        "id": "repo_1",
        "org": "acme",
        "name": name,
        "default_branch": "main",
        "head_sha": None,
        "size_bytes": 0,
        "created_at": "2026-01-01T00:00:00Z",
        "upstream": None,
    }


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with `answer(self)` and records what came."""

    seen: ClassVar[list[dict[str, str]]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def record(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "body": body,
                **{name.lower(): value for name, value in self.headers.items()},
            }
        )

    def reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def recorder(answer: Any) -> type[Recorder]:
    class Handler(Recorder):
        seen: ClassVar[list[dict[str, str]]] = []

        def do_GET(self) -> None:
            self.record()
            answer(self)

        do_POST = do_GET

    return Handler


def commit_result() -> dict[str, Any]:
    return {"sha": "a" * 40, "branch": "main", "message": "m", "parents": []}


def test_a_redirect_to_another_port_does_not_carry_the_key() -> None:
    """Two real loopback servers: A redirects to B, which differs only by its port."""

    def b_answer(handler: Recorder) -> None:
        body = repo_json() if handler.command == "GET" else commit_result()
        handler.reply(200 if handler.command == "GET" else 201, body, {})

    b_handler = recorder(b_answer)
    with loopback_http_server(b_handler) as b:
        b_url = f"http://127.0.0.1:{server_port(b)}"

        def a_answer(handler: Recorder) -> None:
            status = 302 if handler.command == "GET" else 307
            handler.reply(status, {}, {"location": b_url + handler.path})

        a_handler = recorder(a_answer)
        with loopback_http_server(a_handler) as a:
            server_url = f"http://127.0.0.1:{server_port(a)}/api/v1"
            # A credential in a header of the caller's own travels no further than the key.
            extra = {"X-Api-Token": "token-for-a-only-1234", "X-Trace": "kept"}
            with Mesa(api_key=KEY, server_url=server_url, org="acme", headers=extra) as client:
                assert client.repos.get(repo="r").name == "r"
                made = client.commits.create(
                    repo="r",
                    body=commit_body("m", [{"path": "a", "action": "create", "content": "x"}]),
                )
                assert made.sha == "a" * 40

    assert [request["method"] for request in a_handler.seen] == ["GET", "POST"]
    assert all(request["authorization"] == f"Bearer {KEY}" for request in a_handler.seen)
    # B got both requests (the POST re-sent whole on a 307), and never the key.
    assert [request["method"] for request in b_handler.seen] == ["GET", "POST"]
    assert json.loads(b_handler.seen[1]["body"])["message"] == "m"
    assert all(request["x-api-token"] == "token-for-a-only-1234" for request in a_handler.seen)
    for request in b_handler.seen:
        assert "authorization" not in request
        assert "x-api-token" not in request
        assert request["x-trace"] == "kept"
        assert all(KEY not in value for value in request.values())


def test_a_redirect_on_the_same_origin_keeps_the_key() -> None:
    def answer(handler: Recorder) -> None:
        if handler.path.endswith("/old"):
            handler.reply(301, {}, {"location": handler.path.replace("/old", "/r")})
        else:
            handler.reply(200, repo_json(), {})

    handler = recorder(answer)
    with loopback_http_server(handler) as server:
        server_url = f"http://127.0.0.1:{server_port(server)}/api/v1"
        with Mesa(api_key=KEY, server_url=server_url, org="acme") as client:
            assert client.repos.get(repo="old").name == "r"
    assert [request["path"] for request in handler.seen] == ["/api/v1/acme/old", "/api/v1/acme/r"]
    assert all(request["authorization"] == f"Bearer {KEY}" for request in handler.seen)


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_server(certificate: tuple[Path, Path]) -> Any:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = recorder(lambda h: h.reply(200, repo_json(), {}))
    with loopback_http_server(handler, ssl_context=context) as server:
        yield server, cert


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def test_tls_is_verified_by_default_and_a_bad_certificate_is_not_retried(
    https_server: tuple[QuietHTTPServer, Path],
) -> None:
    server, _ = https_server
    url = f"https://127.0.0.1:{server_port(server)}/api/v1"
    with (
        Mesa(api_key=KEY, server_url=url, org="acme", retry_config=fast_retries()) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.repos.get(repo="r")
    error = caught.value
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _chain(error))
    assert re.fullmatch(
        re.escape(
            f"repos.get: GET {url}/acme/r failed: cannot connect to https://127.0.0.1:"
            f"{server_port(server)}: TLS handshake failed: certificate verify failed "
            "(self-signed certificate) (1 attempt over "
        )
        + r"\d+\.\d s\)",
        str(error),
    ), str(error)
    # Not retried: one attempt, one connection.
    assert error.attempts == 1
    assert server.connections == 1


async def test_the_async_client_verifies_tls_too(
    https_server: tuple[QuietHTTPServer, Path],
) -> None:
    server, _ = https_server
    url = f"https://127.0.0.1:{server_port(server)}/api/v1"
    async with Mesa(api_key=KEY, server_url=url, org="acme", retry_config=fast_retries()) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.repos.get_async(repo="r")
    assert any(isinstance(cause, ssl.SSLCertVerificationError) for cause in _chain(caught.value))
    assert caught.value.attempts == 1 and server.connections == 1


def test_the_same_server_is_reached_when_its_certificate_is_trusted(
    https_server: tuple[QuietHTTPServer, Path],
) -> None:
    """The control: the failure above is the certificate check, not a broken server."""
    server, cert = https_server
    url = f"https://127.0.0.1:{server_port(server)}/api/v1"
    trusting = httpx.Client(verify=ssl.create_default_context(cafile=str(cert)))
    try:
        with Mesa(api_key=KEY, server_url=url, org="acme", client=trusting) as client:
            assert client.repos.get(repo="r").name == "r"
    finally:
        trusting.close()


# -- MESA_LOG -------------------------------------------------------------------------------

RETRYING_SCRIPT = """
import logging, sys

from mesa_sdk import APIConnectionError, Mesa

key, url = sys.argv[1], sys.argv[2]
retries = {
    "strategy": "backoff",
    "backoff": {"initial_interval": 50, "max_interval": 100},
    "max_unreachable_time": 300,
}
with Mesa(api_key=key, server_url=url, org="acme", retry_config=retries) as client:
    try:
        client.repos.get(repo="r")
    except APIConnectionError:
        pass
# A record that quotes the key on a child logger: the stderr handler scrubs it too.
logging.getLogger("mesa_sdk.probe").info("the key is %s", key)
"""


def test_mesa_log_info_prints_retries_on_stderr_without_the_key(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/api/v1"
        result = subprocess.run(
            [sys.executable, "-c", RETRYING_SCRIPT, KEY, url],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(root / "src"), "MESA_LOG": "info"},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert result.stdout == ""
    assert KEY not in result.stderr
    # Each line: "<date> <time> <logger> <LEVEL>: <message>".
    lines = [line.split(" ", 2)[2] for line in result.stderr.splitlines()]
    refused = f"cannot connect to http://127.0.0.1:{port}: connection refused"
    retrying = re.compile(
        r"mesa_sdk INFO: repos\.get: retrying GET /api/v1/acme/r in 0\.\d\d s \(attempt (\d) of "
        rf"the call, \d\.\d s elapsed\): {re.escape(refused)}"
    )
    retries = [retrying.fullmatch(line) for line in lines[:-2]]
    assert all(retries) and len(retries) >= 2, lines
    assert [int(match[1]) for match in retries if match] == list(range(2, len(retries) + 2))
    assert re.fullmatch(
        rf"mesa_sdk INFO: repos\.get: giving up on GET /api/v1/acme/r after {len(retries) + 1} "
        rf"attempts over \d\.\d s: {re.escape(refused)}; waiting 0\.\d\d s \(backoff\) would pass "
        r"max_unreachable_time \(300 ms\)",
        lines[-2],
    ), lines[-2]
    assert lines[-1] == "mesa_sdk.probe INFO: the key is [redacted]"
