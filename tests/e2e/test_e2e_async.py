"""The ``_async`` twins against the emulator: every resource, typed errors, concurrency."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from e2e_support import git_blob_sha
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator
from mesa_sdk import ConflictError, MergeConflictError, Mesa, NotFoundError
from mesa_sdk.models import CommitResult, DirContent, FileContent, Success


@pytest.fixture
async def aclient(emu: Emulator, mesa_org: str) -> AsyncIterator[Mesa]:
    async with Mesa(
        api_key=emu.api_key, server_url=emu.url, org=mesa_org, retry_config={"strategy": "none"}
    ) as sdk:
        yield sdk


async def _commit(
    client: Mesa, edits: list[dict[str, object]], branch: str = "main", **extra: object
) -> CommitResult:
    body = {"branch": branch, "message": "change", "author": AUTHOR, "edits": edits, **extra}
    return await client.commits.create_async(repo="r", body=body)


async def test_async_twins_of_every_resource(aclient: Mesa, mesa_org: str) -> None:
    client = aclient
    repo = await client.repos.create_async(body={"name": "r"})
    assert await client.repos.get_async(repo="r") == repo
    root = await _commit(client, [{"path": "a.txt", "action": "create", "content": "one\n"}])
    assert root.parents == [] and root.branch == "main"

    branch = await client.branches.create_async(
        repo="r", body={"name": "feature", "head_sha": root.sha}
    )
    assert (branch.name, branch.head_sha, branch.is_default) == ("feature", root.sha, False)
    tip = await _commit(
        client, [{"path": "a.txt", "action": "update", "content": "two\n"}], branch="feature"
    )
    branches = await client.branches.list_async(repo="r")
    assert [(b.name, b.head_sha) for b in branches.result.branches] == [
        ("feature", tip.sha),
        ("main", root.sha),
    ]

    commits = await client.commits.list_async(repo="r", ref="feature")
    assert [c.sha for c in commits.result.commits] == [tip.sha, root.sha]
    got = await client.commits.get_async(repo="r", sha=tip.sha)
    assert got.parents == [root.sha] and got.message == "change"

    content = await client.content.get_async(repo="r", path="a.txt", ref="feature")
    assert isinstance(content, FileContent) and content.sha == git_blob_sha(b"two\n")
    assert base64.b64decode(content.content) == b"two\n"
    listing = await client.content.get_async(repo="r")
    assert isinstance(listing, DirContent) and [e.path for e in listing.entries] == ["a.txt"]
    assert await client.content.get_raw_async(repo="r", path="a.txt") == b"one\n"
    async with client.content.get_stream_async(repo="r", path="a.txt", ref=tip.sha) as stream:
        assert b"".join([chunk async for chunk in stream.iter_bytes()]) == b"two\n"

    diff = await client.diffs.get_async(repo="r", base="main", head="feature")
    assert [(f.status, f.path, f.additions, f.deletions) for f in diff.files] == [
        ("M", "a.txt", 1, 1)
    ]
    text = await client.diffs.get_text_async(repo="r", base="main", head="feature")
    assert text.startswith("diff --git a/a.txt b/a.txt\n") and text.endswith("-one\n+two\n")

    merged = await client.merge.perform_async(
        repo="r", base="main", body={"head": "feature", "author": AUTHOR, "delete_branch": True}
    )
    assert (merged.merge_type, merged.sha, merged.branch_deleted) == (
        "fast_forward",
        tip.sha,
        True,
    )
    again = await client.branches.create_async(repo="r", body={"name": "tmp", "head_sha": root.sha})
    assert await client.branches.delete_async(repo="r", branch=again.name) == Success(success=True)

    key = await client.admin.create_api_key_async(body={"name": "k", "scopes": ["git:read"]})
    keys = await client.admin.list_api_keys_async()
    assert [(k.id, k.scopes) for k in keys.api_keys] == [(key.id, ["git:read"])]
    assert await client.admin.revoke_api_key_async(id=key.id) == Success(success=True)

    data = b"async lfs object"
    spec = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (slot,) = (await client.lfs.upload_async(repo="r", body={"objects": [spec]})).objects
    assert slot.upload_url is not None
    async with httpx.AsyncClient() as http:
        assert (await http.put(slot.upload_url, content=data)).status_code == 200
        (found,) = (await client.lfs.download_async(repo="r", body={"objects": [spec]})).objects
        assert found.download_url is not None
        assert (await http.get(found.download_url)).content == data

    renamed = await client.repos.update_async(repo="r", body={"name": "r2"})
    assert (renamed.id, renamed.name, renamed.head_sha) == (repo.id, "r2", tip.sha)
    page = await client.repos.list_async()
    assert [r.name for r in page.result.repos] == ["r2"]
    assert await client.repos.delete_async(repo="r2") == Success(success=True)
    with pytest.raises(NotFoundError) as caught:
        await client.repos.get_async(org=mesa_org, repo="r2")
    assert caught.value.code == "REPO_NOT_FOUND"


async def test_async_typed_errors(aclient: Mesa) -> None:
    client = aclient
    await client.repos.create_async(body={"name": "r"})
    root = await _commit(client, [{"path": "a.txt", "action": "create", "content": "base"}])
    await client.branches.create_async(repo="r", body={"name": "f", "head_sha": root.sha})
    await _commit(client, [{"path": "a.txt", "action": "update", "content": "f"}], branch="f")
    head = await _commit(client, [{"path": "a.txt", "action": "update", "content": "m"}])
    with pytest.raises(MergeConflictError) as conflict:
        await client.merge.perform_async(
            repo="r", base="main", body={"head": "f", "author": AUTHOR}
        )
    assert conflict.value.details["conflict_paths"] == ["a.txt"]
    with pytest.raises(ConflictError) as moved:
        await _commit(
            client, [{"path": "b", "action": "create", "content": "b"}], base_sha=root.sha
        )
    assert moved.value.code == "BRANCH_MOVED"
    assert (await client.repos.get_async(repo="r")).head_sha == head.sha


async def test_async_calls_run_concurrently(aclient: Mesa) -> None:
    client = aclient
    created = await asyncio.gather(
        *(client.repos.create_async(body={"name": f"repo-{i:02d}"}) for i in range(20))
    )
    assert sorted(r.name for r in created) == [f"repo-{i:02d}" for i in range(20)]
    first = await client.repos.list_async(limit=6)
    names = [repo.name async for repo in first]
    assert names == [f"repo-{i:02d}" for i in range(20)]
