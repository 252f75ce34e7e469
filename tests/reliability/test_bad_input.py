"""Bad input never does harm.

Client side: awkward names go out percent-encoded as one path segment and reach their own
resource; invalid arguments fail before anything is sent, naming the field. Server side:
malformed, oversized, out-of-range and path-traversing requests get a 4xx error envelope,
never a 500, and write nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import InvalidRequestError, Mesa, ValidationError

from .support import AUTHOR, HookRecorder, commit_body, sdk_client

# -- client side: awkward names reach the right resource -----------------------------------

# Valid git branch names that a careless client would split, decode or normalise.
AWKWARD_BRANCHES = [
    "feature/x",  # a slash: %2F, one segment
    "x/y",
    "x%2Fy",  # a literal "%2F": must not be decoded into x/y
    "a%b",  # a lone percent sign
    "%2e%2e",  # a literal "%2e%2e": must not become ".."
    "ünï",  # non-ASCII: UTF-8, percent-encoded
    "a#b",  # would start a fragment
    "a+b",  # would be a space in a query
    "release/2.0;v=1",
]


def test_awkward_branch_names_reach_their_own_branch(emu: Emulator, org: str) -> None:
    with sdk_client(emu, org) as client:
        client.repos.create(body={"name": "r"})
        base = client.commits.create(
            repo="r", body=commit_body("base", [{"path": "a", "action": "create", "content": "0"}])
        )
        recorder = HookRecorder().install(client)
        heads = {"main": base.sha}
        for number, name in enumerate(AWKWARD_BRANCHES):
            assert client.branches.create(
                repo="r", body={"name": name, "head_sha": base.sha}
            ).name == (name)
            made = client.commits.create(
                repo="r",
                body=commit_body(
                    f"on {name}",
                    [{"path": f"f{number}", "action": "create", "content": name}],
                    branch=name,
                ),
            )
            heads[name] = made.sha
            # A query parameter (ref) and the JSON body name the same branch.
            assert client.content.get_raw(repo="r", ref=name, path=f"f{number}") == name.encode()
        assert {b.name: b.head_sha for b in client.branches.list(repo="r", limit=100)} == heads

        # Merged into by name (a path parameter): each branch gets main's new file.
        heads["main"] = client.commits.create(
            repo="r", body=commit_body("main", [{"path": "m", "action": "create", "content": "m"}])
        ).sha
        for number, name in enumerate(AWKWARD_BRANCHES):
            merged = client.merge.perform(
                repo="r", base=name, body={"head": "main", "author": AUTHOR, "message": "m"}
            )
            assert merged.base == name and merged.merge_type == "merge_commit"
            assert client.content.get_raw(repo="r", ref=name, path="m") == b"m"
            assert client.content.get_raw(repo="r", ref=name, path=f"f{number}") == name.encode()
            heads[name] = merged.sha
        assert {b.name: b.head_sha for b in client.branches.list(repo="r", limit=100)} == heads

        for name in AWKWARD_BRANCHES:
            client.branches.delete(repo="r", branch=name)
            del heads[name]
            # Exactly that branch went: `x%2Fy` did not take `x/y`, `%2e%2e` took nothing else.
            assert {b.name: b.head_sha for b in client.branches.list(repo="r", limit=100)} == heads

        # Each name went out as one percent-encoded path segment.
        paths = {r.url.raw_path.decode() for r in recorder.sent if r.method != "GET"}
        for name in AWKWARD_BRANCHES:
            segment = quote(name, safe="")
            assert f"/api/v1/{org}/r/branches/{segment}" in paths
            assert f"/api/v1/{org}/r/merge/{segment}" in paths


@pytest.mark.parametrize("name", ["../../repos", "a/../..", "with space", "a..b", "x?y"])
def test_names_the_server_refuses_reach_it_encoded_and_change_nothing(
    emu: Emulator, org: str, name: str
) -> None:
    with sdk_client(emu, org, retry_config={"strategy": "none"}) as client:
        client.repos.create(body={"name": "r"})
        base = client.commits.create(
            repo="r", body=commit_body("base", [{"path": "a", "action": "create", "content": "0"}])
        )
        recorder = HookRecorder().install(client)
        with pytest.raises(ValidationError) as deleting:
            client.branches.delete(repo="r", branch=name)
        with pytest.raises(ValidationError) as creating:
            client.branches.create(repo="r", body={"name": name, "head_sha": base.sha})
        assert deleting.value.code == creating.value.code == "INVALID_REF_NAME"
        assert recorder.sent[0].url.raw_path.decode() == (
            f"/api/v1/{org}/r/branches/{quote(name, safe='')}"
        )
        assert [r.name for r in client.repos.list()] == ["r"]
        assert [b.name for b in client.branches.list(repo="r")] == ["main"]


# -- client side: invalid arguments are never sent ------------------------------------------

SHA = "0" * 40
EDIT = {"path": "a", "action": "create", "content": "x"}


def _commit(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"branch": "main", "message": "m", "author": AUTHOR, "edits": [EDIT]}
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


# (call, the error's exact text, the field it names)
REFUSED: list[tuple[str, Callable[[Mesa], object], str, str]] = [
    (
        "limit-not-a-number",
        lambda c: c.commits.list(repo="r", limit="ten"),  # type: ignore[arg-type]
        "commits.list: limit: Input should be a valid integer, "
        "unable to parse string as an integer",
        "limit",
    ),
    (
        "limit-too-large",
        lambda c: c.repos.list(limit=10**12),
        "repos.list: limit: Input should be less than or equal to 100",
        "limit",
    ),
    (
        "repo-with-slash",
        lambda c: c.repos.get(repo="r/branches"),
        "repos.get: repo: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]*$'",
        "repo",
    ),
    (
        "org-with-slash",
        lambda c: c.repos.list(org="acme/../other"),
        "repos.list: org: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_-]*$'",
        "org",
    ),
    (
        "repo-not-a-string",
        lambda c: c.repos.get(repo=5),  # type: ignore[arg-type]
        "repos.get: repo: Input should be a valid string",
        "repo",
    ),
    (
        "branch-dot-dot",
        lambda c: c.branches.delete(repo="r", branch=".."),
        "branches.delete: branch: '..' cannot be sent as a path segment (it names no item)",
        "branch",
    ),
    (
        "merge-base-dot",
        lambda c: c.merge.perform(repo="r", base=".", body={"head": "main", "author": AUTHOR}),
        "merge.perform: base: '.' cannot be sent as a path segment (it names no item)",
        "base",
    ),
    (
        "missing-field",
        lambda c: c.commits.create(repo="r", body=_commit(author=None)),  # type: ignore[arg-type]
        "commits.create: body.author: Field required",
        "body.author",
    ),
    (
        "unknown-enum-value",
        lambda c: c.commits.create(
            repo="r",
            body=_commit(edits=[{**EDIT, "action": "rename"}]),  # type: ignore[arg-type]
        ),
        "commits.create: body.edits.0.action: Input should be 'create', 'update' or 'delete'",
        "body.edits.0.action",
    ),
    (
        "wrong-type",
        lambda c: c.commits.create(
            repo="r",
            body=_commit(edits=[{**EDIT, "executable": "maybe"}]),  # type: ignore[arg-type]
        ),
        "commits.create: body.edits.0.executable: Input should be a valid boolean, "
        "unable to interpret input",
        "body.edits.0.executable",
    ),
    (
        "unknown-field",
        lambda c: c.commits.create(
            repo="r",
            body=_commit(author={**AUTHOR, "role": "admin"}),  # type: ignore[arg-type]
        ),
        "commits.create: body.author.role: Extra inputs are not permitted",
        "body.author.role",
    ),
    (
        "bad-sha",
        lambda c: c.branches.create(repo="r", body={"name": "b", "head_sha": "HEAD~1"}),
        "branches.create: body.head_sha: String should match pattern '^[0-9a-f]{40}$'",
        "body.head_sha",
    ),
    (
        "bad-scope",
        lambda c: c.admin.create_api_key(body={"scopes": ["root"]}),  # type: ignore[list-item]
        "admin.create_api_key: body.scopes.0: Input should be 'repo:read', 'repo:create', "
        "'repo:delete', 'git:read', 'git:write', 'webhook:read', 'webhook:write' or 'admin'",
        "body.scopes.0",
    ),
]


@pytest.mark.parametrize(
    ("call", "message", "field"), [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_invalid_arguments_fail_before_sending_and_name_the_field(
    emu: Emulator, org: str, call: Callable[[Mesa], object], message: str, field: str
) -> None:
    with sdk_client(emu, org) as client:
        client.repos.create(body={"name": "r"})
        recorder = HookRecorder().install(client)
        with pytest.raises(InvalidRequestError) as caught:
            call(client)
        assert recorder.sent == []  # nothing was sent, not even a first attempt
        assert str(caught.value) == message
        assert [error.location for error in caught.value.errors] == [field]
        assert [r.head_sha for r in client.repos.list()] == [None]  # nothing was written


# -- server side: bad requests write nothing ------------------------------------------------


@pytest.fixture
def raw(emu: Emulator) -> Iterator[httpx.Client]:
    """Plain httpx with the bootstrap key: the SDK would refuse to send most of these."""
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=60
    ) as client:
        yield client


def snapshot(raw: httpx.Client, org: str) -> dict[str, Any]:
    """Everything a bad request could have changed: repos, branches, history, files, keys."""
    state: dict[str, Any] = {
        "repos": raw.get(f"/{org}/repos", params={"limit": 100}).json(),
        "keys": raw.get(f"/{org}/api-keys").json(),
    }
    for repo in state["repos"]["repos"]:
        name = repo["name"]
        branches = raw.get(f"/{org}/{name}/branches", params={"limit": 100}).json()
        state[f"{name} branches"] = branches
        for branch in branches["branches"]:
            ref = branch["name"]
            state[f"{name}@{ref} log"] = raw.get(
                f"/{org}/{name}/commits", params={"ref": ref, "limit": 100}
            ).json()
            state[f"{name}@{ref} tree"] = raw.get(
                f"/{org}/{name}/content", params={"ref": ref, "depth": 64}
            ).json()
    return state


GARBAGE_BODIES = [b"{", b"[]", b"null", b'"text"', b"\xff\xfe{}", b"{" * 10_000, b'{"name": 5}']
WRITE_ENDPOINTS = [
    ("POST", "/{org}/repos"),
    ("PATCH", "/{org}/r"),
    ("POST", "/{org}/r/branches"),
    ("POST", "/{org}/r/commits"),
    ("POST", "/{org}/r/merge/main"),
    ("POST", "/{org}/api-keys"),
    ("POST", "/{org}/r/lfs/objects"),
    ("POST", "/{org}/r/lfs/objects/download"),
]
TRAVERSALS = [
    "../",
    "../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    ".git/config",
    "sub/.git/HEAD",
    "..",
    "a/./b",
]


def bad_requests(org: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) of requests that must all be refused."""
    cases: list[tuple[str, str, dict[str, Any]]] = []
    for method, path in WRITE_ENDPOINTS:
        for body in GARBAGE_BODIES:
            cases.append(
                (method, path, {"content": body, "headers": {"content-type": "application/json"}})
            )
    for collection in ("/{org}/repos", "/{org}/r/branches", "/{org}/r/commits"):
        for limit in ("1000000000000000000000", "101", "0", "-1", "1e3", "ten"):
            cases.append(("GET", collection, {"params": {"limit": limit}}))
        for cursor in ("!!!", "A" * 10_000, "e30.e30", "%00"):
            cases.append(("GET", collection, {"params": {"cursor": cursor}}))
    cases.append(("GET", "/{org}/r/content", {"params": {"path": "", "limit": "10" * 20}}))
    for path in TRAVERSALS:
        cases.append(("GET", "/{org}/r/content", {"params": {"path": path}}))
        for action, extra in (("create", {"content": "x"}), ("update", {"content": "x"})):
            edit = {"path": path, "action": action, **extra}
            cases.append(("POST", "/{org}/r/commits", {"json": commit_body("evil", [edit])}))
        delete = {"path": path, "action": "delete"}
        cases.append(("POST", "/{org}/r/commits", {"json": commit_body("evil", [delete])}))
    # Percent-encoded dot segments in the query and in the URL path are not decoded into a
    # traversal.
    cases += [
        ("GET", "/{org}/r/content?path=%2e%2e%2fetc%2fpasswd", {}),
        ("GET", "/{org}/r/content?path=a%2F%2E%2E%2F%2E%2E%2Fb", {}),
        ("GET", "/{org}/%2e%2e/api-keys", {}),
        ("DELETE", "/{org}/r/branches/%2e%2e", {}),
        ("DELETE", "/{org}/r/branches/..%2F..%2Frepos", {}),
        ("POST", "/{org}/r/merge/%2E%2E", {"json": {"head": "main", "author": AUTHOR}}),
    ]
    # An Idempotency-Key the contract does not allow.
    cases.append(
        (
            "POST",
            "/{org}/r/commits",
            {
                "json": commit_body(
                    "long key", [{"path": "k", "action": "create", "content": "k"}]
                ),
                "headers": {"Idempotency-Key": "k" * 256},
            },
        )
    )
    return [(method, path.format(org=org), kwargs) for method, path, kwargs in cases]


def assert_envelope(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.request.url, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] and error["message"]


def make_target(raw: httpx.Client, org: str) -> None:
    assert raw.post(f"/{org}/repos", json={"name": "r"}).status_code == 201
    edits = [
        {"path": "keep.txt", "action": "create", "content": "keep"},
        {"path": "dir/bin", "action": "create", "content": "AAE=", "encoding": "base64"},
    ]
    made = raw.post(f"/{org}/r/commits", json=commit_body("base", edits))
    assert made.status_code == 201, made.text
    branch = raw.post(f"/{org}/r/branches", json={"name": "side", "head_sha": made.json()["sha"]})
    assert branch.status_code == 201
    assert raw.post(f"/{org}/api-keys", json={"name": "ci", "scopes": ["git:read"]}).is_success


def test_bad_requests_get_a_4xx_envelope_and_write_nothing(raw: httpx.Client, org: str) -> None:
    make_target(raw, org)
    before = snapshot(raw, org)
    cases = bad_requests(org)
    assert len(cases) > 100
    for method, path, kwargs in cases:
        assert_envelope(raw.request(method, path, **kwargs))
    assert snapshot(raw, org) == before


def test_a_streamed_body_over_64_mib_is_413_and_writes_nothing(raw: httpx.Client, org: str) -> None:
    """Sent chunked (no Content-Length), 1 MiB at a time, so the server must count."""
    make_target(raw, org)
    before = snapshot(raw, org)
    chunk = b" " * (1024 * 1024)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"branch": "main", "message": "big", "edits": [{"path": "big", "content": "'
        for _ in range(65):
            sent += len(chunk)
            yield chunk
        yield b'", "action": "create"}], "author": {"name": "a", "email": "a@b.c"}}'

    response = raw.post(
        f"/{org}/r/commits", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text[:300]
    assert_envelope(response)
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert snapshot(raw, org) == before


def test_percent_signs_in_an_edit_path_are_kept_literally(raw: httpx.Client, org: str) -> None:
    """A JSON string is not a URL: `%2e%2e/x` names a directory called `%2e%2e`, inside the
    repository, and is never decoded into `..`."""
    make_target(raw, org)
    edit = {"path": "%2e%2e/x", "action": "create", "content": "literal"}
    assert raw.post(f"/{org}/r/commits", json=commit_body("pct", [edit])).status_code == 201
    tree = raw.get(f"/{org}/r/content", params={"depth": 64}).json()
    paths = sorted(entry["path"] for entry in tree["entries"] if entry["type"] == "file")
    assert paths == ["%2e%2e/x", "dir/bin", "keep.txt"]
    file = raw.get(f"/{org}/r/content", params={"path": "%2e%2e/x"}).json()
    assert base64.b64decode(file["content"]) == b"literal"
