"""Upstreams end to end: our SDK against the emulator, which imports and syncs repositories
from real git repositories built in the test's folder (a path, a `file://` URL, or served over
loopback HTTP), and org.get."""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import AUTHOR, assert_recent, raised
from upstream_support import GitUpstream, gated_git_server, git

from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from mesa_sdk.errors import ConflictError, NotFoundError
from mesa_sdk.models import Repo, SyncError, SyncOk, SyncRunning, Upstream

PROMISED_S = 15.0
TOKEN = "ghp_upstreamSecretToken1234"


def wait_until(condition: Callable[[], bool], timeout: float = PROMISED_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the promised time"
        time.sleep(0.02)


def imported(client: Mesa, repo: str) -> Repo:
    """The repository once its import ended (``repos.get`` answers 200)."""
    found: list[Repo] = []

    def done() -> bool:
        found[:] = [client.repos.get(repo=repo)]
        return found[0].status is None

    wait_until(done)
    return found[0]


def branch_heads(client: Mesa, repo: str) -> dict[str, str]:
    return {b.name: b.head_sha for b in client.branches.list(repo=repo, limit=100)}


def file_bytes(client: Mesa, repo: str, path: str, ref: str) -> bytes:
    content: Any = client.content.get(repo=repo, path=path, ref=ref)
    return base64.b64decode(content.content)


@pytest.fixture
def upstream(tmp_path: Path) -> GitUpstream:
    """An upstream with two branches: main (two commits) and dev."""
    made = GitUpstream(tmp_path)
    made.commit("main", {"README.md": b"# Widgets\n", "bin/tool": b"\x00\x01binary\xff"}, "one")
    made.commit("main", {"README.md": b"# Widgets\n\nv2\n"}, "two")
    made.commit("dev", {"dev.txt": b"dev work\n"}, "dev")
    return made


def test_create_with_a_path_imports_every_branch_and_byte(
    client: Mesa, upstream: GitUpstream
) -> None:
    upstream.tag("v1", "main~1")
    created = client.repos.create(body={"name": "mirror", "upstream": {"uri": str(upstream.bare)}})
    assert created.upstream is not None and created.upstream.uri == str(upstream.bare)
    repo = imported(client, "mirror")

    heads = upstream.heads()
    assert branch_heads(client, "mirror") == heads
    assert repo.head_sha == heads["main"]
    assert file_bytes(client, "mirror", "README.md", "main") == b"# Widgets\n\nv2\n"
    assert file_bytes(client, "mirror", "bin/tool", "main") == b"\x00\x01binary\xff"
    assert file_bytes(client, "mirror", "dev.txt", "dev") == b"dev work\n"
    assert file_bytes(client, "mirror", "README.md", "v1") == b"# Widgets\n"  # tags come too
    assert repo.upstream is not None
    assert repo.upstream.model_dump(exclude={"last_sync_attempt", "last_sync_success"}) == {
        "uri": str(upstream.bare),
        "autosync": None,
        "last_sync_error": None,
        "has_credential": False,
        "credential_host": None,
    }
    assert repo.upstream.last_sync_success is not None
    assert_recent(repo.upstream.last_sync_success)
    status = client.repos.get_sync_status(repo="mirror")
    assert status.status == SyncOk(type="ok")
    assert status.last_sync_success == repo.upstream.last_sync_success


def test_an_import_takes_the_upstreams_default_branch_when_it_lacks_its_own(
    client: Mesa, tmp_path: Path
) -> None:
    made = GitUpstream(tmp_path)
    made.commit("main", {"a.txt": b"a\n"}, "one")
    git("push", "--quiet", "origin", "main:trunk", cwd=made.work)
    git("symbolic-ref", "HEAD", "refs/heads/trunk", cwd=made.bare)
    git("update-ref", "-d", "refs/heads/main", cwd=made.bare)

    client.repos.create(body={"name": "t", "upstream": {"uri": str(made.bare)}})
    repo = imported(client, "t")
    assert (repo.default_branch, repo.head_sha) == ("trunk", made.heads()["trunk"])
    assert [(b.name, b.is_default) for b in client.branches.list(repo="t")] == [("trunk", True)]


def test_sync_fast_forwards_and_keeps_local_branches(client: Mesa, upstream: GitUpstream) -> None:
    client.repos.create(body={"name": "mirror", "upstream": {"uri": upstream.file_url}})
    imported(client, "mirror")
    client.branches.create(repo="mirror", body={"name": "ours", "from": "main"})
    new_main = upstream.commit("main", {"README.md": b"v3\n", "new.txt": b"new\n"}, "three")
    feature = upstream.commit("feature", {"f.txt": b"feature\n"}, "feature")

    assert client.repos.sync(repo="mirror").success is True

    heads = branch_heads(client, "mirror")
    assert heads == {**upstream.heads(), "ours": heads["ours"]}
    assert (heads["main"], heads["feature"]) == (new_main, feature)
    assert file_bytes(client, "mirror", "new.txt", "main") == b"new\n"
    assert client.repos.get_sync_status(repo="mirror").status == SyncOk(type="ok")


def test_a_diverged_branch_fails_the_sync_and_loses_nothing(
    client: Mesa, upstream: GitUpstream
) -> None:
    client.repos.create(body={"name": "mirror", "upstream": {"uri": str(upstream.bare)}})
    imported(client, "mirror")
    ours = client.commits.create(
        repo="mirror",
        body={
            "branch": "main",
            "message": "local work",
            "author": AUTHOR,
            "files": [{"path": "local.txt", "content": "mine\n"}],
        },
    )
    upstream.commit("main", {"README.md": b"upstream v3\n"}, "upstream three")
    dev = upstream.commit("dev", {"dev.txt": b"dev v2\n"}, "dev two")

    error = raised(lambda: client.repos.sync(repo="mirror"))
    message = (
        "Branch(es) main have commits the upstream lacks and were left as they are; "
        "the other branches were synced."
    )
    assert isinstance(error, ConflictError)
    assert (error.status_code, error.code, error.message) == (409, "SYNC_FAILED", message)

    heads = branch_heads(client, "mirror")
    assert (heads["main"], heads["dev"]) == (ours.sha, dev)
    assert file_bytes(client, "mirror", "local.txt", "main") == b"mine\n"
    status = client.repos.get_sync_status(repo="mirror")
    assert status.status == SyncError(type="error", message=message)
    repo = client.repos.get(repo="mirror")
    assert repo.upstream is not None and repo.upstream.last_sync_error == message


def test_repos_get_answers_202_while_importing_then_200(
    emu: Emulator, client: Mesa, mesa_org: str, upstream: GitUpstream
) -> None:
    with gated_git_server(upstream) as server:
        body = {"name": "slow", "upstream": {"uri": server.url, "token": TOKEN}}
        created = client.repos.create(body=body)
        assert created.status == "syncing"
        assert server.waiting.wait(PROMISED_S)  # git is fetching, held at the gate

        with httpx.Client(
            base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30
        ) as http:
            raw = http.get(f"/{mesa_org}/slow")
        assert raw.status_code == 202 and raw.json()["status"] == "syncing"
        syncing = client.repos.get(repo="slow")
        assert (syncing.status, syncing.head_sha) == ("syncing", None)
        assert client.repos.get_sync_status(repo="slow").status == SyncRunning(type="syncing")

        server.gate.set()
        repo = imported(client, "slow")
        assert repo.head_sha == upstream.heads()["main"]
        assert repo.upstream is not None
        assert (repo.upstream.has_credential, repo.upstream.credential_host) == (
            True,
            server.host,
        )
        basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        assert set(server.authorizations) == {f"Basic {basic}"}
        assert TOKEN not in raw.text + created.model_dump_json() + repo.model_dump_json()


def test_a_bad_upstream_ends_in_error_naming_it_without_the_token(
    client: Mesa, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    missing = tmp_path / "missing.git"
    client.repos.create(body={"name": "broken", "upstream": {"uri": str(missing), "token": TOKEN}})
    wait_until(lambda: client.repos.get_sync_status(repo="broken").status.type == "error")
    expected = (
        f"Could not fetch {missing}: fatal: '{missing}' does not appear to be a git repository"
    )
    status = client.repos.get_sync_status(repo="broken")
    assert status.status == SyncError(type="error", message=expected)
    assert status.last_sync_success is None
    repo = client.repos.get(repo="broken")  # the import ended: 200, empty
    assert (repo.status, repo.head_sha) == (None, None)
    error = raised(lambda: client.repos.sync(repo="broken"))
    assert (error.status_code, error.code, error.message) == (409, "SYNC_FAILED", expected)
    assert TOKEN not in caplog.text


def test_update_keeps_replaces_or_removes_the_upstream(client: Mesa, upstream: GitUpstream) -> None:
    uri = str(upstream.bare)
    client.repos.create(body={"name": "r", "upstream": {"uri": uri, "token": TOKEN}})
    imported(client, "r")

    def upstream_of(repo: Repo) -> Upstream:
        assert repo.upstream is not None
        return repo.upstream

    kept = upstream_of(client.repos.update(repo="r", body={"default_branch": "main"}))
    assert (kept.uri, kept.has_credential) == (uri, True)
    autosync = {"type": "poll", "period": 3600}
    replaced = upstream_of(
        client.repos.update(repo="r", body={"upstream": {"uri": uri, "autosync": autosync}})
    )
    assert replaced.has_credential is True  # `token` left out: the stored one is kept
    assert replaced.autosync is not None
    assert replaced.autosync.model_dump() == {**autosync, "resolution_strategy": "none"}
    imported(client, "r")
    unlinked = upstream_of(
        client.repos.update(repo="r", body={"upstream": {"uri": uri, "token": None}})
    )
    assert (unlinked.has_credential, unlinked.credential_host, unlinked.autosync) == (
        False,
        None,
        None,
    )
    imported(client, "r")
    removed = client.repos.update(repo="r", body={"upstream": None})
    assert removed.upstream is None
    assert client.repos.get(repo="r").upstream is None
    for call in (
        lambda: client.repos.get_sync_status(repo="r"),
        lambda: client.repos.sync(repo="r"),
    ):
        error = raised(call)
        assert isinstance(error, NotFoundError)
        assert (error.code, error.message) == (
            "UPSTREAM_NOT_FOUND",
            f"Repository '{client.repos.get(repo='r').org}/r' has no upstream to sync from.",
        )
    # What was imported stays.
    assert branch_heads(client, "r") == upstream.heads()


@pytest.mark.parametrize(
    ("upstream_body", "message"),
    [
        (
            {"uri": "ssh://git@example.com/a.git"},
            "Field 'upstream.uri' must be an http(s):// , git:// or file:// URL, or an "
            "absolute path.",
        ),
        (
            {"uri": "relative/path.git"},
            "Field 'upstream.uri' must be an http(s):// , git:// or file:// URL, or an "
            "absolute path.",
        ),
        (
            {"uri": f"https://user:{TOKEN}@example.com/a.git"},
            "Field 'upstream.uri' must not hold a password: give it as 'token'.",
        ),
    ],
)
def test_an_upstream_uri_the_emulator_cannot_fetch_is_refused(
    emu: Emulator, mesa_org: str, upstream_body: dict[str, Any], message: str
) -> None:
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30
    ) as http:
        answer = http.post(f"/{mesa_org}/repos", json={"name": "r", "upstream": upstream_body})
        assert answer.status_code == 400
        assert answer.json()["error"] == {
            "code": "INVALID_REQUEST",
            "message": message,
            "details": {"field": "upstream.uri"},
        }
        assert http.get(f"/{mesa_org}/r").status_code == 404


def test_the_async_twins(client: Mesa, upstream: GitUpstream) -> None:
    async def run() -> None:
        made = await client.repos.create_async(
            body={"name": "a", "upstream": {"uri": str(upstream.bare)}}
        )
        assert made.status == "syncing"
        assert (await client.repos.sync_async(repo="a")).success is True
        status = await client.repos.get_sync_status_async(repo="a")
        assert status.status == SyncOk(type="ok")
        assert (await client.org.get_async()).num_repos == 1

    asyncio.run(run())
    assert branch_heads(client, "a") == upstream.heads()


def test_org_get_counts_the_repositories(client: Mesa) -> None:
    first = client.org.get()
    assert first.num_repos == 0
    assert_recent(first.created_at)
    client.repos.create(body={"name": "a"})
    client.repos.create(body={"name": "b"})
    client.repos.delete(repo="a")
    assert client.org.get().model_dump() == {"created_at": first.created_at, "num_repos": 1}


# ---- an emulator of its own: autosync, restart, scopes ------------------------------------


@pytest.fixture
def fast_autosync(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(data_dir=tmp_path / "data", autosync_period=0.2) as emulator:
        yield emulator


def test_autosync_follows_the_upstream(fast_autosync: Emulator, upstream: GitUpstream) -> None:
    with Mesa(api_key=fast_autosync.api_key, server_url=fast_autosync.url, org="acme") as client:
        autosync = {"type": "poll", "period": 60}
        client.repos.create(
            body={"name": "auto", "upstream": {"uri": str(upstream.bare), "autosync": autosync}}
        )
        imported(client, "auto")
        later = upstream.commit("main", {"later.txt": b"later\n"}, "later")
        wait_until(lambda: branch_heads(client, "auto")["main"] == later)
        assert file_bytes(client, "auto", "later.txt", "main") == b"later\n"
        # Without autosync nothing follows.
        client.repos.create(body={"name": "manual", "upstream": {"uri": str(upstream.bare)}})
        imported(client, "manual")
        latest = upstream.commit("main", {"latest.txt": b"x\n"}, "latest")
        wait_until(lambda: branch_heads(client, "auto")["main"] == latest)
        assert branch_heads(client, "manual")["main"] == later


def test_a_data_folder_from_before_upstreams_opens_and_answers_them(
    tmp_path: Path, upstream: GitUpstream
) -> None:
    data = tmp_path / "data"
    with (
        Emulator(data_dir=data) as emulator,
        Mesa(api_key=emulator.api_key, server_url=emulator.url, org="acme") as client,
    ):
        client.repos.create(body={"name": "old"})
    with sqlite3.connect(data / "meta.sqlite3") as db:  # the schema before this change
        db.execute("DROP TABLE upstreams")
        db.execute("DROP TABLE orgs")
    db.close()
    with (
        Emulator(data_dir=data) as emulator,
        Mesa(api_key=emulator.api_key, server_url=emulator.url, org="acme") as client,
    ):
        old = client.repos.get(repo="old")
        assert old.upstream is None
        assert client.org.get().model_dump() == {"created_at": old.created_at, "num_repos": 1}
        client.repos.update(repo="old", body={"upstream": {"uri": str(upstream.bare)}})
        assert imported(client, "old").head_sha == upstream.heads()["main"]


def test_sync_needs_git_write_and_status_repo_read(
    emu: Emulator, mesa_org: str, upstream: GitUpstream
) -> None:
    with Mesa(api_key=emu.api_key, server_url=emu.url, org=mesa_org) as admin:
        admin.repos.create(body={"name": "r", "upstream": {"uri": str(upstream.bare)}})
        imported(admin, "r")
    reader_key = emu.create_api_key(mesa_org, ["repo:read"])
    with Mesa(
        api_key=reader_key, server_url=emu.url, org=mesa_org, retry_config={"strategy": "none"}
    ) as reader:
        assert reader.repos.get_sync_status(repo="r").status == SyncOk(type="ok")
        assert reader.org.get().num_repos == 1
        error = raised(lambda: reader.repos.sync(repo="r"))
        assert (error.status_code, error.code, error.message) == (
            403,
            "FORBIDDEN",
            "This API key lacks the 'git:write' scope.",
        )


def test_a_kill_during_an_import_is_resumed_by_the_next_start(
    tmp_path: Path, upstream: GitUpstream
) -> None:
    from tests.reliability.test_crash_recovery import EmulatorProcess, fsck_every_repo

    data, log = tmp_path / "data", tmp_path / "emulator.log"
    with gated_git_server(upstream) as server:
        first = EmulatorProcess(data, log).start()
        try:
            with first.client() as client:
                client.repos.create(body={"name": "big", "upstream": {"uri": server.url}})
                assert server.waiting.wait(PROMISED_S)  # git is fetching, held at the gate
                first.kill9()
        finally:
            first.stop()
        second = EmulatorProcess(data, log).start()
        try:
            with second.client() as client:
                assert client.repos.get(repo="big").status == "syncing"
                server.gate.set()
                repo = imported(client, "big")
                assert repo.upstream is not None and repo.upstream.last_sync_error is None
                assert branch_heads(client, "big") == upstream.heads()
        finally:
            second.stop()
    fsck_every_repo(data)
    assert not list((data / "repos").glob("*.git/refs/mesa-upstream/**/*[!/]"))


def test_a_sync_publishes_the_branches_it_moved(
    fast_autosync: Emulator, upstream: GitUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[tuple[str, list[RefUpdate]]] = []
    monkeypatch.setattr(
        fast_autosync.state,
        "publish_ref_updates",
        lambda repo_id, updates: published.append((repo_id, list(updates))),
    )
    with Mesa(api_key=fast_autosync.api_key, server_url=fast_autosync.url, org="acme") as client:
        made = client.repos.create(body={"name": "m", "upstream": {"uri": str(upstream.bare)}})
        imported(client, "m")
        heads = upstream.heads()
        new_main = upstream.commit("main", {"n.txt": b"n\n"}, "n")
        client.repos.sync(repo="m")
    assert published == [
        (made.id, [RefUpdate("dev", None, heads["dev"]), RefUpdate("main", None, heads["main"])]),
        (made.id, [RefUpdate("main", heads["main"], new_main)]),
    ]


def test_an_upstream_can_be_another_emulator(
    client: Mesa, upstream: GitUpstream, tmp_path: Path
) -> None:
    with (
        Emulator(data_dir=tmp_path / "other") as other,
        Mesa(api_key=other.api_key, server_url=other.url, org="src") as source,
    ):
        source.repos.create(body={"name": "origin", "upstream": {"uri": str(upstream.bare)}})
        imported(source, "origin")
        git_url = f"{other.base_url}/src/origin.git"
        client.repos.create(
            body={"name": "copy", "upstream": {"uri": git_url, "token": other.api_key}}
        )
        repo = imported(client, "copy")
        assert repo.upstream is not None and repo.upstream.last_sync_error is None
        assert branch_heads(client, "copy") == upstream.heads()
