"""A caller's own httpx client is used as it is: its timeout holds unless `timeout_ms` is given,
and its headers and query parameters are sent; the SDK's own headers win."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.errors import APIError

from .support import GET_REPO, SERVER, make_core, repo_json

REPO_ARGS = {"org": "acme", "repo": "r"}


def recording_client(**settings: Any) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=repo_json())

    return httpx.Client(transport=httpx.MockTransport(handle), **settings), seen


def phases(seconds: float | None) -> dict[str, float | None]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def test_the_client_s_own_timeout_holds_without_timeout_ms() -> None:
    client, seen = recording_client(timeout=httpx.Timeout(1.0, connect=0.25))
    make_core(http_client=client).call(GET_REPO, REPO_ARGS, None, None)
    assert seen[0].extensions["timeout"] == {
        "connect": 0.25,
        "read": 1.0,
        "write": 1.0,
        "pool": 1.0,
    }


def test_timeout_ms_of_the_sdk_client_wins_over_the_httpx_client_s() -> None:
    client, seen = recording_client(timeout=1.0)
    make_core(http_client=client, timeout_ms=2_500).call(GET_REPO, REPO_ARGS, None, None)
    assert seen[0].extensions["timeout"] == phases(2.5)


def test_timeout_ms_of_the_call_wins_over_both() -> None:
    client, seen = recording_client(timeout=1.0)
    core = make_core(http_client=client, timeout_ms=2_500)
    core.call(GET_REPO, REPO_ARGS, None, {"timeout_ms": 300})
    assert seen[0].extensions["timeout"] == phases(0.3)


def test_a_client_without_a_timeout_is_still_cut_at_the_deadline() -> None:
    client, seen = recording_client(timeout=None)
    retries = {"strategy": "backoff", "backoff": {"max_elapsed_time": 4_000}}
    core = make_core(http_client=client, retry_config=retries)
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert seen[0].extensions["timeout"] == phases(4.0)


def test_the_sdk_s_own_clients_take_the_default_timeout() -> None:
    core = make_core()
    assert core._http_client().timeout == httpx.Timeout(30.0)
    assert make_core(timeout_ms=1_500)._http_client().timeout == httpx.Timeout(1.5)


def test_the_client_s_headers_and_query_parameters_are_sent_under_the_sdk_s() -> None:
    client, seen = recording_client(
        headers={"X-Team": "blue", "User-Agent": "theirs/1", "Authorization": "Bearer theirs"},
        params={"trace": "t1"},
    )
    core: ClientCore = make_core(http_client=client)
    core.call(GET_REPO, REPO_ARGS, None, None)
    request = seen[0]
    assert request.url.params["trace"] == "t1"
    assert request.headers["x-team"] == "blue"
    assert request.headers["user-agent"] == "mesa-sdk-python/test"
    assert request.headers["authorization"] != "Bearer theirs"


def moved_once(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/old"):
        return httpx.Response(200, json=repo_json())
    return httpx.Response(302, headers={"Location": f"{SERVER}/acme/old"})


def test_the_client_s_follow_redirects_is_kept() -> None:
    following = httpx.Client(transport=httpx.MockTransport(moved_once), follow_redirects=True)
    assert make_core(http_client=following).call(GET_REPO, REPO_ARGS, None, None).name == "r"
    staying = httpx.Client(transport=httpx.MockTransport(moved_once))
    with pytest.raises(APIError) as caught:
        make_core(http_client=staying).call(GET_REPO, REPO_ARGS, None, None)
    assert caught.value.status_code == 302
