"""Clients are cheap to build, open connections on first use, and close only what they own."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import respx

from mesa_sdk._runtime.client import BaseClient, BaseResource
from mesa_sdk._runtime.core import ClientCore
from tests.shared import serving

from .support import GET_REPO, SERVER, make_core, repo_json

REPO_URL = f"{SERVER}/acme/r"
REPO_ARGS = {"org": "acme", "repo": "r"}
SRC = Path(__file__).resolve().parents[2] / "src"


class Mesa(BaseClient):
    """Stands in for the generated client."""


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=repo_json())


def test_no_http_client_is_built_until_the_first_call(router: respx.MockRouter) -> None:
    router.get(REPO_URL).respond(200, json=repo_json())
    core = make_core()
    assert core._own_http_client is None
    assert core._own_async_http_clients is None
    core.call(GET_REPO, REPO_ARGS, None, None)
    first = core._own_http_client
    assert first is not None
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert core._own_http_client is first
    assert first.follow_redirects is True
    assert core._own_async_http_clients is None


def test_close_closes_the_sdk_s_own_client_and_a_later_call_opens_a_new_one(
    router: respx.MockRouter,
) -> None:
    router.get(REPO_URL).respond(200, json=repo_json())
    core = make_core()
    core.call(GET_REPO, REPO_ARGS, None, None)
    own = core._own_http_client
    assert own is not None
    core.close()
    assert own.is_closed
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert core._own_http_client is not None and core._own_http_client is not own


def test_a_user_supplied_client_is_used_and_never_closed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    user_client = httpx.Client(transport=httpx.MockTransport(handler), headers={"X-User": "1"})
    with Mesa(make_core(http_client=user_client)) as client:
        client._core.call(GET_REPO, REPO_ARGS, None, None)
    assert len(seen) == 1
    assert seen[0].headers["X-User"] == "1"  # the user's client defaults still apply
    assert not user_client.is_closed
    user_client.close()


async def test_a_user_supplied_async_client_is_used_and_never_closed() -> None:
    user_client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with Mesa(make_core(async_http_client=user_client)) as client:
        repo = await client._core.call_async(GET_REPO, REPO_ARGS, None, None)
    assert repo.name == "r"
    assert not user_client.is_closed
    await user_client.aclose()


async def test_aclose_closes_the_sdk_s_async_client(router: respx.MockRouter) -> None:
    router.get(REPO_URL).respond(200, json=repo_json())
    core = make_core()
    await core.call_async(GET_REPO, REPO_ARGS, None, None)
    pools = core._own_async_http_clients
    assert pools is not None
    (own,) = pools.clients()
    await core.aclose()
    assert own.is_closed
    assert pools.clients() == []


def test_base_client_surface() -> None:
    core = make_core()
    client = Mesa(core)
    assert client.hooks is core.hooks
    assert client.server_url == SERVER
    assert repr(client) == f"Mesa(server_url='{SERVER}')"
    assert repr(BaseResource(core)) == f"BaseResource(server_url='{SERVER}')"
    with client as entered:
        assert entered is client


# -- a real server on loopback ----------------------------------------------------------------


class _RepoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connections are pooled

    def do_GET(self) -> None:
        body = json.dumps(repo_json()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def loopback_url() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _RepoHandler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"


@pytest.mark.parametrize("async_transport", ["httpx", "aiohttp"], indirect=True)
@pytest.mark.filterwarnings("error::ResourceWarning")
def test_one_client_serves_several_event_loops(loopback_url: str, async_transport: str) -> None:
    core = make_core(server_url=loopback_url)
    # Each asyncio.run() closes its loop; pooled connections of a closed loop must not be
    # reused, and are closed as the loop ends.
    for _ in range(3):
        repo = asyncio.run(core.call_async(GET_REPO, REPO_ARGS, None, None))
        assert repo.name == "r"
    pools = core._own_async_http_clients
    assert pools is not None
    assert all(client.is_closed for client in pools.clients())
    assert core.call(GET_REPO, REPO_ARGS, None, None).name == "r"
    core.close()
    gc.collect()  # a socket left open would warn now


def test_building_a_client_is_cheap() -> None:
    """No httpx client, no asyncio, no pydantic model machinery until a call needs them."""
    script = """
import sys
from mesa_sdk._runtime.config import BackoffStrategy, RetryConfig, SdkDefaults
from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.client import BaseClient
from mesa_sdk._runtime.errors import APIError, ErrorMap

defaults = SdkDefaults(
    server_url="https://depot.test/api/v1", timeout_ms=1000,
    retry_config=RetryConfig("backoff", BackoffStrategy()), api_key_env="X_KEY",
    server_url_env="X_URL", user_agent="ua",
    error_map=ErrorMap(by_status={}, by_code={}, client_error=APIError, server_error=APIError),
)
import httpx
built = []
httpx.Client.__init__ = lambda *a, **k: built.append(a)
core = ClientCore(defaults, api_key="k" * 20, server_url=None, param_defaults={"org": None},
                  timeout_ms=None, retry_config={"strategy": "none"}, headers={"X-A": "b"},
                  http_client=None, async_http_client=None)
BaseClient(core)
heavy = ("asyncio", "pydantic.main", "pydantic.type_adapter", "difflib")
loaded = [m for m in heavy if m in sys.modules]
print(loaded, len(built))
"""
    environment = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout.strip() == "[] 0"


def _collect_warnings(drop: Callable[[], None]) -> list[str]:
    """The ResourceWarnings issued while `drop` lets go of a client and it is collected."""
    gc.collect()  # earlier tests' garbage is not this test's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drop()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


def test_an_unclosed_client_warns_and_closes_its_connections(loopback_url: str) -> None:
    core = make_core(server_url=loopback_url)
    core.call(GET_REPO, REPO_ARGS, None, None)
    own = core._own_http_client
    assert own is not None and not own.is_closed

    def drop() -> None:
        nonlocal core
        del core

    assert _collect_warnings(drop) == [
        "unclosed Mesa client: its connections are closed now; "
        "call close() or use `with Mesa() as client:`"
    ]
    assert own.is_closed


def test_an_unclosed_async_client_is_reported_while_its_loop_runs(loopback_url: str) -> None:
    reported: list[str] = []

    async def use_and_drop() -> None:
        core: ClientCore | None = make_core(server_url=loopback_url)
        assert core is not None
        await core.call_async(GET_REPO, REPO_ARGS, None, None)

        def drop() -> None:
            nonlocal core
            core = None

        reported.extend(_collect_warnings(drop))

    asyncio.run(use_and_drop())
    assert reported == [
        "unclosed Mesa client: its async connections leak; "
        "await aclose() or use `async with Mesa() as client:`"
    ]


def test_an_async_client_is_closed_when_its_loop_ends(loopback_url: str) -> None:
    core = make_core(server_url=loopback_url)

    async def use() -> httpx.AsyncClient:
        await core.call_async(GET_REPO, REPO_ARGS, None, None)
        return core._async_http_client()

    pool = asyncio.run(use())
    assert pool.is_closed

    def drop() -> None:
        nonlocal core
        del core

    # The loop's shutdown closed the pool, so letting go of the client is silent.
    assert [m for m in _collect_warnings(drop) if not m.startswith("unclosed transport")] == []


def test_a_closed_or_unused_client_is_collected_silently(loopback_url: str) -> None:
    closed = make_core(server_url=loopback_url)
    closed.call(GET_REPO, REPO_ARGS, None, None)
    closed.close()

    async def use_and_aclose(core: ClientCore) -> None:
        await core.call_async(GET_REPO, REPO_ARGS, None, None)
        await core.aclose()

    aclosed = make_core(server_url=loopback_url)
    asyncio.run(use_and_aclose(aclosed))
    unused = make_core(server_url=loopback_url)
    given = httpx.Client()
    not_ours = make_core(server_url=loopback_url, http_client=given)
    not_ours.call(GET_REPO, REPO_ARGS, None, None)

    def drop() -> None:
        nonlocal closed, aclosed, unused, not_ours
        del closed, aclosed, unused, not_ours

    assert _collect_warnings(drop) == []
    assert not given.is_closed  # the user's client is the user's to close
    given.close()


def test_the_warning_is_an_error_under_w_error_resourcewarning(loopback_url: str) -> None:
    # What `python -W error::ResourceWarning` shows a user who forgot close(): the finalizer's
    # warning, raised as an error, reported as an exception ignored in it.
    script = (
        "import gc\n"
        "from mesa_sdk import Mesa\n"
        f"client = Mesa(api_key='k', server_url={loopback_url!r}, org='acme')\n"
        "client.repos.with_raw_response.get(repo='r')  # no parsing: the server's repo is partial\n"
        "del client\n"
        "gc.collect()\n"
        "print('collected')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "collected\n"
    assert done.stderr.splitlines()[-1] == (
        "ResourceWarning: unclosed Mesa client: its connections are closed now; "
        "call close() or use `with Mesa() as client:`"
    )
