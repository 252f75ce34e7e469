"""The test control plane: scripted faults, their consumption log, rate limit, reset."""

from __future__ import annotations

import time

import httpx
import pytest
from emulator_helpers import Api, assert_error
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator


def test_status_fault_answers_without_running_the_handler(
    emu: Emulator, http: httpx.Client, org: str
) -> None:
    emu.script_faults(f"/api/v1/{org}/repos", [{"status": 503, "retry_after": 2}], method="POST")
    response = http.post(f"/{org}/repos", json={"name": "r"})
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == "2"
    assert http.get(f"/{org}/repos").json()["repos"] == []
    assert http.post(f"/{org}/repos", json={"name": "r"}).status_code == 201


def test_faults_apply_in_order_one_per_request(emu: Emulator, http: httpx.Client, org: str) -> None:
    script = emu.script_faults(
        f"/api/v1/{org}/*",
        [
            {"status": 500},
            {"status": 429, "retry_after": 1},
            {"status": 418, "code": "TEAPOT", "message": "short and stout"},
        ],
    )
    assert_error(http.get(f"/{org}/repos"), 500, "INTERNAL_ERROR")
    limited = http.get(f"/{org}/x")
    assert_error(limited, 429, "RATE_LIMITED")
    assert limited.headers["retry-after"] == "1"
    teapot = assert_error(http.get(f"/{org}/repos"), 418, "TEAPOT")
    assert teapot["message"] == "short and stout"
    assert http.get(f"/{org}/repos").status_code == 200
    log = emu.fault_log()
    assert [s["id"] for s in log] == [script]
    faults = log[0]["faults"]
    assert [f["consumed"] for f in faults] == [True, True, True]
    assert faults[1]["request"]["path"] == f"/api/v1/{org}/x"
    assert faults[1]["request"]["method"] == "GET"
    assert faults[0]["request"]["request_id"].startswith("req_")
    assert log[0]["remaining"] == 0


def test_glob_and_method_matching(emu: Emulator, http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    emu.script_faults("/api/v1/*/*/commits", [{"status": 503}], method="POST")
    # GET does not match the method; /commits/<sha> does not match the glob.
    assert http.get(f"/{org}/r/commits").status_code == 200
    assert http.get(f"/{org}/r/commits/{'a' * 40}").status_code == 404
    assert_error(
        http.post(
            f"/{org}/r/commits",
            json={
                "branch": "main",
                "message": "m",
                "author": AUTHOR,
                "edits": [{"path": "a", "action": "create", "content": "x"}],
            },
        ),
        503,
        "SERVICE_UNAVAILABLE",
    )
    log = emu.fault_log()[0]["faults"][0]
    assert log["consumed"] and log["consumed_at"].endswith("Z")
    assert log["request"]["method"] == "POST"


def test_delay_then_handle(emu: Emulator, http: httpx.Client, org: str) -> None:
    emu.script_faults(f"/api/v1/{org}/repos", [{"delay_ms": 400}], method="POST")
    start = time.monotonic()
    response = http.post(f"/{org}/repos", json={"name": "slow"})
    assert response.status_code == 201
    assert time.monotonic() - start >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        emu.script_faults(f"/api/v1/{org}/slow", [{"delay_ms": 1000}])
        http.get(f"/{org}/slow", timeout=0.2)


def test_delay_applies_to_requests_that_fail_early(emu: Emulator, org: str) -> None:
    emu.script_faults(f"/api/v1/{org}/repos", [{"delay_ms": 300}])
    start = time.monotonic()
    assert_error(httpx.get(f"{emu.url}/{org}/repos"), 401, "UNAUTHENTICATED")
    assert time.monotonic() - start >= 0.3


def test_drop_before_handles_nothing(emu: Emulator, http: httpx.Client, org: str) -> None:
    emu.script_faults(f"/api/v1/{org}/repos", [{"drop": "before"}], method="POST")
    with pytest.raises(httpx.TransportError):
        http.post(f"/{org}/repos", json={"name": "never"})
    assert http.get(f"/{org}/repos").json()["repos"] == []
    assert emu.fault_log()[0]["faults"][0]["consumed"] is True


def test_drop_after_does_the_work_but_loses_the_answer(
    emu: Emulator, http: httpx.Client, org: str, api: Api
) -> None:
    api.repo()
    emu.script_faults(f"/api/v1/{org}/r/commits", [{"drop": "after"}], method="POST")
    body = {
        "branch": "main",
        "message": "made anyway",
        "author": AUTHOR,
        "edits": [{"path": "a", "action": "create", "content": "x"}],
    }
    with pytest.raises(httpx.TransportError):
        http.post(f"/{org}/r/commits", json=body, headers={"Idempotency-Key": "drop-1"})
    commits = http.get(f"/{org}/r/commits").json()["commits"]
    assert [c["message"] for c in commits] == ["made anyway"]
    # The retry with the same key replays the answer the client never got.
    retry = http.post(f"/{org}/r/commits", json=body, headers={"Idempotency-Key": "drop-1"})
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["sha"] == commits[0]["sha"]
    assert len(http.get(f"/{org}/r/commits").json()["commits"]) == 1


def test_control_plane_over_http(emu: Emulator, http: httpx.Client, org: str) -> None:
    control = emu.control_url
    assert httpx.get(f"{control}/health").json() == {"status": "ok"}
    created = httpx.post(
        f"{control}/faults",
        json={
            "method": "GET",
            "path": f"/api/v1/{org}/repos",
            "faults": [{"status": 502}, {"delay_ms": 10}],
        },
    )
    assert created.status_code == 201 and created.json()["id"].startswith("flt_")
    assert created.headers["x-request-id"]
    assert_error(http.get(f"/{org}/repos"), 502, "INTERNAL_ERROR")
    listed = httpx.get(f"{control}/faults").json()["scripts"]
    assert listed[0]["id"] == created.json()["id"]
    assert [f["consumed"] for f in listed[0]["faults"]] == [True, False]
    assert listed[0]["faults"][1]["consumed_at"] is None
    assert listed[0]["faults"][1]["request"] is None
    assert httpx.delete(f"{control}/faults").json() == {"success": True}
    assert httpx.get(f"{control}/faults").json() == {"scripts": []}
    for bad in [
        {"path": "no-slash", "faults": [{"status": 500}]},
        {"path": "/x", "faults": []},
        {"path": "/x", "faults": [{"status": 200}]},
        {"path": "/x", "faults": [{"drop": "sideways"}]},
        {"path": "/x", "faults": [{"status": 500, "drop": "after"}]},
        {"path": "/x", "faults": [{"colour": "red"}]},
        {"path": "/x", "method": "FETCH", "faults": [{"status": 500}]},
    ]:
        assert_error(httpx.post(f"{control}/faults", json=bad), 400, "INVALID_REQUEST")
    json_type = {"content-type": "application/json"}
    assert_error(
        httpx.post(f"{control}/faults", content=b"{nope", headers=json_type), 400, "INVALID_REQUEST"
    )
    assert_error(httpx.post(f"{control}/faults", content=b"{}"), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert_error(httpx.get(f"{control}/nope"), 404, "NOT_FOUND")
    assert httpx.put(f"{control}/faults").status_code == 405


def test_rate_limit(emu: Emulator, http: httpx.Client, org: str) -> None:
    response = httpx.post(
        f"{emu.control_url}/rate-limit", json={"requests_per_second": 0.5, "burst": 2}
    )
    assert response.json() == {"requests_per_second": 0.5, "burst": 2.0}
    assert http.get(f"/{org}/repos").status_code == 200
    assert http.get(f"/{org}/repos").status_code == 200
    limited = http.get(f"/{org}/repos")
    assert_error(limited, 429, "RATE_LIMITED")
    retry_after = int(limited.headers["retry-after"])
    assert retry_after >= 1
    # The control plane is not limited.
    assert httpx.get(f"{emu.control_url}/rate-limit").json()["requests_per_second"] == 0.5
    httpx.post(f"{emu.control_url}/rate-limit", json={"requests_per_second": None})
    assert http.get(f"/{org}/repos").status_code == 200
    assert_error(
        httpx.post(f"{emu.control_url}/rate-limit", json={"requests_per_second": "fast"}),
        400,
        "INVALID_REQUEST",
    )


def test_rate_limit_refills(emu: Emulator, http: httpx.Client, org: str) -> None:
    emu.set_rate_limit(20, burst=1)
    assert http.get(f"/{org}/repos").status_code == 200
    assert http.get(f"/{org}/repos").status_code == 429
    time.sleep(0.1)
    assert http.get(f"/{org}/repos").status_code == 200


def test_reset_wipes_everything_but_the_bootstrap_key() -> None:
    with Emulator() as emu:
        auth = {"Authorization": f"Bearer {emu.api_key}"}
        with httpx.Client(base_url=emu.url, headers=auth) as http:
            http.post("/acme/repos", json={"name": "r"})
            key = http.post("/acme/api-keys", json={"scopes": ["admin"]}).json()["key"]
            emu.script_faults("/api/v1/x", [{"status": 500}])
            emu.set_rate_limit(100)
            assert httpx.post(f"{emu.control_url}/reset").json() == {"success": True}
            assert http.get("/acme/repos").json()["repos"] == []
            assert emu.fault_log() == []
            assert httpx.get(f"{emu.control_url}/rate-limit").json()["requests_per_second"] is None
            assert list((emu.data_dir / "repos").iterdir()) == []
            assert_error(
                httpx.get(f"{emu.url}/acme/repos", headers={"Authorization": f"Bearer {key}"}),
                401,
                "UNAUTHENTICATED",
            )
            assert http.post("/acme/repos", json={"name": "r"}).status_code == 201
