"""Idempotency-Key: replay, 422 on reuse, 409 while in flight, what is (not) stored."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from emulator_helpers import Api, assert_error
from tests.shared import commit_body, create

from mesa_emulator.server import Emulator


def commit_of(path: str, content: str = "x") -> dict[str, Any]:
    return commit_body(f"add {path}", [create(path, content)])


def test_same_key_same_request_replays(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    headers = {"Idempotency-Key": "key-1"}
    first = http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    # Only one commit was made.
    assert len(http.get(f"/{org}/r/commits").json()["commits"]) == 1
    # The same JSON with keys in another order is the same request.
    reordered = dict(reversed(list(commit_of("a").items())))
    assert http.post(f"/{org}/r/commits", json=reordered, headers=headers).status_code == 201


def test_same_key_different_request_is_422(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    headers = {"Idempotency-Key": "key-2"}
    assert http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers).status_code == 201
    assert_error(
        http.post(f"/{org}/r/commits", json=commit_of("b"), headers=headers),
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )
    # Another path with the same key is another request too.
    assert_error(
        http.post(f"/{org}/repos", json={"name": "z"}, headers=headers),
        422,
        "IDEMPOTENCY_KEY_REUSED",
    )


def test_key_in_flight_is_409(emu: Emulator, http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    path = f"/api/v1/{org}/r/commits"
    emu.script_faults(path, [{"delay_ms": 1200}], method="POST")
    headers = {"Idempotency-Key": "slow-1"}
    results: dict[str, httpx.Response] = {}

    def first() -> None:
        results["first"] = http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers)

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 5
    while not emu.fault_log()[0]["faults"][0]["consumed"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}
    ) as other:
        assert_error(
            other.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers),
            409,
            "IDEMPOTENCY_KEY_IN_USE",
        )
    thread.join()
    assert results["first"].status_code == 201
    replay = http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == results["first"].json()


def test_failures_that_are_not_stored(
    http: httpx.Client, org: str, api: Api, emu: Emulator
) -> None:
    api.repo()
    headers = {"Idempotency-Key": "retry-me"}
    # 400: not stored, so the key may be used again (even with another body).
    assert_error(
        http.post(f"/{org}/r/commits", json={"branch": "main"}, headers=headers),
        400,
        "INVALID_REQUEST",
    )
    assert http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers).status_code == 201
    # 503 from a scripted fault happens before idempotency: retrying runs the request.
    emu.script_faults(f"/api/v1/{org}/repos", [{"status": 503, "retry_after": 1}], method="POST")
    k = {"Idempotency-Key": "after-503"}
    assert_error(
        http.post(f"/{org}/repos", json={"name": "n"}, headers=k), 503, "SERVICE_UNAVAILABLE"
    )
    assert http.post(f"/{org}/repos", json={"name": "n"}, headers=k).status_code == 201
    # 403: not stored.
    reader = emu.create_api_key(org, ["repo:read"])
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {reader}"}) as client:
        assert_error(
            client.post(f"/{org}/repos", json={"name": "q"}, headers={"Idempotency-Key": "k403"}),
            403,
            "FORBIDDEN",
        )


def test_other_errors_are_stored_and_replayed(http: httpx.Client, org: str, api: Api) -> None:
    headers = {"Idempotency-Key": "k404"}
    missing = http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers)
    assert_error(missing, 404, "REPO_NOT_FOUND")
    api.repo()
    replay = http.post(f"/{org}/r/commits", json=commit_of("a"), headers=headers)
    assert replay.status_code == 404 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == missing.json()


def test_keys_are_scoped_per_api_key_and_org(
    http: httpx.Client, org: str, api: Api, emu: Emulator
) -> None:
    api.repo()
    headers = {"Idempotency-Key": "shared"}
    assert http.post(f"/{org}/repos", json={"name": "one"}, headers=headers).status_code == 201
    # The same key in another org is another key.
    assert http.post(f"/{org}-2/repos", json={"name": "one"}, headers=headers).status_code == 201
    # The same key with another API key is another key.
    other = emu.create_api_key(org, ["admin"])
    with httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {other}"}) as client:
        response = client.post(f"/{org}/repos", json={"name": "one"}, headers=headers)
        assert_error(response, 409, "REPO_EXISTS")


def test_patch_and_malformed_keys(http: httpx.Client, org: str, api: Api) -> None:
    api.repo("p")
    headers = {"Idempotency-Key": "rename-1"}
    first = http.patch(f"/{org}/p", json={"name": "p2"}, headers=headers)
    assert first.status_code == 200
    replay = http.patch(f"/{org}/p", json={"name": "p2"}, headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    for bad in ["has space", "x" * 256, "tab\there"]:
        assert_error(
            http.post(f"/{org}/repos", json={"name": "y"}, headers={"Idempotency-Key": bad}),
            400,
            "INVALID_PARAMETER",
            parameter="Idempotency-Key",
        )


def test_records_expire_after_their_ttl(http: httpx.Client, org: str, emu: Emulator) -> None:
    headers = {"Idempotency-Key": "short-lived"}
    assert http.post(f"/{org}/repos", json={"name": "a"}, headers=headers).status_code == 201
    saved = emu.state.idempotency_ttl
    emu.state.idempotency_ttl = 0.05
    try:
        time.sleep(0.1)
        # The record is gone: the key starts a new request (which then runs for real).
        again = http.post(f"/{org}/repos", json={"name": "b"}, headers=headers)
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    finally:
        emu.state.idempotency_ttl = saved
    assert emu.state.idempotency_ttl == 24 * 3600
