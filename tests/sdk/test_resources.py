"""Each generated method sends the exact request and returns the exact model."""

from __future__ import annotations

import base64
import copy
import json
import pickle
from datetime import datetime, timezone

import httpx
import pytest
import respx

from mesa_sdk import Mesa
from mesa_sdk.models import (
    ApiKeyCreated,
    Branch,
    CommitResult,
    DirContent,
    DirEntry,
    FileContent,
    MergeResult,
    Repo,
    Success,
    SymlinkContent,
    UnknownContent,
)
from tests.shared import AUTHOR

from .conftest import KEY, SHA, repo_json


def sent(route: respx.Route) -> httpx.Request:
    return route.calls.last.request


def test_repos_create_sends_the_body_and_returns_the_repo(
    client: Mesa, api: respx.MockRouter
) -> None:
    route = api.post("/acme/repos").respond(201, json=repo_json())

    repo = client.repos.create(body={"name": "widgets", "default_branch": "main"})

    assert repo == Repo(
        id="repo_1",
        org="acme",
        name="widgets",
        default_branch="main",
        head_sha=SHA,
        size_bytes=1234,
        created_at=datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc),
        upstream=None,
    )
    request = sent(route)
    assert request.method == "POST"
    assert request.content == b'{"name":"widgets","default_branch":"main"}'
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("mesa-sdk-python/")
    assert len(request.headers["idempotency-key"]) >= 16


def test_org_passed_to_a_call_wins_over_the_client_default(
    client: Mesa, api: respx.MockRouter
) -> None:
    route = api.get("/other/widgets").respond(200, json=repo_json(org="other"))
    assert client.repos.get(org="other", repo="widgets").org == "other"
    assert route.called


def test_path_parameters_are_percent_encoded(client: Mesa, api: respx.MockRouter) -> None:
    route = api.delete("/acme/widgets/branches/feature%2Fx%25y%20z%C3%A9").respond(
        200, json={"success": True}
    )
    result = client.branches.delete(repo="widgets", branch="feature/x%y zé")
    assert result == Success(success=True)
    assert sent(route).url.raw_path == b"/api/v1/acme/widgets/branches/feature%2Fx%25y%20z%C3%A9"


def test_a_repository_name_the_api_cannot_hold_fails_before_sending(
    client: Mesa, api: respx.MockRouter
) -> None:
    from mesa_sdk import InvalidRequestError

    for name in ("my repo", "../other", "répo", "a/b"):
        with pytest.raises(InvalidRequestError, match=r"repos\.get: repo: String should match"):
            client.repos.get(repo=name)
    assert not api.calls


def test_a_dot_dot_path_parameter_fails_before_sending(client: Mesa, api: respx.MockRouter) -> None:
    from mesa_sdk import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="branch"):
        client.branches.delete(repo="widgets", branch="..")
    assert not api.calls


def test_list_sends_limit_and_cursor_and_pages(client: Mesa, api: respx.MockRouter) -> None:
    first = {"repos": [repo_json("a"), repo_json("b")], "next_cursor": "c2", "has_more": True}
    last = {"repos": [repo_json("c")], "next_cursor": None, "has_more": False}
    route = api.get("/acme/repos").mock(
        side_effect=lambda request: httpx.Response(
            200, json=last if request.url.params.get("cursor") == "c2" else first
        )
    )

    page = client.repos.list(limit=2)
    assert [r.name for r in page.result.repos] == ["a", "b"]
    assert page.result.next_cursor == "c2" and page.result.has_more is True
    assert dict(sent(route).url.params) == {"limit": "2"}

    second = page.next()
    assert second is not None
    assert dict(sent(route).url.params) == {"limit": "2", "cursor": "c2"}
    assert [r.name for r in second.result.repos] == ["c"]
    assert second.next() is None

    assert [r.name for r in client.repos.list(limit=2)] == ["a", "b", "c"]


def test_the_seed_cursor_loop_works(client: Mesa, api: respx.MockRouter) -> None:
    pages = {
        None: {"repos": [repo_json("a")], "next_cursor": "x", "has_more": True},
        "x": {"repos": [repo_json("b")], "next_cursor": None, "has_more": False},
    }
    api.get("/acme/repos").mock(
        side_effect=lambda request: httpx.Response(
            200, json=pages[request.url.params.get("cursor")]
        )
    )
    names, cursor = [], None
    while True:
        page = client.repos.list(org="acme", cursor=cursor, limit=100)
        names += [repo.name for repo in page.result.repos]
        cursor = page.result.next_cursor
        if not cursor:
            break
    assert names == ["a", "b"]


def test_commits_create_sends_edits_exactly(client: Mesa, api: respx.MockRouter) -> None:
    route = api.post("/acme/widgets/commits").respond(
        201, json={"sha": SHA, "branch": "main", "message": "Add README", "parents": []}
    )
    result = client.commits.create(
        repo="widgets",
        body={
            "branch": "main",
            "message": "Add README",
            "author": AUTHOR,
            "edits": [
                {"path": "README.md", "action": "create", "content": "# Hello\n"},
                {"path": "old.txt", "action": "delete"},
            ],
        },
    )
    assert result == CommitResult(sha=SHA, branch="main", message="Add README", parents=[])
    assert json.loads(sent(route).content) == {
        "branch": "main",
        "message": "Add README",
        "author": AUTHOR,
        "edits": [
            {"path": "README.md", "action": "create", "content": "# Hello\n"},
            {"path": "old.txt", "action": "delete"},
        ],
    }


def test_a_bad_body_names_the_field_and_sends_nothing(client: Mesa, api: respx.MockRouter) -> None:
    from mesa_sdk import InvalidRequestError

    with pytest.raises(InvalidRequestError) as caught:
        client.commits.create(
            repo="widgets",
            body={  # type: ignore[typeddict-item]
                "branch": "main",
                "message": "m",
                "author": AUTHOR,
                "edits": [{"path": "a", "action": "rename"}],
            },
        )
    assert "body.edits.0.action" in str(caught.value)
    with pytest.raises(InvalidRequestError, match=r"body\.nmae"):
        client.repos.create(body={"nmae": "typo"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(InvalidRequestError, match="limit"):
        client.repos.list(limit=0)
    with pytest.raises(
        InvalidRequestError, match=r"body\.default_branch: .*may be omitted, but not null"
    ):
        client.repos.create(body={"name": "x", "default_branch": None})  # type: ignore[typeddict-item]
    assert not api.calls


def test_branches_create_and_merge_perform(client: Mesa, api: respx.MockRouter) -> None:
    api.post("/acme/widgets/branches").respond(
        201, json={"name": "feature", "head_sha": SHA, "is_default": False}
    )
    merge_route = api.post("/acme/widgets/merge/release%2F1").respond(
        200,
        json={
            "merge_type": "fast_forward",
            "sha": SHA,
            "base": "release/1",
            "head": "feature",
            "branch_deleted": True,
        },
    )
    branch = client.branches.create(repo="widgets", body={"name": "feature", "head_sha": SHA})
    assert branch == Branch(name="feature", head_sha=SHA, is_default=False)

    merge = client.merge.perform(
        repo="widgets",
        base="release/1",
        body={"head": "feature", "author": AUTHOR, "delete_branch": True},
    )
    assert merge == MergeResult(
        merge_type="fast_forward", sha=SHA, base="release/1", head="feature", branch_deleted=True
    )
    assert merge_route.called


def test_content_is_told_apart_by_type(client: Mesa, api: respx.MockRouter) -> None:
    file_json = {
        "type": "file",
        "name": "run.sh",
        "path": "bin/run.sh",
        "sha": SHA,
        "size": 3,
        "encoding": "base64",
        "content": base64.b64encode(b"hi\n").decode(),
        "executable": True,
        "last_commit_at": None,
    }
    link_json = {**file_json, "type": "symlink", "name": "l", "path": "l", "target": "bin/run.sh"}
    dir_json = {
        "type": "dir",
        "name": "bin",
        "path": "bin",
        "sha": SHA,
        "child_count": 1,
        "entries": [
            {
                "type": "file",
                "name": "run.sh",
                "path": "bin/run.sh",
                "sha": SHA,
                "size": 3,
                "executable": True,
                "last_commit_at": None,
            }
        ],
        "next_cursor": None,
        "has_more": False,
    }
    future_json = {"type": "submodule", "name": "vendor", "path": "vendor", "url": "https://x"}
    answers = {"bin/run.sh": file_json, "l": link_json, "bin": dir_json, "vendor": future_json}
    route = api.get("/acme/widgets/content").mock(
        side_effect=lambda r: httpx.Response(200, json=answers[r.url.params["path"]])
    )

    file = client.content.get(repo="widgets", path="bin/run.sh", ref="main")
    assert isinstance(file, FileContent)
    assert base64.b64decode(file.content) == b"hi\n" and file.executable is True
    assert dict(sent(route).url.params) == {"path": "bin/run.sh", "ref": "main"}

    link = client.content.get(repo="widgets", path="l")
    assert isinstance(link, SymlinkContent) and link.target == "bin/run.sh"

    directory = client.content.get(repo="widgets", path="bin")
    assert isinstance(directory, DirContent)
    assert directory.entries == [
        DirEntry(
            type="file",
            name="run.sh",
            path="bin/run.sh",
            sha=SHA,
            size=3,
            executable=True,
            last_commit_at=None,
        )
    ]

    future = client.content.get(repo="widgets", path="vendor")
    assert isinstance(future, UnknownContent)
    assert future.type == "submodule" and future.model_extra == {
        "name": "vendor",
        "path": "vendor",
        "url": "https://x",
    }


def test_raw_content_and_a_stream(client: Mesa, api: respx.MockRouter) -> None:
    payload = bytes(range(256)) * 1000
    route = api.get("/acme/widgets/content").respond(
        200, content=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert client.content.get_raw(repo="widgets", path="blob.bin") == payload
    assert sent(route).headers["accept"] == "application/octet-stream"

    with client.content.get_stream(repo="widgets", path="blob.bin") as stream:
        chunks = list(stream.iter_bytes(chunk_size=4096))
    assert b"".join(chunks) == payload and len(chunks) > 1


def test_diff_as_model_and_as_text(client: Mesa, api: respx.MockRouter) -> None:
    diff_json = {
        "base": "main",
        "head": "feature",
        "base_sha": SHA,
        "head_sha": SHA,
        "stats": {"files": 1, "additions": 1, "deletions": 0, "changes": 1},
        "files": [
            {
                "path": "a.py",
                "status": "A",
                "old_path": None,
                "additions": 1,
                "deletions": 0,
                "binary": False,
                "raw": "diff --git a/a.py b/a.py\n",
            },
            {"path": "b.py", "status": "X", "additions": 0, "deletions": 0, "binary": False},
        ],
        "filtered_files": [],
    }
    route = api.get("/acme/widgets/diff").mock(
        side_effect=lambda r: (
            httpx.Response(200, json=diff_json)
            if r.headers["accept"] == "application/json"
            else httpx.Response(200, text="diff --git a/a.py b/a.py\n")
        )
    )
    diff = client.diffs.get(repo="widgets", base="main", head="feature")
    assert [(f.status, f.path) for f in diff.files] == [("A", "a.py"), ("X", "b.py")]
    assert dict(sent(route).url.params) == {"base": "main", "head": "feature"}
    assert client.diffs.get_text(repo="widgets", base="main", head="feature") == (
        "diff --git a/a.py b/a.py\n"
    )
    assert sent(route).headers["accept"] == "text/plain"


def test_admin_and_lfs(client: Mesa, api: respx.MockRouter) -> None:
    api.post("/acme/api-keys").respond(
        201,
        json={
            "id": "key_1",
            "key": "mesa_new_secret",
            "name": "CI Key",
            "scopes": ["git:read", "git:write"],
            "created_at": "2026-11-22T08:00:00Z",
        },
    )
    revoke = api.delete("/acme/api-keys/key_1").respond(200, json={"success": True})
    lfs = api.post("/acme/widgets/lfs/objects").respond(
        200,
        json={
            "objects": [
                {
                    "oid": "a" * 64,
                    "size": 4,
                    "exists": False,
                    "upload_url": "http://x/up",
                    "expires_in": 3600,
                }
            ]
        },
    )
    created = client.admin.create_api_key(
        body={"name": "CI Key", "scopes": ["git:read", "git:write"]}
    )
    assert isinstance(created, ApiKeyCreated) and created.key == "mesa_new_secret"
    assert client.admin.revoke_api_key(id="key_1").success is True
    assert revoke.called
    upload = client.lfs.upload(repo="widgets", body={"objects": [{"oid": "a" * 64, "size": 4}]})
    assert upload.objects[0].upload_url == "http://x/up"
    assert json.loads(sent(lfs).content) == {"objects": [{"oid": "a" * 64, "size": 4}]}


def test_responses_keep_fields_and_values_the_sdk_does_not_know(
    client: Mesa, api: respx.MockRouter
) -> None:
    api.get("/acme/widgets").respond(200, json=repo_json(visibility="private"))
    api.post("/acme/widgets/merge/main").respond(
        200,
        json={
            "merge_type": "rebase",
            "sha": SHA,
            "base": "main",
            "head": "f",
            "branch_deleted": False,
        },
    )
    repo = client.repos.get(repo="widgets")
    assert repo.model_extra == {"visibility": "private"}
    merge = client.merge.perform(repo="widgets", base="main", body={"head": "f", "author": AUTHOR})
    assert merge.merge_type == "rebase"


def test_the_request_id_stays_on_the_returned_model_through_copies_and_pickles(
    client: Mesa, api: respx.MockRouter
) -> None:
    pages = {"repos": [repo_json("a")], "next_cursor": None, "has_more": False}
    api.get("/acme/repos").respond(200, json=pages, headers={"X-Request-Id": "req_page"})
    api.get("/acme/widgets").respond(200, json=repo_json(), headers={"X-Request-Id": "req_1"})
    repo = client.repos.get(repo="widgets")
    assert repo._request_id == "req_1"
    assert copy.copy(repo)._request_id == "req_1"
    assert copy.deepcopy(repo)._request_id == "req_1"
    assert repo.model_copy()._request_id == "req_1"
    assert pickle.loads(pickle.dumps(repo))._request_id == "req_1"
    assert "req_1" not in repr(repo) and "_request_id" not in repo.model_dump()
    # Only the model a call returns carries it: not one built by hand, nor a nested one.
    assert Repo.model_validate(repo_json())._request_id is None
    page = client.repos.list()
    assert page.result._request_id == "req_page"
    assert page.result.repos[0]._request_id is None


async def test_async_twins(api: respx.MockRouter) -> None:
    api.get("/acme/widgets").respond(200, json=repo_json())
    pages = {
        None: {"repos": [repo_json("a")], "next_cursor": "x", "has_more": True},
        "x": {"repos": [repo_json("b")], "next_cursor": None, "has_more": False},
    }
    api.get("/acme/repos").mock(
        side_effect=lambda request: httpx.Response(
            200, json=pages[request.url.params.get("cursor")]
        )
    )
    async with Mesa(api_key=KEY, server_url="https://depot.test/api/v1", org="acme") as client:
        repo = await client.repos.get_async(repo="widgets")
        assert repo.name == "widgets"
        page = await client.repos.list_async()
        assert [r.name async for r in page] == ["a", "b"]
