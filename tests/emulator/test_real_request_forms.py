"""The real Depot API's request forms beside the documented ones: a commit from `files`
(upsert, delete, LFS pointer) or `edits`, a branch from `from` or `head_sha`, and the
real response shapes (commit-create answer, `last_commit_at`, `child_count`)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
from emulator_helpers import Api, assert_error
from tests.shared import AUTHOR

from mesa_emulator.lfs import pointer_text

EXEC_BYTES = b"#!/bin/sh\necho hi\n"


def post_commit(http: httpx.Client, org: str, **body: Any) -> httpx.Response:
    return http.post(
        f"/{org}/r/commits",
        json={"branch": "main", "message": "change", "author": AUTHOR, **body},
    )


def test_files_upsert_writes_whatever_the_path_holds(
    http: httpx.Client, org: str, api: Api
) -> None:
    api.repo()
    first = post_commit(
        http,
        org,
        files=[
            {"path": "README.md", "content": "# one\n"},
            {
                "path": "run.sh",
                "content": base64.b64encode(EXEC_BYTES).decode(),
                "encoding": "base64",
            },
        ],
    )
    assert first.status_code == 201, first.text
    answer = first.json()
    assert set(answer) == {"sha", "branch", "message", "parents"}
    assert (answer["branch"], answer["message"], answer["parents"]) == ("main", "change", [])
    # An existing executable file (made with an `edits` update) keeps its mode on upsert.
    api.commit("r", [{"path": "run.sh", "action": "update", "content": "x", "executable": True}])
    second = post_commit(
        http,
        org,
        files=[
            {"path": "README.md", "content": "# two\n", "action": "upsert"},
            {"path": "run.sh", "content": "y"},
            {"path": "new/deep.txt", "content": "deep\n", "encoding": "utf-8"},
        ],
    )
    assert second.status_code == 201, second.text
    assert api.files("r") == {"README.md": b"# two\n", "run.sh": b"y", "new/deep.txt": b"deep\n"}
    run = http.get(f"/{org}/r/content", params={"path": "run.sh"}).json()
    assert run["executable"] is True


def test_files_delete_and_a_missing_path(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    api.write("r", {"keep.txt": "k", "gone.txt": "g"})
    head = api.head("r")
    missing = post_commit(http, org, files=[{"path": "nope.txt", "action": "delete"}])
    assert_error(missing, 404, "PATH_NOT_FOUND", path="nope.txt")
    assert api.head("r") == head  # no commit
    deleted = post_commit(
        http, org, base_sha=head, files=[{"path": "gone.txt", "action": "delete"}]
    )
    assert deleted.status_code == 201, deleted.text
    assert deleted.json()["parents"] == [head]
    assert api.files("r") == {"keep.txt": b"k"}
    # base_sha is a compare-and-swap in the `files` form too.
    moved = post_commit(http, org, base_sha=head, files=[{"path": "x", "content": "x"}])
    assert_error(moved, 409, "BRANCH_MOVED", expected=head, actual=deleted.json()["sha"])


def test_files_lfs_pointer(http: httpx.Client, org: str, emu: Any, api: Api) -> None:
    api.repo()
    data = b"large bytes\n"
    oid = hashlib.sha256(data).hexdigest()
    batch = http.post(f"/{org}/r/lfs/objects", json={"objects": [{"oid": oid, "size": len(data)}]})
    httpx.put(batch.json()["objects"][0]["upload_url"], content=data).raise_for_status()
    made = post_commit(
        http, org, files=[{"path": "big.bin", "lfs": {"oid": oid, "size": len(data)}}]
    )
    assert made.status_code == 201, made.text
    assert api.files("r") == {"big.bin": pointer_text(oid, len(data))}
    unknown = post_commit(
        http, org, files=[{"path": "other.bin", "lfs": {"oid": "0" * 64, "size": 1}}]
    )
    assert_error(unknown, 404, "LFS_OBJECT_NOT_FOUND", field="files.0.lfs")


def test_files_or_edits_exactly_one_and_shapes(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    api.write("r", {"a.txt": "a"})
    head = api.head("r")
    file = {"path": "b.txt", "content": "b"}
    edit = {"path": "b.txt", "action": "create", "content": "b"}
    assert_error(
        post_commit(http, org, files=[file], edits=[edit]), 400, "INVALID_REQUEST", field="edits"
    )
    assert_error(post_commit(http, org), 400, "INVALID_REQUEST", field="files")
    bad_files = [
        ([{"path": "b.txt"}], "files.0.content"),
        (
            [{"path": "b.txt", "content": "b", "lfs": {"oid": "0" * 64, "size": 1}}],
            "files.0.content",
        ),
        ([{"path": "a.txt", "action": "delete", "content": "b"}], "files.0.content"),
        ([{"path": "b.txt", "content": "b", "action": "create"}], "files.0.action"),
        ([{"path": "b.txt", "content": "b", "executable": True}], "files.0.executable"),
        ([{"path": "b.txt", "content": "%%", "encoding": "base64"}], "files.0.content"),
    ]
    for files, field in bad_files:
        assert_error(post_commit(http, org, files=files), 400, "INVALID_REQUEST", field=field)
    # The documented form keeps its checks against the tree.
    exists = post_commit(http, org, edits=[{"path": "a.txt", "action": "create", "content": "x"}])
    assert_error(exists, 409, "PATH_EXISTS", path="a.txt")
    for action in ("update", "delete"):
        content = {"content": "x"} if action == "update" else {}
        missing = post_commit(http, org, edits=[{"path": "nope", "action": action, **content}])
        assert_error(missing, 404, "PATH_NOT_FOUND", path="nope")
    assert api.head("r") == head  # none of them made a commit


def test_branch_from_a_name_or_a_sha(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    first = api.write("r", {"a.txt": "1"})
    second = api.write("r", {"a.txt": "2"})
    post = lambda body: http.post(f"/{org}/r/branches", json=body)  # noqa: E731
    from_name = post({"name": "from-main", "from": "main"})
    assert from_name.status_code == 201, from_name.text
    assert from_name.json() == {"name": "from-main", "head_sha": second, "is_default": False}
    from_sha = post({"name": "from-sha", "from": first})
    assert from_sha.json() == {"name": "from-sha", "head_sha": first, "is_default": False}
    from_short = post({"name": "from-short", "from": first[:10]})
    assert from_short.json()["head_sha"] == first
    from_branch = post({"name": "from-branch", "from": "from-sha"})
    assert from_branch.json()["head_sha"] == first
    assert_error(post({"name": "x", "from": "nope"}), 404, "REF_NOT_FOUND", ref="nope")
    assert_error(
        post({"name": "x", "from": "main", "head_sha": second}),
        400,
        "INVALID_REQUEST",
        field="head_sha",
    )
    assert_error(post({"name": "x"}), 400, "INVALID_REQUEST", field="from")
    assert_error(post({"name": "x", "from": ""}), 400, "INVALID_REQUEST", field="from")
    assert_error(post({"name": "from-main", "from": "main"}), 409, "BRANCH_EXISTS")


def test_last_commit_at_and_child_count(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    old = {**AUTHOR, "date": "2020-01-02T03:04:05Z"}
    new = {**AUTHOR, "date": "2021-06-07T08:09:10Z"}
    api.commit(
        "r",
        [
            {"path": "same.txt", "action": "create", "content": "s"},
            {"path": "changed.txt", "action": "create", "content": "1"},
            {"path": "dir/inner.txt", "action": "create", "content": "i"},
        ],
        committer=old,
    )
    api.commit("r", [{"path": "changed.txt", "action": "update", "content": "2"}], committer=new)
    root = http.get(f"/{org}/r/content").json()
    assert root["child_count"] == 3
    dates = {e["path"]: e.get("last_commit_at", "absent") for e in root["entries"]}
    assert dates == {
        "changed.txt": "2021-06-07T08:09:10Z",
        "dir": "absent",
        "same.txt": "2020-01-02T03:04:05Z",
    }
    page = http.get(f"/{org}/r/content", params={"limit": 1}).json()
    assert page["child_count"] == 3 and len(page["entries"]) == 1
    inner = http.get(f"/{org}/r/content", params={"path": "dir/inner.txt"}).json()
    assert inner["last_commit_at"] == "2020-01-02T03:04:05Z"
    assert http.get(f"/{org}/r/content", params={"path": "dir"}).json()["child_count"] == 1
