"""Bad input never does harm.

Client side: awkward names go out percent-encoded as one path segment and reach their own
resource; invalid arguments fail before anything is sent, naming the field. Server side:
malformed, oversized, out-of-range and path-traversing requests get a 4xx error envelope,
never a 500, and write nothing.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import InvalidRequestError, Mesa, ValidationError
from tests.shared import AUTHOR, commit_body

from .support import HookRecorder, sdk_client

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


# Paths git refuses to store, or over the limits (4096 bytes, 256 segments).
HOSTILE_PATHS = [
    "GIT~1/config",
    "git~1/config",
    ".git./config",
    ".git /config",
    ".git . ./config",
    ".GIT/config",
    ".git::$INDEX_ALLOCATION/config",
    ".git\u200c/config",
    "\u200c.git/config",
    ".g\u200dit/config",
    ".gi\ufefft/config",
    "sub/.git\u200e/x",
    ".gitmodules/x",
    "gi7eba~1/x",
    ".gitattributes/x",
    "a\\b",
    "a\x00b",
    "/".join(["a"] * 1000),
    "x" * 4097,
    "\u00e9" * 2049,  # 4098 bytes in UTF-8
]
# .gitmodules texts git fsck refuses (fsck.c fsck_gitmodules_fn).
HOSTILE_GITMODULES = [
    '[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n',
    '[submodule "x"]\n\tpath = -x\n\turl = ./x\n',
    '[submodule "../../hooks"]\n\tpath = x\n\turl = ./x\n',
    '[submodule "x"]\n\tupdate = !rm -rf /\n',
    '[submodule "x"]\n\turl = ./%0ahost\n',
    '[submodule "x"]\n\turl = ../:evil\n',
    '[submodule "x"]\n\turl = https:///x\n',
    "not git config at all\n",
]
NOT_STRICT_JSON = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 33 + b"1" + b"}" * 33,
    b'{"name": "a", "name": "b"}',
    b'{"name": "\\ud800"}',
    b'{"name": "r2", "x": ' + b"9" * 5000 + b"}",
    b'{"name": "r2", "x": 1e999}',
    b'{"name": NaN}',
    b'{"name": "\xff"}',
    b"\xef\xbb\xbf{}",
]
NOT_JSON_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "application/jsonx",
    "",
    None,
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
    # Paths git refuses (read-cache.c verify_path, path.c, utf8.c, fsck.c), and paths over the
    # limits: in every kind of edit, and read.
    for path in HOSTILE_PATHS:
        cases.append(("GET", "/{org}/r/content", {"params": {"path": path}}))
        for action, extra in (("create", {"content": "x"}), ("update", {"content": "x"})):
            edit = {"path": path, "action": action, **extra}
            cases.append(("POST", "/{org}/r/commits", {"json": commit_body("evil", [edit])}))
        delete = {"path": path, "action": "delete"}
        cases.append(("POST", "/{org}/r/commits", {"json": commit_body("evil", [delete])}))
    for text in HOSTILE_GITMODULES:
        for path in (".gitmodules", "sub/.GITMODULES", "gitmod~1"):
            edit = {"path": path, "action": "create", "content": text}
            cases.append(("POST", "/{org}/r/commits", {"json": commit_body("evil", [edit])}))
    long_line = {"path": ".gitattributes", "action": "create", "content": "a" * 2048}
    cases.append(("POST", "/{org}/r/commits", {"json": commit_body("evil", [long_line])}))
    # Bodies that are not strict JSON, or not sent as JSON; with an Idempotency-Key too (the
    # fingerprint reads the body).
    for method, path in WRITE_ENDPOINTS:
        for body in NOT_STRICT_JSON:
            for key in ({}, {"Idempotency-Key": f"k-{len(cases)}"}):
                headers = {"content-type": "application/json", **key}
                cases.append((method, path, {"content": body, "headers": headers}))
        for content_type in NOT_JSON_TYPES:
            headers = {} if content_type is None else {"content-type": content_type}
            cases.append((method, path, {"content": b'{"name": "x"}', "headers": headers}))
    # Huge or odd header and query values.
    huge = "x" * 20_000
    cases += [
        ("GET", "/{org}/repos", {"headers": {"Authorization": f"Bearer {huge}"}}),
        ("GET", "/{org}/repos", {"headers": {"Authorization": "Bearer \u00e9".encode()}}),
        ("POST", "/{org}/r/commits", {"json": {}, "headers": {"Idempotency-Key": huge}}),
        (
            "POST",
            "/{org}/r/commits",
            {"json": {}, "headers": {"Idempotency-Key": "k\u00e9".encode()}},
        ),
        ("GET", "/{org}/r/commits", {"params": {"ref": huge}}),
        ("GET", "/{org}/r/content", {"params": {"path": huge}}),
        ("GET", "/{org}/r/content", {"params": {"depth": "9" * 5000}}),
        ("GET", "/{org}/r/diff", {"params": {"base": "main", "head": huge}}),
        ("GET", "/{org}/r/content?path=%ff%fe", {}),
        ("GET", "/{org}/r/content?path=a%00b", {}),
        ("DELETE", "/{org}/r/branches/" + "b" * 5000, {}),
        ("GET", "/{org}/" + "r" * 5000, {}),
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


def fsck(emu: Emulator, raw: httpx.Client, org: str) -> None:
    """`git fsck --strict` passes on every repository of `org`: git is the oracle."""
    for repo in raw.get(f"/{org}/repos", params={"limit": 100}).json()["repos"]:
        path = emu.state.git(repo["id"]).path
        checked = subprocess.run(
            ["git", "-C", str(path), "fsck", "--strict", "--no-dangling"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert checked.returncode == 0, (repo["name"], checked.stderr)


def test_bad_requests_get_a_4xx_envelope_and_write_nothing(
    emu: Emulator, raw: httpx.Client, org: str
) -> None:
    make_target(raw, org)
    before = snapshot(raw, org)
    cases = bad_requests(org)
    assert len(cases) > 400
    for method, path, kwargs in cases:
        assert_envelope(raw.request(method, path, **kwargs))
    assert snapshot(raw, org) == before
    fsck(emu, raw, org)


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


# -- server side: the exact error of each hostile input -------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
JSON_TYPE = {"content-type": "application/json"}


def _edit(path: str, content: str = "x") -> dict[str, Any]:
    return {"json": commit_body("evil", [{"path": path, "action": "create", "content": content}])}


# (label, method, path, httpx keyword arguments, status, code, message)
EXACT: list[tuple[str, str, str, dict[str, Any], int, str, str]] = [
    (
        "deep-json-with-idempotency-key",
        "POST",
        "/{org}/r/commits",
        {"content": DEEP, "headers": {**JSON_TYPE, "Idempotency-Key": "deep"}},
        400,
        "INVALID_REQUEST",
        "The request body is nested deeper than 32 levels of arrays and objects.",
    ),
    (
        "repeated-key",
        "POST",
        "/{org}/repos",
        {"content": b'{"name": "a", "name": "b"}', "headers": JSON_TYPE},
        400,
        "INVALID_REQUEST",
        "The request body is not valid JSON: the key 'name' is repeated in an object.",
    ),
    (
        "unpaired-surrogate",
        "POST",
        "/{org}/repos",
        {"content": b'{"name": "\\ud800"}', "headers": JSON_TYPE},
        400,
        "INVALID_REQUEST",
        "The request body is not valid JSON: a string holds an unpaired surrogate.",
    ),
    (
        "no-content-type",
        "POST",
        "/{org}/r/lfs/objects",
        {"content": b'{"objects": [{"oid": "a", "size": ' + b"9" * 5000 + b"}]}"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "The request has a body but its Content-Type is missing: send it as application/json.",
    ),
    (
        "huge-integer-as-json",
        "POST",
        "/{org}/r/lfs/objects",
        {
            "content": b'{"objects": [{"oid": "a", "size": ' + b"9" * 5000 + b"}]}",
            "headers": JSON_TYPE,
        },
        400,
        "INVALID_REQUEST",
        "The request body holds an integer of more than 100 digits.",
    ),
    (
        "invalid-utf-8",
        "POST",
        "/{org}/repos",
        {"content": b'{"name": "\xff"}', "headers": JSON_TYPE},
        400,
        "INVALID_REQUEST",
        "The request body is not valid UTF-8 (byte 10).",
    ),
    (
        "text-plain",
        "POST",
        "/{org}/repos",
        {"content": b'{"name": "x"}', "headers": {"content-type": "text/plain"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "The request has a body but its Content-Type is 'text/plain': send it as application/json.",
    ),
    (
        "form",
        "POST",
        "/{org}/repos",
        {"data": {"name": "x"}},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "The request has a body but its Content-Type is 'application/x-www-form-urlencoded': "
        "send it as application/json.",
    ),
    (
        "latin-1-json",
        "POST",
        "/{org}/repos",
        {
            "content": b'{"name": "x"}',
            "headers": {"content-type": "application/json; charset=latin-1"},
        },
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "The request has a body but its Content-Type has charset 'latin-1'; JSON bodies must be "
        "UTF-8: send it as application/json.",
    ),
    (
        "ntfs-short-name",
        "POST",
        "/{org}/r/commits",
        _edit("GIT~1/config"),
        400,
        "INVALID_PATH",
        "'edits.0.path' has the segment 'GIT~1', which Windows or macOS would "
        "read as '.git': 'GIT~1/config'.",
    ),
    (
        "ntfs-trailing-dot",
        "POST",
        "/{org}/r/commits",
        _edit(".git./config"),
        400,
        "INVALID_PATH",
        "'edits.0.path' has the segment '.git.', which Windows or macOS would "
        "read as '.git': '.git./config'.",
    ),
    (
        "ntfs-trailing-space",
        "POST",
        "/{org}/r/commits",
        _edit(".git /config"),
        400,
        "INVALID_PATH",
        "'edits.0.path' has the segment '.git ', which Windows or macOS would "
        "read as '.git': '.git /config'.",
    ),
    (
        "hfs-zero-width",
        "POST",
        "/{org}/r/commits",
        _edit(".git\u200c/config"),
        400,
        "INVALID_PATH",
        "'edits.0.path' has the segment '.git\\u200c', which Windows or macOS would "
        "read as '.git': '.git\\u200c/config'.",
    ),
    (
        "gitmodules-folder",
        "POST",
        "/{org}/r/commits",
        _edit(".gitmodules/x"),
        400,
        "INVALID_PATH",
        "'edits.0.path' makes '.gitmodules' a folder; git requires it to be a file: "
        "'.gitmodules/x'.",
    ),
    (
        "gitmodules-url-option",
        "POST",
        "/{org}/r/commits",
        _edit(".gitmodules", '[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/x\n'),
        400,
        "INVALID_REQUEST",
        "Field 'edits.0.content' cannot be the content of '.gitmodules': it gives submodule 'x' "
        "the url '--upload-pack=touch /tmp/x', which starts with '-' (git would read it as an "
        "option).",
    ),
    (
        "gitmodules-name-climbs",
        "POST",
        "/{org}/r/commits",
        _edit("sub/.gitmodules", '[submodule "../../hooks"]\n\tpath = x\n\turl = ./x\n'),
        400,
        "INVALID_REQUEST",
        "Field 'edits.0.content' cannot be the content of 'sub/.gitmodules': it names a "
        "submodule '../../hooks', which has a '..' component.",
    ),
    (
        "nul-in-path",
        "POST",
        "/{org}/r/commits",
        _edit("a\x00b"),
        400,
        "INVALID_PATH",
        "'edits.0.path' contains a NUL character: 'a\\x00b'.",
    ),
    (
        "nul-in-query-path",
        "GET",
        "/{org}/r/content?path=a%00b",
        {},
        400,
        "INVALID_PARAMETER",
        "'path' must not contain NUL.",
    ),
    (
        "huge-query-integer",
        "GET",
        "/{org}/r/content",
        {"params": {"depth": "9" * 5000}},
        400,
        "INVALID_PARAMETER",
        f"'depth' must be between 1 and 64, got {'9' * 40}....",
    ),
    (
        "huge-idempotency-key",
        "POST",
        "/{org}/r/commits",
        {"json": {}, "headers": {"Idempotency-Key": "k" * 20_000}},
        400,
        "INVALID_PARAMETER",
        "'Idempotency-Key' must match ^[\\x21-\\x7e]+$ and have 1 to 255 characters.",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "message"),
    [case[1:] for case in EXACT],
    ids=[case[0] for case in EXACT],
)
def test_each_hostile_input_gets_its_exact_error_and_writes_nothing(
    emu: Emulator,
    raw: httpx.Client,
    org: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
    message: str,
) -> None:
    make_target(raw, org)
    before = snapshot(raw, org)
    response = raw.request(method, path.format(org=org), **kwargs)
    assert_envelope(response)
    error = response.json()["error"]
    assert (response.status_code, error["code"], error["message"]) == (status, code, message)
    assert str(emu.data_dir) not in response.text  # no server path
    assert snapshot(raw, org) == before
    fsck(emu, raw, org)


def test_a_1000_segment_path_is_refused_naming_the_limit(raw: httpx.Client, org: str) -> None:
    make_target(raw, org)
    before = snapshot(raw, org)
    path = "/".join(["d"] * 999 + ["f"])
    response = raw.post(f"/{org}/r/commits", **_edit(path))
    assert_envelope(response)
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "INVALID_PATH")
    assert error["message"].startswith(
        "'edits.0.path' has 1000 segments; the limit is 256: 'd/d/d/"
    )
    assert snapshot(raw, org) == before


def test_the_control_plane_refuses_what_is_not_strict_json(emu: Emulator) -> None:
    before = emu.fault_log()
    for body, headers, status, message in [
        (
            DEEP,
            JSON_TYPE,
            400,
            "The request body is nested deeper than 32 levels of arrays and objects.",
        ),
        (
            b'{"path": "/x", "path": "/y", "faults": [{"status": 500}]}',
            JSON_TYPE,
            400,
            "The request body is not valid JSON: the key 'path' is repeated in an object.",
        ),
        (
            b'{"path": "/x", "faults": [{"status": 500}]}',
            {"content-type": "text/plain"},
            415,
            "The request has a body but its Content-Type is 'text/plain': send it as "
            "application/json.",
        ),
    ]:
        response = httpx.post(f"{emu.control_url}/faults", content=body, headers=headers)
        assert response.status_code == status
        assert response.json()["error"]["message"] == message
    assert emu.fault_log() == before


# -- server side: what git accepts is stored, read back and passes `git fsck --strict` ------

ACCEPTED_PATHS = [
    ".github/workflows/ci.yml",
    ".gitignore",
    ".gitattributes",
    ".gitkeep",
    ".gitx/config",
    "git~2/config",
    "a.git/config",
    "with space/and more spaces.txt",
    "ünïcödé/日本語.txt",
    "emoji 🎉.md",
    ".hidden/..dots../x",
    "-starts-with-dash",
    "%2e%2e/literal",
    "sub/.gitmodules",
    "/".join(["deep"] * 255 + ["leaf"]),  # 256 segments: the limit
    ("n" * 255 + "/") * 15 + "n" * 256,  # 4096 bytes: the limit
]
ACCEPTED_CONTENT = {
    ".gitattributes": "*.bin binary\n" + "a" * 2047 + "\n",
    "sub/.gitmodules": '[submodule "lib"]\n\tpath = lib\n\turl = https://example.com/lib.git\n'
    "\tupdate = rebase\n",
}


def test_edge_case_paths_git_accepts_are_committed_read_back_and_pass_fsck(
    emu: Emulator, raw: httpx.Client, org: str
) -> None:
    make_target(raw, org)
    edits = [
        {"path": path, "action": "create", "content": ACCEPTED_CONTENT.get(path, path)}
        for path in ACCEPTED_PATHS
    ]
    made = raw.post(f"/{org}/r/commits", json=commit_body("edge cases", edits))
    assert made.status_code == 201, made.text
    for path in ACCEPTED_PATHS:
        file = raw.get(f"/{org}/r/content", params={"path": path})
        assert file.status_code == 200, (path, file.text[:300])
        assert base64.b64decode(file.json()["content"]) == ACCEPTED_CONTENT.get(path, path).encode()
    # Edited and deleted again: the writer rebuilds and prunes the deep folders.
    deepest = ACCEPTED_PATHS[-2]
    update = {"path": deepest, "action": "update", "content": "v2"}
    assert raw.post(f"/{org}/r/commits", json=commit_body("v2", [update])).status_code == 201
    assert raw.get(f"/{org}/r/content", params={"path": deepest}).json()["size"] == 2
    delete = {"path": deepest, "action": "delete"}
    assert raw.post(f"/{org}/r/commits", json=commit_body("rm", [delete])).status_code == 201
    assert raw.get(f"/{org}/r/content", params={"path": "deep"}).status_code == 404
    fsck(emu, raw, org)


@pytest.mark.parametrize(
    ("content_type", "path", "body"),
    [
        ("application/json; charset=utf-8", "/{org}/repos", {"name": "typed"}),
        ('Application/JSON;Charset="UTF-8"', "/{org}/repos", {"name": "typed"}),
        ("application/merge-patch+json", "/{org}/r", {"default_branch": "main"}),
        (
            "application/vnd.git-lfs+json",
            "/{org}/r/lfs/objects",
            {"objects": [{"oid": "0" * 64, "size": 1}]},
        ),
    ],
)
def test_json_media_types_are_accepted(
    raw: httpx.Client, org: str, content_type: str, path: str, body: dict[str, Any]
) -> None:
    make_target(raw, org)
    method = "PATCH" if path == "/{org}/r" else "POST"
    response = raw.request(
        method,
        path.format(org=org),
        content=json.dumps(body),
        headers={"content-type": content_type},
    )
    assert response.status_code in (200, 201), response.text
