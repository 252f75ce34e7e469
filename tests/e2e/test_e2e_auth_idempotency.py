"""Scopes and revocation as the SDK's typed errors; idempotent replay of a commit; eight
threads committing to one branch with compare-and-swap and retry, losing nothing."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

from e2e_support import commit, raised
from tests.shared import AUTHOR, create

from mesa_emulator.server import Emulator
from mesa_sdk import AuthenticationError, AuthorizationError, ConflictError, Mesa
from mesa_sdk.models import DirContent


def _as(emu: Emulator, org: str, key: str) -> Mesa:
    return Mesa(api_key=key, server_url=emu.url, org=org, retry_config={"strategy": "none"})


def test_read_only_key_lists_but_cannot_create(client: Mesa, emu: Emulator, mesa_org: str) -> None:
    client.repos.create(body={"name": "r"})
    made = client.admin.create_api_key(body={"name": "reader", "scopes": ["repo:read"]})
    with _as(emu, mesa_org, made.key) as reader:
        assert [r.name for r in reader.repos.list()] == ["r"]
        assert reader.repos.get(repo="r").name == "r"
        error = raised(lambda: reader.repos.create(body={"name": "nope"}))
        assert isinstance(error, AuthorizationError)
        assert (error.status_code, error.code) == (403, "FORBIDDEN")
        # repo:read does not read git data either.
        assert isinstance(raised(lambda: reader.commits.list(repo="r")), AuthorizationError)
    assert [r.name for r in client.repos.list()] == ["r"]


def test_each_scope_opens_only_its_operations(client: Mesa, emu: Emulator, mesa_org: str) -> None:
    client.repos.create(body={"name": "r"})
    head = commit(client, "r", [create("a.txt", "a")]).sha
    git_reader = emu.create_api_key(mesa_org, ["git:read"])
    git_writer = emu.create_api_key(mesa_org, ["git:write"])
    admin = emu.create_api_key(mesa_org, ["admin"])
    with _as(emu, mesa_org, git_reader) as sdk:
        assert sdk.content.get_raw(repo="r", path="a.txt") == b"a"
        assert [c.sha for c in sdk.commits.list(repo="r")] == [head]
        assert raised(lambda: sdk.repos.list()).code == "FORBIDDEN"
        assert raised(lambda: commit(sdk, "r", [create("b", "b")])).code == "FORBIDDEN"
    with _as(emu, mesa_org, git_writer) as sdk:
        assert commit(sdk, "r", [create("b", "b")]).parents == [head]
        assert raised(lambda: sdk.content.get(repo="r")).code == "FORBIDDEN"
        assert raised(lambda: sdk.repos.delete(repo="r")).code == "FORBIDDEN"
        assert raised(lambda: sdk.admin.list_api_keys()).code == "FORBIDDEN"
    with _as(emu, mesa_org, admin) as sdk:  # admin grants every scope of its organization
        assert [r.name for r in sdk.repos.list()] == ["r"]
        assert sdk.content.get_raw(repo="r", path="b") == b"b"
        assert len(sdk.admin.list_api_keys().api_keys) == 3
        # ... but not another organization's.
        other = raised(lambda: sdk.repos.list(org=mesa_org + "-other"))
        assert isinstance(other, AuthorizationError) and other.code == "FORBIDDEN"


def test_revoked_key_fails_at_once(client: Mesa, emu: Emulator, mesa_org: str) -> None:
    made = client.admin.create_api_key(body={"scopes": ["repo:read", "repo:create"]})
    with _as(emu, mesa_org, made.key) as holder:
        holder.repos.create(body={"name": "made-by-key"})
        client.admin.revoke_api_key(id=made.id)
        error = raised(lambda: holder.repos.list())
        assert isinstance(error, AuthenticationError)
        assert (error.status_code, error.code) == (401, "UNAUTHENTICATED")
        assert made.key not in str(error) and made.key not in repr(error)
    # The revoked key stays listed, with the time it was revoked.
    listed = client.admin.list_api_keys().api_keys
    assert [k.id for k in listed] == [made.id] and listed[0].revoked_at is not None


def test_same_idempotency_key_replays_the_commit(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    root = commit(client, "r", [create("a.txt", "a")]).sha
    body = {
        "branch": "main",
        "message": "exactly once",
        "author": AUTHOR,
        "edits": [create("b.txt", "b")],
    }
    options = {"idempotency_key": "commit-b-once"}
    first = client.commits.create(repo="r", body=body, request_options=options)
    again = client.commits.create(repo="r", body=body, request_options=options)
    assert again == first and first.parents == [root]
    assert [c.sha for c in client.commits.list(repo="r")] == [first.sha, root]
    # The same body under a new key is a new request: it fails, since b.txt now exists.
    fresh = raised(
        lambda: client.commits.create(
            repo="r",
            body=body,
            request_options={"idempotency_key": "commit-b-twice"},
        )
    )
    assert fresh.code == "PATH_EXISTS"


def test_eight_threads_commit_with_base_sha_and_retry(client: Mesa) -> None:
    threads, per_thread = 8, 6
    client.repos.create(body={"name": "r"})
    root = commit(client, "r", [create("README.md", "start\n")]).sha
    conflicts: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> list[str]:
        made: list[str] = []
        for i in range(per_thread):
            while True:
                head = client.repos.get(repo="r").head_sha
                assert head is not None
                try:
                    result = commit(
                        client,
                        "r",
                        [create(f"w{worker}/f{i}.txt", f"{worker}:{i}\n")],
                        message=f"worker {worker} file {i}",
                        base_sha=head,
                    )
                except ConflictError as error:
                    assert error.code == "BRANCH_MOVED", error
                    with lock:
                        conflicts.append(error.code)
                    continue
                assert result.parents == [head]
                made.append(result.sha)
                break
        return made

    with ThreadPoolExecutor(threads) as pool:
        made = [sha for shas in pool.map(work, range(threads)) for sha in shas]

    history = list(client.commits.list(repo="r", limit=100))
    assert len(history) == threads * per_thread + 1 and history[-1].sha == root
    assert {c.sha for c in history[:-1]} == set(made)
    # A straight line: each commit's only parent is the next older one.
    for newer, older in itertools.pairwise(history):
        assert newer.parents == [older.sha]
    tree = client.content.get(repo="r", depth=2)
    assert isinstance(tree, DirContent)
    files = {e.path for e in tree.entries if e.type == "file"}
    expected = {f"w{w}/f{i}.txt" for w in range(threads) for i in range(per_thread)}
    assert files == expected | {"README.md"}
    for w in range(threads):
        for i in range(per_thread):
            assert client.content.get_raw(repo="r", path=f"w{w}/f{i}.txt") == f"{w}:{i}\n".encode()
