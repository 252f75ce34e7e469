"""The HTTP face: routing on the raw path, 404/405, request ids, malformed input, big bodies."""

from __future__ import annotations

import socket

import httpx
import pytest
from emulator_helpers import Api, assert_error
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator


def test_request_id_is_echoed_or_generated(http: httpx.Client, org: str) -> None:
    mine = http.get(f"/{org}/repos", headers={"X-Request-Id": "trace-123/abc"})
    assert mine.headers["x-request-id"] == "trace-123/abc"
    made = http.get(f"/{org}/repos")
    assert made.headers["x-request-id"].startswith("req_")
    for bad in ["has space", "x" * 129]:
        replaced = http.get(f"/{org}/repos", headers={"X-Request-Id": bad})
        assert replaced.headers["x-request-id"].startswith("req_")
    # Errors carry it too, even before authentication.
    assert httpx.get(f"{http.base_url}/{org}/repos").headers["x-request-id"].startswith("req_")


def test_unknown_routes_are_404(emu: Emulator, http: httpx.Client, org: str) -> None:
    for path in ["/api/v1", "/api/v1/", "/", "/nope", "/api/v2/acme/repos"]:
        assert_error(http.get(emu.base_url + path), 404, "NOT_FOUND")
    for path in [f"/{org}/r/x/y/z", f"/{org}/repos/", f"/{org}//branches", f"/{org}/r/lfs"]:
        assert_error(http.get(path), 404, "NOT_FOUND")


def test_known_path_wrong_method_is_405_with_allow(http: httpx.Client, org: str) -> None:
    response = http.put(f"/{org}/repos", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert http.delete(f"/{org}/repos").headers["allow"] == "GET, POST"
    assert http.post(f"/{org}/r").headers["allow"] == "DELETE, GET, PATCH"
    assert http.get(f"/{org}/r/merge/main").headers["allow"] == "POST"
    assert http.get(f"/{org}/api-keys/key_1").headers["allow"] == "DELETE"
    # "api-keys" and "repos" are collections, never repository names.
    assert http.get(f"/{org}/api-keys/content").headers["allow"] == "DELETE"


def test_routing_decodes_each_raw_segment(http: httpx.Client, org: str, api: Api) -> None:
    api.repo("my.repo")
    sha = api.write("my.repo", {"a": "1"})
    for name in ["feature/x", "release/1.0", "a/b/c"]:
        http.post(f"/{org}/my.repo/branches", json={"name": name, "head_sha": sha})
    encoded_org = "".join(f"%{b:02X}" for b in org.encode())
    assert http.get(f"/{encoded_org}/my%2Erepo").json()["name"] == "my.repo"
    assert http.delete(f"/{org}/my.repo/branches/a%2Fb%2Fc").status_code == 200
    merged = http.post(
        f"/{org}/my.repo/merge/release%2F1.0", json={"head": "feature/x", "author": AUTHOR}
    )
    assert merged.json()["base"] == "release/1.0"
    # A %2F in the org or repo segment is not a path separator: it is a bad name.
    assert_error(http.get(f"/{org}%2Fx/repos"), 400, "INVALID_PARAMETER", parameter="org")
    assert_error(http.get(f"/{org}/my.repo%2Fbranches"), 400, "INVALID_PARAMETER", parameter="repo")
    assert_error(http.get(f"/{org}/%ff"), 400, "INVALID_PARAMETER")
    # Dot segments are not normalised away.
    assert_error(http.get(f"/{org}/%2E%2E/branches"), 400, "INVALID_PARAMETER", parameter="repo")


def test_malformed_bodies_are_400(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    url = f"/{org}/r/commits"
    cases = [
        b"",
        b"{",
        b"[]",
        b"null",
        b'"text"',
        b"\xff\xfe",
        b'{"branch": "main"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"branch":"main","message":"m","author":{"name":"a","email":"b"},"edits":[{"path":"\\ud800","action":"create","content":"x"}]}',
        b'{"branch":"main","message":"m","author":{"name":"a","email":"b"},"edits":"nope"}',
        b'{"branch":"main","message":"m","author":{"name":"a","email":"b","date":"yesterday"},"edits":[{"path":"a","action":"create","content":"x"}]}',
        b'{"branch":"main","message":"","author":{"name":"a","email":"b"},"edits":[{"path":"a","action":"create","content":"x"}]}',
    ]
    for body in cases:
        response = http.post(url, content=body, headers={"content-type": "application/json"})
        error = assert_error(response, 400, "INVALID_REQUEST")
        assert error["details"]["field"]
    missing = assert_error(
        http.post(url, json={"branch": "main", "message": "m", "edits": []}), 400, "INVALID_REQUEST"
    )
    assert missing["details"]["field"] in ("author", "edits")
    assert missing["details"]["field"] in missing["message"]
    nested = assert_error(
        http.post(
            url,
            json={
                "branch": "main",
                "message": "m",
                "author": {"name": "a"},
                "edits": [{"path": "a", "action": "create", "content": "x"}],
            },
        ),
        400,
        "INVALID_REQUEST",
    )
    assert nested["details"]["field"] == "author.email" and "author.email" in nested["message"]


def test_bad_query_parameters(http: httpx.Client, org: str) -> None:
    assert_error(
        http.get(f"/{org}/repos?limit=1&limit=2"), 400, "INVALID_PARAMETER", parameter="limit"
    )
    assert_error(http.get(f"/{org}/repos", params={"limit": 10**30}), 400, "INVALID_PARAMETER")
    assert_error(http.get(f"/{org}/repos?limit=%ff"), 400, "INVALID_PARAMETER")
    # Unknown parameters are ignored.
    assert http.get(f"/{org}/repos", params={"colour": "red"}).status_code == 200


def test_oversized_body_with_content_length_is_413(http: httpx.Client, org: str) -> None:
    body = b"x" * (64 * 1024 * 1024 + 1)
    response = http.post(
        f"/{org}/repos", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    # Exactly at the limit is read (and is then just bad JSON).
    at_limit = http.post(
        f"/{org}/repos", content=body[:-1], headers={"content-type": "application/json"}
    )
    assert_error(at_limit, 400, "INVALID_REQUEST")


def test_oversized_body_declared_then_closed(emu: Emulator, org: str) -> None:
    with socket.create_connection(("127.0.0.1", emu.port)) as sock:
        sock.sendall(
            f"POST /api/v1/{org}/repos HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {emu.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**12}\r\n\r\n{{}}".encode()
        )
        sock.settimeout(5)
        received = b""
        while b"PAYLOAD_TOO_LARGE" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        answer = received.decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert "PAYLOAD_TOO_LARGE" in answer


def test_chunked_oversized_body_is_counted() -> None:
    with Emulator(max_body_bytes=1024) as emu:

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b" " * 512

        response = httpx.post(
            f"{emu.url}/acme/repos",
            content=chunks(),
            headers={"Authorization": f"Bearer {emu.api_key}"},
        )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        ok = httpx.post(
            f"{emu.url}/acme/repos",
            json={"name": "small"},
            headers={"Authorization": f"Bearer {emu.api_key}"},
        )
        assert ok.status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/{org}/r/content?path=%00"),
        ("GET", "/{org}/r/content?ref=%00"),
        ("GET", "/{org}/r/diff?base=%00&head=main"),
        ("GET", "/{org}/r/commits?ref=refs%2Fheads%2F..%2Fx"),
        ("GET", "/{org}/r/commits?cursor=" + "A" * 512),
        ("GET", "/{org}/r/content?cursor=%E2%82%AC.%E2%82%AC"),
        ("POST", "/{org}/r/merge/%E2%82%AC"),
        ("DELETE", "/{org}/r/branches/" + "b" * 300),
        ("DELETE", "/{org}/api-keys/" + "k" * 65),
        ("GET", "/{org}/r/commits/" + "A" * 40),
        ("GET", "/{org}/" + "r" * 101),
    ],
)
def test_odd_inputs_never_500(
    http: httpx.Client, org: str, api: Api, method: str, path: str
) -> None:
    api.repo()
    api.write("r", {"a": "1"})
    response = http.request(method, path.format(org=org), json={"head": "main", "author": AUTHOR})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("path", "name"),
    [("/{org}/api-keys/" + "k" * 65, "id"), ("/{org}/r/webhooks/" + "w" * 65, "webhook_id")],
)
def test_an_id_longer_than_the_spec_allows_is_a_bad_parameter(
    http: httpx.Client, org: str, api: Api, path: str, name: str
) -> None:
    api.repo()
    response = http.delete(path.format(org=org))
    # openapi.yaml: `{ type: string, minLength: 1, maxLength: 64 }`
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"'{name}' must have 1 to 64 characters."
