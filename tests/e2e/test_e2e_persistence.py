"""An emulator stopped and started again on the same data folder keeps everything: repos,
commits, branches, API keys, LFS objects, idempotency records and cursors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
from e2e_support import commit, lfs_pointer, raised
from tests.shared import create, update

from mesa_emulator.server import Emulator
from mesa_sdk import AuthenticationError, Mesa

BOOTSTRAP = "mesa_persistence-test-bootstrap-key-0123456789"


def _client(emu: Emulator, key: str = BOOTSTRAP) -> Mesa:
    return Mesa(api_key=key, server_url=emu.url, org="acme", retry_config={"strategy": "none"})


def test_restart_keeps_repos_commits_branches_keys_and_lfs(tmp_path: Path) -> None:
    data_dir = tmp_path / "depot"
    blob = os.urandom(50_000)
    spec = {"oid": hashlib.sha256(blob).hexdigest(), "size": len(blob)}

    with Emulator(data_dir=data_dir, api_key=BOOTSTRAP) as first, _client(first) as client:
        client.repos.create(body={"name": "app"})
        client.repos.create(body={"name": "old-name", "default_branch": "trunk"})
        client.repos.update(repo="old-name", body={"name": "lib"})
        root = commit(client, "app", [create("README.md", "# app\n")]).sha
        client.branches.create(repo="app", body={"name": "feature/a", "head_sha": root})
        commit(client, "app", [update("README.md", "# app v2\n")])
        commit(client, "app", [create("a.txt", "a")], branch="feature/a")
        (slot,) = client.lfs.upload(repo="app", body={"objects": [spec]}).objects
        assert slot.upload_url is not None
        assert httpx.put(slot.upload_url, content=blob).status_code == 200
        commit(client, "app", [{"path": "big.bin", "action": "create", "lfs": spec}])
        ci = client.admin.create_api_key(body={"name": "CI", "scopes": ["repo:read", "git:read"]})
        gone = client.admin.create_api_key(body={"name": "old"})
        client.admin.revoke_api_key(id=gone.id)
        replayed = client.repos.create(
            body={"name": "once"}, request_options={"idempotency_key": "create-once"}
        )
        cursor = client.repos.list(limit=1).result.next_cursor

        repos = client.repos.list().result
        history = client.commits.list(repo="app").result
        feature_history = client.commits.list(repo="app", ref="feature/a").result
        branches = client.branches.list(repo="app").result
        keys = client.admin.list_api_keys().api_keys
        tree = client.content.get(repo="app", depth=8)
    assert any(data_dir.iterdir())  # a given data folder is kept when the emulator stops

    with Emulator(data_dir=data_dir, api_key=BOOTSTRAP) as second, _client(second) as client:
        assert client.repos.list().result == repos
        assert [r.name for r in repos.repos] == ["app", "lib", "once"]
        assert client.repos.get(repo="lib").default_branch == "trunk"
        assert client.commits.list(repo="app").result == history
        assert client.commits.list(repo="app", ref="feature/a").result == feature_history
        assert client.branches.list(repo="app").result == branches
        assert client.content.get(repo="app", depth=8) == tree
        assert client.content.get_raw(repo="app", path="README.md") == b"# app v2\n"
        assert client.content.get_raw(repo="app", path="big.bin") == lfs_pointer(blob)

        # The keys, their scopes and their revocation survive; the secret still works.
        after = client.admin.list_api_keys().api_keys
        assert [(k.id, k.name, k.scopes, k.created_at, k.revoked_at) for k in after] == [
            (k.id, k.name, k.scopes, k.created_at, k.revoked_at) for k in keys
        ]
        with _client(second, ci.key) as reader:
            assert [r.name for r in reader.repos.list()] == ["app", "lib", "once"]
        with _client(second, gone.key) as revoked:
            error = raised(lambda: revoked.repos.list())
        assert isinstance(error, AuthenticationError) and error.code == "UNAUTHENTICATED"

        # LFS objects are still there, served from the new address.
        (found,) = client.lfs.download(repo="app", body={"objects": [spec]}).objects
        assert found.exists is True and found.download_url is not None
        assert found.download_url.startswith(second.base_url)
        assert httpx.get(found.download_url).content == blob

        # Idempotency records replay, and a cursor of the unchanged list still reads on.
        again = client.repos.create(
            body={"name": "once"}, request_options={"idempotency_key": "create-once"}
        )
        assert again == replayed
        assert cursor is not None
        assert [r.name for r in client.repos.list(cursor=cursor).result.repos] == ["lib", "once"]
