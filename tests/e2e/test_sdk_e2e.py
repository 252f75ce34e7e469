"""The SDK against the emulator: the documented call shapes, typed errors, retries, faults."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator
from mesa_sdk import (
    ConflictError,
    MergeConflictError,
    Mesa,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from mesa_sdk.models import DirContent, FileContent

ROOT = Path(__file__).resolve().parents[2]
FAST_RETRIES = {
    "strategy": "backoff",
    "backoff": {
        "initial_interval": 10,
        "max_interval": 50,
        "exponent": 1.5,
        "max_elapsed_time": 10_000,
    },
}


def test_complete_example_runs(mesa_emulator: Emulator, mesa_org: str) -> None:
    env = {
        **os.environ,
        "MESA_API_KEY": mesa_emulator.api_key,
        "MESA_SERVER_URL": mesa_emulator.url,
        "MESA_ORG": mesa_org,
        "PYTHONPATH": str(ROOT / "src"),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "complete_example.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Changes: 1 file\n" in out
    assert "feature.py (23 bytes):\nFEATURE_ENABLED = True\n" in out
    assert "Merged via fast_forward" in out and "Branch deleted: True" in out
    assert "404 REPO_NOT_FOUND" in out
    assert out.count("  commit ") == 2


def test_documented_repo_calls(mesa_client: Mesa, mesa_org: str) -> None:
    client = mesa_client
    repo = client.repos.create(org=mesa_org, body={"name": "my-repo", "default_branch": "main"})
    assert repo.name == "my-repo" and repo.head_sha is None
    for i in range(5):
        client.repos.create(org=mesa_org, body={"name": f"extra-{i}"})
    names: list[str] = []
    cursor = None
    while True:
        page = client.repos.list(org=mesa_org, cursor=cursor, limit=2)
        names += [r.name for r in page.result.repos]
        cursor = page.result.next_cursor
        if not cursor:
            break
    assert names == sorted(["my-repo"] + [f"extra-{i}" for i in range(5)])
    assert client.repos.get(org=mesa_org, repo="my-repo").id == repo.id
    updated = client.repos.update(org=mesa_org, repo="my-repo", body={"name": "new-name"})
    assert updated.name == "new-name" and updated.id == repo.id
    client.repos.delete(org=mesa_org, repo="new-name")
    with pytest.raises(NotFoundError) as caught:
        client.repos.get(org=mesa_org, repo="new-name")
    assert caught.value.code == "REPO_NOT_FOUND" and caught.value.status_code == 404
    assert caught.value.request_id


def test_documented_git_calls(mesa_client: Mesa, mesa_org: str) -> None:
    client = mesa_client
    client.repos.create(org=mesa_org, body={"name": "my-repo"})
    new_commit = client.commits.create(
        org=mesa_org,
        repo="my-repo",
        body={
            "branch": "main",
            "message": "Add README",
            "author": AUTHOR,
            "edits": [{"path": "README.md", "action": "create", "content": "# Hello from Mesa\n"}],
        },
    )
    commits_page = client.commits.list(org=mesa_org, repo="my-repo", ref="main")
    assert commits_page.result.commits[0].sha == new_commit.sha
    assert client.commits.get(org=mesa_org, repo="my-repo", sha=new_commit.sha).message == (
        "Add README"
    )
    branch = client.branches.create(
        org=mesa_org, repo="my-repo", body={"name": "feature-branch", "head_sha": new_commit.sha}
    )
    assert branch.name == "feature-branch" and not branch.is_default
    client.commits.create(
        org=mesa_org,
        repo="my-repo",
        body={
            "branch": "feature-branch",
            "message": "Add code",
            "author": AUTHOR,
            "edits": [{"path": "src/index.py", "action": "create", "content": "print('hi')\n"}],
        },
    )
    branches_page = client.branches.list(org=mesa_org, repo="my-repo")
    assert [b.name for b in branches_page.result.branches] == ["feature-branch", "main"]

    diff = client.diffs.get(org=mesa_org, repo="my-repo", base="main", head="feature-branch")
    assert [(f.status, f.path) for f in diff.files] == [("A", "src/index.py")]

    content = client.content.get(
        org=mesa_org, repo="my-repo", path="src/index.py", ref="feature-branch"
    )
    assert getattr(content, "type", None) == "file"
    assert isinstance(content, FileContent)
    assert base64.b64decode(content.content) == b"print('hi')\n"
    root = client.content.get(org=mesa_org, repo="my-repo", ref="feature-branch")
    assert isinstance(root, DirContent)
    assert [e.path for e in root.entries] == ["README.md", "src"]
    raw = client.content.get_raw(
        org=mesa_org, repo="my-repo", path="src/index.py", ref="feature-branch"
    )
    assert raw == b"print('hi')\n"

    result = client.merge.perform(
        org=mesa_org,
        repo="my-repo",
        base="main",
        body={
            "head": "feature-branch",
            "message": "Ship feature X",
            "author": AUTHOR,
            "delete_branch": True,
        },
    )
    assert result.merge_type == "fast_forward" and result.branch_deleted is True
    client.branches.create(
        org=mesa_org, repo="my-repo", body={"name": "tmp", "head_sha": result.sha}
    )
    client.branches.delete(org=mesa_org, repo="my-repo", branch="tmp")


def test_typed_conflicts(mesa_client: Mesa, mesa_org: str) -> None:
    client = mesa_client
    client.repos.create(org=mesa_org, body={"name": "r"})

    def write(branch: str, content: str, action: str = "update") -> str:
        return client.commits.create(
            org=mesa_org,
            repo="r",
            body={
                "branch": branch,
                "message": f"{branch}: {content}",
                "author": AUTHOR,
                "edits": [{"path": "a.txt", "action": action, "content": content}],
            },
        ).sha

    root = write("main", "base\n", "create")
    client.branches.create(org=mesa_org, repo="r", body={"name": "f", "head_sha": root})
    write("f", "feature\n")
    write("main", "main\n")
    with pytest.raises(MergeConflictError) as conflict:
        client.merge.perform(
            org=mesa_org, repo="r", base="main", body={"head": "f", "author": AUTHOR}
        )
    assert conflict.value.details["conflict_paths"] == ["a.txt"]
    with pytest.raises(ConflictError) as moved:
        client.commits.create(
            org=mesa_org,
            repo="r",
            body={
                "branch": "main",
                "message": "stale",
                "author": AUTHOR,
                "base_sha": root,
                "edits": [{"path": "b.txt", "action": "create", "content": "x"}],
            },
        )
    assert moved.value.code == "BRANCH_MOVED"


def test_admin_and_lfs(mesa_client: Mesa, mesa_org: str, mesa_emulator: Emulator) -> None:
    client = mesa_client
    new_key = client.admin.create_api_key(
        org=mesa_org, body={"name": "CI Key", "scopes": ["git:read", "git:write"]}
    )
    assert new_key.key.startswith("mesa_")
    keys = client.admin.list_api_keys(org=mesa_org)
    assert [k.id for k in keys.api_keys] == [new_key.id]
    client.admin.revoke_api_key(org=mesa_org, id=new_key.id)
    assert client.admin.list_api_keys(org=mesa_org).api_keys[0].revoked_at is not None

    client.repos.create(org=mesa_org, body={"name": "lfs-repo"})
    data = b"\x89PNG fake image" * 100
    oid = hashlib.sha256(data).hexdigest()
    upload = client.lfs.upload(
        org=mesa_org, repo="lfs-repo", body={"objects": [{"oid": oid, "size": len(data)}]}
    )
    (obj,) = upload.objects
    assert obj.exists is False and obj.upload_url
    assert httpx.put(obj.upload_url, content=data).status_code == 200
    download = client.lfs.download(
        org=mesa_org, repo="lfs-repo", body={"objects": [{"oid": oid, "size": len(data)}]}
    )
    assert download.objects[0].download_url
    assert httpx.get(download.objects[0].download_url).content == data


def test_sdk_retries_scripted_503s(mesa_emulator: Emulator, mesa_org: str) -> None:
    mesa_emulator.script_faults(
        f"/api/v1/{mesa_org}/repos",
        [{"status": 503, "retry_after": 0}, {"status": 502}],
        method="POST",
    )
    try:
        with Mesa(
            api_key=mesa_emulator.api_key, server_url=mesa_emulator.url, retry_config=FAST_RETRIES
        ) as client:
            repo = client.repos.create(org=mesa_org, body={"name": "after-retries"})
        assert repo.name == "after-retries"
        log = mesa_emulator.fault_log()[0]["faults"]
        assert [f["consumed"] for f in log] == [True, True]
    finally:
        mesa_emulator.clear_faults()


def test_sdk_retry_after_dropped_answer_replays_once(
    mesa_emulator: Emulator, mesa_org: str
) -> None:
    with Mesa(
        api_key=mesa_emulator.api_key, server_url=mesa_emulator.url, retry_config=FAST_RETRIES
    ) as client:
        client.repos.create(org=mesa_org, body={"name": "r"})
        mesa_emulator.script_faults(
            f"/api/v1/{mesa_org}/r/commits", [{"drop": "after"}], method="POST"
        )
        try:
            made = client.commits.create(
                org=mesa_org,
                repo="r",
                body={
                    "branch": "main",
                    "message": "exactly once",
                    "author": AUTHOR,
                    "edits": [{"path": "a", "action": "create", "content": "x"}],
                },
            )
        finally:
            mesa_emulator.clear_faults()
        commits = client.commits.list(org=mesa_org, repo="r").result.commits
        assert [c.sha for c in commits] == [made.sha]


def test_rate_limit_is_a_typed_error(mesa_emulator: Emulator, mesa_org: str) -> None:
    mesa_emulator.set_rate_limit(0.01, burst=1)
    try:
        with Mesa(
            api_key=mesa_emulator.api_key,
            server_url=mesa_emulator.url,
            retry_config={"strategy": "none"},
        ) as client:
            client.repos.list(org=mesa_org)
            with pytest.raises(RateLimitError) as caught:
                client.repos.list(org=mesa_org)
        assert caught.value.status_code == 429 and caught.value.retry_after is not None
    finally:
        mesa_emulator.set_rate_limit(None)


def test_server_error_without_retries(mesa_emulator: Emulator, mesa_org: str) -> None:
    mesa_emulator.script_faults(f"/api/v1/{mesa_org}/repos", [{"status": 500}])
    try:
        with (
            Mesa(
                api_key=mesa_emulator.api_key,
                server_url=mesa_emulator.url,
                retry_config={"strategy": "none"},
            ) as client,
            pytest.raises(ServerError) as caught,
        ):
            client.repos.list(org=mesa_org)
        assert caught.value.code == "INTERNAL_ERROR"
    finally:
        mesa_emulator.clear_faults()


async def test_async_twins(mesa_emulator: Emulator, mesa_org: str) -> None:
    async with Mesa(api_key=mesa_emulator.api_key, server_url=mesa_emulator.url) as client:
        await client.repos.create_async(org=mesa_org, body={"name": "async-repo"})
        page = await client.repos.list_async(org=mesa_org)
        assert [r.name for r in page.result.repos] == ["async-repo"]


def test_get_stream_reports_size_and_progress(mesa_client: Mesa) -> None:
    data = os.urandom(300_000)
    mesa_client.repos.create(body={"name": "big"})
    mesa_client.commits.create(
        repo="big",
        body={
            "branch": "main",
            "message": "big file",
            "author": AUTHOR,
            "files": [
                {
                    "path": "big.bin",
                    "content": base64.b64encode(data).decode(),
                    "encoding": "base64",
                }
            ],
        },
    )
    progress = []
    received = b""
    with mesa_client.content.get_stream(repo="big", path="big.bin") as stream:
        assert (stream.total_bytes, stream.bytes_read) == (len(data), 0)
        for chunk in stream.iter_bytes(chunk_size=100_000):
            received += chunk
            progress.append(stream.bytes_read)
    assert received == data
    assert progress == [100_000, 200_000, 300_000]
