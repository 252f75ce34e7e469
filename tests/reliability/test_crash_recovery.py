"""The emulator survives kill -9: a write retried under its `Idempotency-Key` after a restart
on the same data folder is answered with its original result or made then, exactly once.

The emulator runs as its own process (`mesa-emulator serve`) and is killed for real, at random
instants (seeded) and at named crash points scripted through the test-only control plane.
Retries are made by the test, under the very same key; the SDK's own retries are off.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_emulator.state import DataFolderInUse, EmulatorState
from mesa_sdk import Mesa
from mesa_sdk.errors import APIConnectionError, ConflictError, ServerError
from tests.shared import AUTHOR, commit_body

from .conftest import SUMMARY_LINES
from .support import HookRecorder

ORG = "acme"
API_KEY = "mesa_crash_recovery_bootstrap"
NO_RETRIES = {"strategy": "none"}


class EmulatorProcess:
    """`mesa-emulator serve` on `data`, in a process of its own that a test may kill -9."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data = data
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> EmulatorProcess:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "mesa_emulator", "serve", "--port", "0"),
                    *("--data", str(self.data), "--api-key", API_KEY),
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        assert ready, f"the emulator did not start within 20 s; see {self.log}"
        first = self.proc.stdout.readline()
        assert "listening on http://" in first, (first, self.log.read_text())
        self.url = first.split("listening on ", 1)[1].strip()
        return self

    def client(self) -> Mesa:
        return Mesa(api_key=API_KEY, server_url=self.url, org=ORG, retry_config=NO_RETRIES)

    @property
    def root_url(self) -> str:
        """The server's root (the git endpoint's base), without the API's prefix."""
        return self.url.removesuffix("/api/v1")

    def script_crash(self, method: str, path: str, point: str, *, in_api: bool = True) -> None:
        """Crash at `point` the next request to `path`: under the organization's API root,
        or (not `in_api`) under the server's root."""
        answer = httpx.post(
            self.root_url + "/_emulator/faults",
            json={
                "method": method,
                "path": f"/api/v1/{ORG}{path}" if in_api else path,
                "faults": [{"crash": point}],
            },
            timeout=10,
        )
        assert answer.status_code == 201, answer.text

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def wait_for_exit(self) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=10)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[], EmulatorProcess]]:
    """Start emulator processes on one data folder, one at a time; every one is stopped."""
    started: list[EmulatorProcess] = []

    def start() -> EmulatorProcess:
        for earlier in started:
            earlier.stop()
        started.append(EmulatorProcess(tmp_path / "data", tmp_path / "emulator.log").start())
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def with_key(key: str) -> dict[str, Any]:
    return {"idempotency_key": key, "timeout_ms": 20_000}


def fsck_every_repo(data: Path) -> None:
    for repo in sorted((data / "repos").iterdir()):
        result = subprocess.run(
            ["git", "-C", str(repo), "fsck", "--strict", "--no-progress"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (repo.name, result.stdout, result.stderr)


def messages(client: Mesa, repo: str, ref: str) -> list[str]:
    """The commit messages of `ref`, oldest first."""
    return [c.message for c in client.commits.list(repo=repo, ref=ref, limit=100)][::-1]


# ---- kill -9 at random instants during a stream of writes ---------------------------------


@dataclass
class Write:
    key: str
    call: Callable[[Mesa, str], Any]


@dataclass
class Stream:
    """Writes made one after the other by one thread; `done` of them are acknowledged."""

    writes: list[Write]
    done: int = 0
    interrupted: int = 0
    failures: list[BaseException] = field(default_factory=list)

    def run(self, client: Mesa) -> None:
        while self.done < len(self.writes):
            write = self.writes[self.done]
            try:
                write.call(client, write.key)
            except APIConnectionError:
                self.interrupted += 1
                return  # the server is gone: this write is retried, same key, after a restart
            except BaseException as exc:
                self.failures.append(exc)
                return
            self.done += 1


def _commit(branch: str, label: str) -> Callable[[Mesa, str], Any]:
    body = commit_body(label, [{"path": f"{label}.txt", "action": "create", "content": label}])
    body["branch"] = branch
    return lambda c, key: c.commits.create(repo="r", body=body, request_options=with_key(key))


@dataclass
class Expected:
    commits: dict[str, list[str]] = field(default_factory=dict)
    branches: set[str] = field(default_factory=set)
    keys: list[str] = field(default_factory=list)
    repos: set[str] = field(default_factory=lambda: {"r"})


def _streams(rng: random.Random, base_sha: str, length: int) -> tuple[list[Stream], Expected]:
    expected = Expected(
        commits={"main": ["base"], "feat-a": ["base"], "feat-b": ["base"]},
        branches={"main", "feat-a", "feat-b"},
    )
    ref_writes: list[Write] = []
    side_writes: list[Write] = []
    admin_writes: list[Write] = []
    open_branch: str | None = None
    for i in range(length):
        roll = rng.random()
        if roll < 0.15 and open_branch is None:
            name = open_branch = f"tmp-{i}"
            expected.branches.add(name)
            body = {"name": name, "head_sha": base_sha}
            ref_writes.append(
                Write(
                    f"branch-{i}",
                    lambda c, key, body=body: c.branches.create(
                        repo="r", body=body, request_options=with_key(key)
                    ),
                )
            )
        elif roll < 0.25 and open_branch is not None:
            gone, open_branch = open_branch, None
            expected.branches.discard(gone)
            ref_writes.append(
                Write(
                    f"unbranch-{i}",
                    lambda c, key, gone=gone: c.branches.delete(
                        repo="r", branch=gone, request_options=with_key(key)
                    ),
                )
            )
        else:
            branch = "main" if roll < 0.7 else "feat-a"
            expected.commits[branch].append(f"m{i}")
            ref_writes.append(Write(f"commit-m{i}", _commit(branch, f"m{i}")))
        expected.commits["feat-b"].append(f"b{i}")
        side_writes.append(Write(f"commit-b{i}", _commit("feat-b", f"b{i}")))
        if i % 2 == 0:
            expected.keys.append(f"key-{i}")
            key_body = {"name": f"key-{i}"}
            admin_writes.append(
                Write(
                    f"key-{i}",
                    lambda c, key, body=key_body: c.admin.create_api_key(
                        body=body, request_options=with_key(key)
                    ),
                )
            )
        else:
            expected.repos.add(f"repo-{i}")
            repo_body = {"name": f"repo-{i}"}
            admin_writes.append(
                Write(
                    f"repo-{i}",
                    lambda c, key, body=repo_body: c.repos.create(
                        body=body, request_options=with_key(key)
                    ),
                )
            )
    return [Stream(ref_writes), Stream(side_writes), Stream(admin_writes)], expected


def _run_streams(
    process: EmulatorProcess, streams: list[Stream], recorder: HookRecorder
) -> list[threading.Thread]:
    threads = []
    for stream in streams:
        client = process.client()
        recorder.install(client)
        thread = threading.Thread(target=stream.run, args=(client,), daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def test_kill_9_at_random_instants_loses_and_doubles_no_write(
    processes: Callable[[], EmulatorProcess], tmp_path: Path
) -> None:
    rng = random.Random(20261203)
    process = processes()
    with process.client() as client:
        client.repos.create(body={"name": "r"})
        base = client.commits.create(
            repo="r",
            body=commit_body("base", [{"path": "base.txt", "action": "create", "content": "0"}]),
        )
        for name in ("feat-a", "feat-b"):
            client.branches.create(repo="r", body={"name": name, "head_sha": base.sha})
    streams, expected = _streams(rng, base.sha, length=120)

    kills = 0
    recorder = HookRecorder()
    for _ in range(15):
        threads = _run_streams(process, streams, recorder)
        time.sleep(rng.uniform(0.05, 0.5))
        process.kill9()
        kills += 1
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
        for stream in streams:
            assert not stream.failures, stream.failures
        process = processes()
    threads = _run_streams(process, streams, recorder)
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    for stream in streams:
        assert not stream.failures, stream.failures
        assert stream.done == len(stream.writes)

    # Every acknowledged write is there once, in the order it was made, and nothing else.
    with process.client() as client:
        for branch, made in expected.commits.items():
            assert messages(client, "r", branch) == made, branch
        assert {b.name for b in client.branches.list(repo="r", limit=100)} == expected.branches
        assert [k.name for k in client.admin.list_api_keys().api_keys] == expected.keys
        assert {r.name for r in client.repos.list(limit=100)} == expected.repos
    process.stop()
    assert len(list((tmp_path / "data" / "repos").iterdir())) == len(expected.repos)
    fsck_every_repo(tmp_path / "data")
    interrupted = sum(stream.interrupted for stream in streams)
    outcomes = Counter(recorder.outcomes())
    SUMMARY_LINES.append(
        f"kill -9 soak: {kills} kills, {sum(len(s.writes) for s in streams)} writes, "
        f"{interrupted} cut by a kill and retried under their key after the restart: "
        f"{outcomes['replayed']} answered Idempotent-Replayed, the others made then"
    )
    # Whether a kill lands between a write and its answer is chance here; the planned kills
    # in the test that follows pin both sides of that instant.
    assert kills == 15 and interrupted >= kills


# ---- kill -9 at named points of a write ---------------------------------------------------


@dataclass
class CrashCase:
    """A write, crashed at `point`, then retried under its key after a restart."""

    name: str
    method: str
    path: str
    prepare: Callable[[Mesa], Any]
    call: Callable[[Mesa, Any, str], Any]
    check: Callable[[Mesa, Any, Any], None]


def _commit_case(point: str) -> CrashCase:
    label = f"crash commit {point}"
    body = commit_body(label, [{"path": f"{point}.txt", "action": "create", "content": "x"}])

    def check(client: Mesa, _: Any, result: Any) -> None:
        assert client.repos.get(repo="r").head_sha == result.sha
        assert messages(client, "r", "main").count(label) == 1

    return CrashCase(
        "commit",
        "POST",
        "/r/commits",
        lambda _: None,
        lambda c, _, key: c.commits.create(repo="r", body=body, request_options=with_key(key)),
        check,
    )


def _branch_cases(point: str) -> list[CrashCase]:
    made, gone = f"made-{point}", f"gone-{point}"

    def head(client: Mesa) -> str:
        sha = client.repos.get(repo="r").head_sha
        assert sha is not None
        return sha

    def check_made(client: Mesa, sha: Any, result: Any) -> None:
        assert (result.name, result.head_sha) == (made, sha)
        assert (made, sha) in {(b.name, b.head_sha) for b in client.branches.list(repo="r")}

    def check_gone(client: Mesa, _: Any, result: Any) -> None:
        assert result.success is True
        assert gone not in {b.name for b in client.branches.list(repo="r")}

    return [
        CrashCase(
            "branches.create",
            "POST",
            "/r/branches",
            head,
            lambda c, sha, key: c.branches.create(
                repo="r", body={"name": made, "head_sha": sha}, request_options=with_key(key)
            ),
            check_made,
        ),
        CrashCase(
            "branches.delete",
            "DELETE",
            f"/r/branches/{gone}",
            lambda c: c.branches.create(repo="r", body={"name": gone, "head_sha": head(c)}),
            lambda c, _, key: c.branches.delete(
                repo="r", branch=gone, request_options=with_key(key)
            ),
            check_gone,
        ),
    ]


def _merge_case(point: str) -> CrashCase:
    topic, label = f"topic-{point}", f"crash merge {point}"

    def prepare(client: Mesa) -> None:
        head = client.repos.get(repo="r").head_sha
        client.branches.create(repo="r", body={"name": topic, "head_sha": head})
        for branch in (topic, "main"):
            path = f"{branch}-{point}.txt"
            edits = [{"path": path, "action": "create", "content": path}]
            client.commits.create(repo="r", body=commit_body(path, edits, branch))

    def check(client: Mesa, _: Any, result: Any) -> None:
        assert (result.merge_type, result.branch_deleted) == ("merge_commit", True)
        assert client.repos.get(repo="r").head_sha == result.sha
        assert messages(client, "r", "main").count(label) == 1
        assert topic not in {b.name for b in client.branches.list(repo="r")}

    return CrashCase(
        "merge.perform",
        "POST",
        "/r/merge/main",
        prepare,
        lambda c, _, key: c.merge.perform(
            repo="r",
            base="main",
            body={"head": topic, "author": AUTHOR, "message": label, "delete_branch": True},
            request_options=with_key(key),
        ),
        check,
    )


def _check_repo_made(client: Mesa, _: Any, result: Any) -> None:
    assert [r.id for r in client.repos.list(limit=100) if r.name == "made"] == [result.id]


def _check_key_made(client: Mesa, _: Any, result: Any) -> None:
    assert [k.id for k in client.admin.list_api_keys().api_keys if k.name == "made"] == [result.id]
    with Mesa(api_key=result.key, server_url=client.server_url, org=ORG) as own:
        assert [k.id for k in own.admin.list_api_keys().api_keys if k.name == "made"] == [result.id]


STORE_ONLY_CASES = [
    CrashCase(
        "repos.create",
        "POST",
        "/repos",
        lambda _: None,
        lambda c, _, key: c.repos.create(body={"name": "made"}, request_options=with_key(key)),
        _check_repo_made,
    ),
    CrashCase(
        "repos.update",
        "PATCH",
        "/doomed",
        lambda c: c.repos.create(body={"name": "doomed"}),
        lambda c, _, key: c.repos.update(
            repo="doomed", body={"name": "renamed"}, request_options=with_key(key)
        ),
        lambda c, _, result: None,
    ),
    CrashCase(
        "repos.delete",
        "DELETE",
        "/renamed",
        lambda _: None,
        lambda c, _, key: c.repos.delete(repo="renamed", request_options=with_key(key)),
        lambda c, _, result: None,
    ),
    CrashCase(
        "admin.create_api_key",
        "POST",
        "/api-keys",
        lambda _: None,
        lambda c, _, key: c.admin.create_api_key(
            body={"name": "made", "scopes": ["admin"]}, request_options=with_key(key)
        ),
        _check_key_made,
    ),
    CrashCase(
        "admin.revoke_api_key",
        "DELETE",
        "/api-keys/*",
        lambda c: c.admin.create_api_key(body={"name": "revoked"}).id,
        lambda c, key_id, key: c.admin.revoke_api_key(id=key_id, request_options=with_key(key)),
        lambda c, key_id, result: None,
    ),
]


def test_a_crash_at_each_named_point_of_a_write_is_settled_on_restart(
    processes: Callable[[], EmulatorProcess], tmp_path: Path
) -> None:
    # (case, crash point, whether the retry is answered from the store)
    plan: list[tuple[CrashCase, str, bool]] = []
    for point, replayed in (("after_journal", False), ("before_answer_kept", True)):
        plan += [(case, point, replayed) for case in [_commit_case(point), *_branch_cases(point)]]
        plan.append((_merge_case(point), point, replayed))
    plan += [(case, "before_answer_kept", True) for case in STORE_ONLY_CASES]

    process = processes()
    with process.client() as client:
        client.repos.create(body={"name": "r"})
        client.commits.create(
            repo="r",
            body=commit_body("base", [{"path": "base.txt", "action": "create", "content": "0"}]),
        )
    seen: list[tuple[str, str, str]] = []
    for number, (case, point, replayed) in enumerate(plan):
        key = f"crash-{number}"
        with process.client() as client:
            prepared = case.prepare(client)
            process.script_crash(case.method, case.path, point)
            with pytest.raises(APIConnectionError):
                case.call(client, prepared, key)
        assert process.wait_for_exit() == 137, (case.name, point)
        process = processes()
        with process.client() as client:
            recorder = HookRecorder().install(client)
            result = case.call(client, prepared, key)
            case.check(client, prepared, result)
        seen.append((case.name, point, recorder.outcomes()[0]))
        assert seen[-1] == (case.name, point, "replayed" if replayed else "ok")

    process.stop()
    fsck_every_repo(tmp_path / "data")
    assert Counter(point for _, point, _ in seen) == {"after_journal": 4, "before_answer_kept": 9}


# ---- stale locks, orphans, a lock held at run time, one emulator per folder ---------------


def test_stale_locks_and_orphans_are_removed_at_start_and_a_held_lock_answers_503(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with (
        Emulator(data_dir=data, api_key=API_KEY) as emu,
        Mesa(api_key=API_KEY, server_url=emu.url, org=ORG) as client,
    ):
        repo_id = client.repos.create(body={"name": "r"}).id
        first = client.commits.create(
            repo="r",
            body=commit_body("one", [{"path": "a.txt", "action": "create", "content": "1"}]),
        )
    repo = data / "repos" / f"{repo_id}.git"
    stale = [repo / "refs" / "heads" / "main.lock", repo / "packed-refs.lock", repo / "HEAD.lock"]
    for lock in stale:
        lock.write_text("left by a killed writer\n")
    orphans = [data / "repos" / "repo_half_made.git", data / "lfs" / "repo_half_made"]
    for orphan in orphans:
        orphan.mkdir(parents=True)
        (orphan / "config").write_text("")

    with Emulator(data_dir=data, api_key=API_KEY) as emu:
        assert [path for path in stale + orphans if path.exists()] == []
        assert emu.state.recovery.stale_locks == [
            f"{repo_id}.git/HEAD.lock",
            f"{repo_id}.git/packed-refs.lock",
            f"{repo_id}.git/refs/heads/main.lock",
        ]
        with Mesa(api_key=API_KEY, server_url=emu.url, org=ORG, retry_config=NO_RETRIES) as client:
            second = client.commits.create(
                repo="r",
                body=commit_body("two", [{"path": "b.txt", "action": "create", "content": "2"}]),
            )
            assert second.parents == [first.sha]

            stale[0].write_text("held by another writer\n")
            with pytest.raises(ServerError) as held:
                client.commits.create(
                    repo="r",
                    body=commit_body(
                        "three", [{"path": "c.txt", "action": "create", "content": "3"}]
                    ),
                )
            error = held.value
            assert (error.status_code, error.code, error.headers["retry-after"]) == (
                503,
                "SERVICE_UNAVAILABLE",
                "1",
            )
            assert error.message == (
                "Branch 'main' is being updated by another writer; retry in 1 s."
            )
            assert str(tmp_path) not in error.body and "/" not in error.message
            stale[0].unlink()
            assert client.repos.get(repo="r").head_sha == second.sha


def test_a_data_folder_serves_one_emulator_at_a_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Emulator(data_dir=data, api_key=API_KEY):
        with pytest.raises(DataFolderInUse) as in_use:
            EmulatorState(data, API_KEY)
        assert str(in_use.value) == (
            f"the data folder {str(data)!r} is in use by another emulator "
            "(it holds emulator.lock); stop it, or give another --data folder"
        )
        result = subprocess.run(
            [sys.executable, "-m", "mesa_emulator", "serve", "--port", "0", "--data", str(data)],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "MESA_API_KEY": API_KEY},
        )
        assert (result.returncode, result.stderr) == (1, f"mesa-emulator: {in_use.value}\n")
    with Emulator(data_dir=data, api_key=API_KEY):  # free again once the first has stopped
        pass


# ---- API key secrets at rest --------------------------------------------------------------


def _on_disk(data: Path, secret: str) -> bool:
    raw = secret.encode()
    return any(raw in path.read_bytes() for path in data.glob("meta.sqlite3*"))


def test_a_created_keys_secret_is_replayed_only_within_its_window(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Emulator(data_dir=data, api_key=API_KEY) as emu:
        emu.state.key_secret_window = 2.0
        with Mesa(api_key=API_KEY, server_url=emu.url, org=ORG, retry_config=NO_RETRIES) as client:
            recorder = HookRecorder().install(client)

            def create(name: str, key: str) -> Any:
                return client.admin.create_api_key(
                    body={"name": name}, request_options=with_key(key)
                )

            kept = create("kept", "k-kept")
            revoked = create("revoked", "k-revoked")
            assert _on_disk(data, kept.key) and _on_disk(data, revoked.key)
            assert create("kept", "k-kept") == kept  # within the window: the same answer

            client.admin.revoke_api_key(id=revoked.id)
            assert not _on_disk(data, revoked.key)
            with pytest.raises(ConflictError) as after_revocation:
                create("revoked", "k-revoked")

            deadline = time.monotonic() + 10
            while _on_disk(data, kept.key) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not _on_disk(data, kept.key)
            with pytest.raises(ConflictError) as after_window:
                create("kept", "k-kept")

            assert [k.name for k in client.admin.list_api_keys().api_keys] == ["kept", "revoked"]
            assert recorder.outcomes() == [
                "ok",
                "ok",
                "replayed",
                "ok",
                "ConflictError",
                "ConflictError",
                "ok",
            ]

    for error, made in ((after_revocation.value, revoked), (after_window.value, kept)):
        assert (error.status_code, error.code, error.details) == (
            409,
            "API_KEY_ALREADY_CREATED",
            {"id": made.id},
        )
        assert error.headers["idempotent-replayed"] == "true"
        assert error.message == (
            f"This request already created API key {made.id!r}. Its secret is no longer kept: "
            "it is replayed for 2 s after creation and not after revocation. Revoke the key "
            "if its secret was lost, and create a new one."
        )
