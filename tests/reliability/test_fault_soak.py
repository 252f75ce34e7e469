"""Fault soak: 2,000 mixed operations through the SDK against the emulator, about one in five
given a scripted fault, and afterwards the state is exactly what the operations imply.

Deterministic: one seeded `random.Random` chooses every operation, argument and fault (the
SDK's jitter draws from its own generator and changes only timing). An in-memory model keeps
the expected files of every branch, the head of every branch, every commit message, and every
repository and key name; reads during the run are checked against it, and at the end the
whole state is compared with it, bytes included.

Faults are scripted on the path of each chosen operation just before it runs, so its first
attempt consumes them: 503 / 500 / 429 (with `Retry-After: 0`, so the client's 10 ms backoff
applies), a connection dropped before the handler runs or after it ran, and a delay past
the attempt's timeout. A write that times out while the server still runs it is retried
under its idempotency key: 409 IDEMPOTENCY_KEY_IN_USE until the first attempt is done, then
that attempt's answer, replayed.

`pytest -s` prints the counts; every run prints them in the terminal summary too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import string
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from tests.shared import AUTHOR

from . import conftest
from .support import HookRecorder, fast_retries

SEED = 20_261_122
OPERATIONS = 2_000
FAULT_RATE = 0.20
MAX_REPOS = 24
MAX_BRANCHES = 7  # per repository, main included
READ_TIMEOUT_MS = 250
# Far above a commit's time on loopback, so only a scripted delay times a write out.
WRITE_TIMEOUT_MS = 1_000
DELAY_MS = 1_200  # past both timeouts
ORG = "soak"

# kind -> (fault, weight, may hit a write)
FAULT_KINDS: dict[str, tuple[dict[str, Any], int, bool]] = {
    "503 Retry-After: 0": ({"status": 503, "retry_after": 0}, 3, True),
    "500": ({"status": 500}, 2, True),
    "429 Retry-After: 0": ({"status": 429, "retry_after": 0}, 2, True),
    "drop before handler": ({"drop": "before"}, 2, True),
    "drop after handler": ({"drop": "after"}, 3, True),
    f"delay {DELAY_MS} ms > timeout": ({"delay_ms": DELAY_MS}, 1, True),
}

# The faults after which a write's retry is answered from the idempotency store: the handler
# ran, and its answer was lost or came too late.
REPLAYED_KINDS = frozenset({"drop after handler", f"delay {DELAY_MS} ms > timeout"})

# operation -> weight
OPERATION_WEIGHTS = {
    "create repo": 3,
    "commit": 34,
    "create branch": 8,
    "merge": 7,
    "create key": 2,
    "read file": 18,
    "list commits": 8,
    "list branches": 7,
    "list repos": 3,
    "list tree": 5,
    "get repo": 5,
}


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@dataclass
class RepoModel:
    name: str
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # branch -> path -> bytes
    heads: dict[str, str] = field(default_factory=dict)
    # For merges of a branch into main: its head when last in sync with main (created or
    # merged), and the main head it descends from (a fast-forward needs main still there).
    synced: dict[str, str] = field(default_factory=dict)
    fork: dict[str, str] = field(default_factory=dict)
    commits: dict[str, str] = field(default_factory=dict)  # message -> branch it was made on
    merge_messages: set[str] = field(default_factory=set)


@dataclass
class Planned:
    """One operation, chosen but not run: where its first request goes, and how to run it."""

    name: str
    method: str
    path: str  # under /api/v1/<org>
    run: Callable[[], None]

    @property
    def is_read(self) -> bool:
        return self.method == "GET"


class Soak:
    def __init__(self, client: Mesa, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.repos: dict[str, RepoModel] = {}
        self.keys: list[str] = []
        self.counter = 0
        self.read = {"timeout_ms": READ_TIMEOUT_MS}

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    # -- choosing ---------------------------------------------------------------------------

    def plan(self, index: int) -> Planned:
        while True:
            names = list(OPERATION_WEIGHTS)
            name = self.rng.choices(names, [OPERATION_WEIGHTS[n] for n in names])[0]
            planned = getattr(self, "plan_" + name.replace(" ", "_"))(index)
            if planned is not None:
                return planned

    def some_repo(self, with_commits: bool = False) -> RepoModel | None:
        repos = [r for r in self.repos.values() if r.heads or not with_commits]
        return self.rng.choice(repos) if repos else None

    # -- writes -----------------------------------------------------------------------------

    def plan_create_repo(self, index: int) -> Planned | None:
        if len(self.repos) >= MAX_REPOS:
            return None
        name = f"soak-{len(self.repos):02d}"

        def run() -> None:
            made = self.client.repos.create(body={"name": name})
            assert made.name == name and made.head_sha is None
            self.repos[name] = RepoModel(name)

        return Planned("create repo", "POST", "/repos", run)

    def plan_commit(self, index: int) -> Planned | None:
        repo = self.some_repo()
        if repo is None:
            return None
        branch = self.rng.choice(sorted(repo.files)) if repo.files else "main"
        files = dict(repo.files.get(branch, {}))
        prefix = f"{branch}/"
        owned = sorted(p for p in files if p.startswith(prefix))
        edits: list[dict[str, Any]] = []
        touched: set[str] = set()
        for _ in range(self.rng.randint(1, 3)):
            choice = self.rng.random()
            free = [p for p in owned if p not in touched]
            if free and choice < 0.3:
                path = self.rng.choice(free)
                content = self.content()
                edits.append({"path": path, "action": "update", **self.encoded(content)})
                files[path] = content
            elif free and choice < 0.45:
                path = self.rng.choice(free)
                edits.append({"path": path, "action": "delete"})
                del files[path]
            else:
                number = self.next_number()
                path = (
                    f"{prefix}{number}.txt"
                    if self.rng.random() < 0.6
                    else f"{prefix}d{number % 3}/{number}.bin"
                )
                content = self.content()
                edits.append({"path": path, "action": "create", **self.encoded(content)})
                files[path] = content
            touched.add(path)
        message = f"soak commit {index} on {repo.name}@{branch}"
        parent = repo.heads.get(branch)

        def run() -> None:
            made = self.client.commits.create(
                repo=repo.name,
                body={"branch": branch, "message": message, "author": AUTHOR, "edits": edits},
                request_options={"timeout_ms": WRITE_TIMEOUT_MS},
            )
            assert made.branch == branch and made.message == message
            assert made.parents == ([parent] if parent else [])
            repo.files[branch] = files
            repo.heads[branch] = made.sha
            repo.commits[message] = branch

        return Planned("commit", "POST", f"/{repo.name}/commits", run)

    def content(self) -> bytes:
        number = self.next_number()
        if self.rng.random() < 0.7:
            size = self.rng.randint(0, 300)
            text = "".join(self.rng.choices(string.ascii_letters + " \n", k=size))
            return f"{number}: {text}".encode()
        return number.to_bytes(4, "big") + self.rng.randbytes(self.rng.randint(0, 600))

    def encoded(self, content: bytes) -> dict[str, str]:
        try:
            return {"content": content.decode("ascii")}
        except UnicodeDecodeError:
            return {"content": base64.b64encode(content).decode(), "encoding": "base64"}

    def plan_create_branch(self, index: int) -> Planned | None:
        repo = self.some_repo(with_commits=True)
        if repo is None or "main" not in repo.heads or len(repo.heads) >= MAX_BRANCHES:
            return None
        name = f"b{self.next_number()}"
        head = repo.heads["main"]

        def run() -> None:
            made = self.client.branches.create(
                repo=repo.name, body={"name": name, "head_sha": head}
            )
            assert made.name == name and made.head_sha == head and not made.is_default
            repo.files[name] = dict(repo.files["main"])
            repo.heads[name] = repo.synced[name] = repo.fork[name] = head

        return Planned("create branch", "POST", f"/{repo.name}/branches", run)

    def plan_merge(self, index: int) -> Planned | None:
        repo = self.some_repo(with_commits=True)
        branches = sorted(b for b in repo.heads if b != "main") if repo else []
        if repo is None or not branches:
            return None
        head = self.rng.choice(branches)
        message = f"soak merge {index}: {head} into main of {repo.name}"

        def run() -> None:
            main_head, head_sha = repo.heads["main"], repo.heads[head]
            if head_sha == repo.synced[head]:
                expected = "up_to_date"
            elif main_head == repo.fork[head]:
                expected = "fast_forward"
            else:
                expected = "merge_commit"
            result = self.client.merge.perform(
                repo=repo.name,
                base="main",
                body={"head": head, "author": AUTHOR, "message": message},
                request_options={"timeout_ms": WRITE_TIMEOUT_MS},
            )
            assert result.merge_type == expected, (result, expected)
            assert result.base == "main" and result.head == head and not result.branch_deleted
            if expected == "up_to_date":
                assert result.sha == main_head
                return
            if expected == "fast_forward":
                assert result.sha == head_sha
            else:
                assert result.sha not in (main_head, head_sha)
                repo.merge_messages.add(message)
            # The head branch alone changes the files under its own directory.
            prefix = f"{head}/"
            main = {p: v for p, v in repo.files["main"].items() if not p.startswith(prefix)}
            main.update({p: v for p, v in repo.files[head].items() if p.startswith(prefix)})
            repo.files["main"] = main
            repo.heads["main"] = result.sha
            repo.synced[head] = head_sha
            repo.fork[head] = result.sha if expected == "fast_forward" else ""

        return Planned("merge", "POST", f"/{repo.name}/merge/main", run)

    def plan_create_key(self, index: int) -> Planned | None:
        name = f"soak-key-{self.next_number()}"

        def run() -> None:
            made = self.client.admin.create_api_key(body={"name": name, "scopes": ["git:read"]})
            assert made.name == name and made.key
            self.keys.append(name)

        return Planned("create key", "POST", "/api-keys", run)

    # -- reads ------------------------------------------------------------------------------

    def some_file(self) -> tuple[RepoModel, str, str] | None:
        candidates = [
            (repo, branch)
            for repo in self.repos.values()
            for branch, files in sorted(repo.files.items())
            if files
        ]
        if not candidates:
            return None
        repo, branch = self.rng.choice(candidates)
        return repo, branch, self.rng.choice(sorted(repo.files[branch]))

    def plan_read_file(self, index: int) -> Planned | None:
        chosen = self.some_file()
        if chosen is None:
            return None
        repo, branch, path = chosen
        expected = repo.files[branch][path]

        def run() -> None:
            data = self.client.content.get_raw(
                repo=repo.name, ref=branch, path=path, request_options=self.read
            )
            assert data == expected, (repo.name, branch, path)

        return Planned("read file", "GET", f"/{repo.name}/content", run)

    def plan_list_commits(self, index: int) -> Planned | None:
        repo = self.some_repo(with_commits=True)
        if repo is None:
            return None
        branch = self.rng.choice(sorted(repo.heads))
        head = repo.heads[branch]

        def run() -> None:
            page = self.client.commits.list(
                repo=repo.name, ref=branch, limit=10, request_options=self.read
            )
            assert page.result.commits[0].sha == head

        return Planned("list commits", "GET", f"/{repo.name}/commits", run)

    def plan_list_branches(self, index: int) -> Planned | None:
        repo = self.some_repo()
        if repo is None:
            return None
        heads = dict(repo.heads)

        def run() -> None:
            page = self.client.branches.list(repo=repo.name, limit=100, request_options=self.read)
            assert {b.name: b.head_sha for b in page.result.branches} == heads
            assert not page.result.has_more

        return Planned("list branches", "GET", f"/{repo.name}/branches", run)

    def plan_list_repos(self, index: int) -> Planned | None:
        names = sorted(self.repos)

        def run() -> None:
            page = self.client.repos.list(limit=100, request_options=self.read)
            assert [r.name for r in page.result.repos] == names

        return Planned("list repos", "GET", "/repos", run)

    def plan_list_tree(self, index: int) -> Planned | None:
        chosen = self.some_file()
        if chosen is None:
            return None
        repo, branch, _ = chosen
        expected = {p: git_blob_sha(v) for p, v in repo.files[branch].items()}

        def run() -> None:
            listing = self.client.content.get(
                repo=repo.name, ref=branch, depth=64, limit=1000, request_options=self.read
            )
            assert not listing.has_more
            files = {e.path: e.sha for e in listing.entries if e.type == "file"}
            assert files == expected

        return Planned("list tree", "GET", f"/{repo.name}/content", run)

    def plan_get_repo(self, index: int) -> Planned | None:
        repo = self.some_repo()
        if repo is None:
            return None
        head = repo.heads.get("main")

        def run() -> None:
            got = self.client.repos.get(repo=repo.name, request_options=self.read)
            assert got.name == repo.name and got.head_sha == head

        return Planned("get repo", "GET", f"/{repo.name}", run)


def verify_final_state(client: Mesa, soak: Soak) -> dict[str, int]:
    """The whole state against the model: nothing missing, nothing twice, every byte."""
    totals = Counter[str]()
    # Small pages, so that walking every list crosses pages.
    repos = [r.name for r in client.repos.list(limit=5)]
    assert sorted(repos) == sorted(soak.repos) and len(set(repos)) == len(repos)
    keys = [k.name for k in client.admin.list_api_keys().api_keys]
    assert sorted(keys) == sorted(soak.keys) and len(set(keys)) == len(keys)
    totals["repositories"] = len(repos)
    totals["keys"] = len(keys)
    for model in soak.repos.values():
        branches = [(b.name, b.head_sha) for b in client.branches.list(repo=model.name, limit=3)]
        assert dict(branches) == model.heads and len(branches) == len(model.heads)
        totals["branches"] += len(branches)
        message_of: dict[str, str] = {}
        for branch in model.heads:
            log = [(c.sha, c.message) for c in client.commits.list(repo=model.name, ref=branch)]
            shas = [sha for sha, _ in log]
            assert len(set(shas)) == len(shas), f"a commit twice in {model.name}@{branch}"
            message_of.update(log)
            here = {message for _, message in log}
            made_here = {m for m, b in model.commits.items() if b == branch}
            assert made_here <= here, f"commits missing from {model.name}@{branch}"
        messages = list(message_of.values())
        duplicated = [m for m, n in Counter(messages).items() if n > 1]
        assert duplicated == [], f"commits made twice in {model.name}: {duplicated}"
        assert set(messages) == set(model.commits) | model.merge_messages
        totals["commits"] += len(messages)
        # Every path of every branch has the blob the model implies (a blob's sha is the hash
        # of its bytes), and the bytes of each distinct blob are read back with get_raw.
        read_back: set[str] = set()
        for branch, files in model.files.items():
            listing = client.content.get(repo=model.name, ref=branch, depth=64, limit=1000)
            assert not listing.has_more
            listed = {e.path: e.sha for e in listing.entries if e.type == "file"}
            assert listed == {p: git_blob_sha(v) for p, v in files.items()}
            totals["files"] += len(files)
            for path, data in files.items():
                if listed[path] not in read_back:
                    assert client.content.get_raw(repo=model.name, ref=branch, path=path) == data
                    read_back.add(listed[path])
        totals["blobs read back byte for byte"] += len(read_back)
    return dict(totals)


@contextlib.contextmanager
def sdk_records_kept_from_the_report(secret_guard: Any) -> Iterator[None]:
    """The soak logs some 10,000 DEBUG lines: they still go to the suite's secret check, but
    not into pytest's captured log, which a failure would print in full."""
    logger = logging.getLogger("mesa_sdk")
    logger.addHandler(secret_guard.handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.propagate = True
        logger.removeHandler(secret_guard.handler)


def test_fault_soak(own_emulator: Emulator, secret_guard: Any) -> None:
    with sdk_records_kept_from_the_report(secret_guard):
        run_soak(own_emulator)


def run_soak(emu: Emulator) -> None:
    rng = random.Random(SEED)
    client = Mesa(
        api_key=emu.api_key,
        server_url=emu.url,
        org=ORG,
        timeout_ms=WRITE_TIMEOUT_MS,
        retry_config=fast_retries(max_elapsed_ms=30_000, initial_ms=10, max_interval_ms=100),
    )
    recorder = HookRecorder().install(client)
    soak = Soak(client, rng)
    operations = Counter[str]()
    faulted = Counter[str]()
    scripted = Counter[str]()
    replay_expected = 0
    kinds = list(FAULT_KINDS)

    started = time.monotonic()
    try:
        for index in range(OPERATIONS):
            planned = soak.plan(index)
            operations[planned.name] += 1
            if rng.random() < FAULT_RATE:
                allowed = [k for k in kinds if planned.is_read or FAULT_KINDS[k][2]]
                kind = rng.choices(allowed, [FAULT_KINDS[k][1] for k in allowed])[0]
                emu.script_faults(
                    f"/api/v1/{ORG}{planned.path}", [FAULT_KINDS[kind][0]], planned.method
                )
                scripted[kind] += 1
                faulted[planned.name] += 1
                # A write whose answer was lost, or came too late, is answered from the store.
                replay_expected += not planned.is_read and kind in REPLAYED_KINDS
            try:
                planned.run()
            except Exception as error:
                raise AssertionError(
                    f"operation {index} ({planned.name} {planned.method} {planned.path}) "
                    f"failed; seed {SEED}"
                ) from error
        elapsed = time.monotonic() - started

        # Every scripted fault was consumed, by a request to the path it was scripted for.
        consumed = Counter[str]()
        for script in emu.fault_log():
            for slot in script["faults"]:
                assert slot["consumed"], f"fault never consumed: {script['path']} {slot}"
                assert slot["request"]["path"] == script["path"]
                kind = next(k for k, (f, _, _) in FAULT_KINDS.items() if f == slot["fault"])
                consumed[kind] += 1
        assert consumed == scripted

        attempts = list(recorder.attempts)
        checked_at = time.monotonic()
        totals = verify_final_state(client, soak)
        verified = time.monotonic() - checked_at
    finally:
        client.close()

    succeeded = [a for a in attempts if a.outcome in ("ok", "replayed")]
    failed = Counter(a.outcome for a in attempts if a.outcome not in ("ok", "replayed"))
    retried = len([a for a in succeeded if a.attempt > 1])
    replayed = len([a for a in succeeded if a.outcome == "replayed"])
    # Each fault made exactly one attempt fail (a read may also time out on a slow machine).
    assert len(succeeded) == OPERATIONS
    assert sum(failed.values()) >= sum(scripted.values())
    assert retried >= sum(scripted.values())
    # A write whose answer was lost or late after the server acted was answered from the store.
    # On a loaded machine a write may also time out unscripted: each such extra failed attempt
    # may add one replay, and nothing else may.
    unscripted_failures = sum(failed.values()) - sum(scripted.values())
    assert replay_expected <= replayed <= replay_expected + unscripted_failures

    lines = [
        f"seed {SEED}: {OPERATIONS} operations in {elapsed:.1f} s "
        f"(+{verified:.1f} s to verify the final state), every one succeeded",
        "",
        f"  {'operation':<16}{'count':>7}{'faulted':>9}",
        *(
            f"  {name:<16}{operations[name]:>7}{faulted[name]:>9}"
            for name in OPERATION_WEIGHTS
            if operations[name]
        ),
        f"  {'total':<16}{sum(operations.values()):>7}{sum(faulted.values()):>9}",
        "",
        f"  {'fault':<26}{'scripted':>9}{'consumed':>9}",
        *(f"  {kind:<26}{scripted[kind]:>9}{consumed[kind]:>9}" for kind in FAULT_KINDS),
        f"  {'total':<26}{sum(scripted.values()):>9}{sum(consumed.values()):>9}",
        "",
        f"  SDK calls {len(succeeded)}, all succeeded; {retried} of them after retries "
        f"({sum(failed.values())} failed attempts)",
        "  failed attempts, seen by an after_error hook: "
        + ", ".join(f"{name} {count}" for name, count in sorted(failed.items())),
        f"  writes answered from the idempotency store (Idempotent-Replayed): {replayed}",
        "  final state, all as modelled: "
        + ", ".join(f"{count} {what}" for what, count in totals.items()),
    ]
    conftest.SUMMARY_LINES[:] = lines
    print("\nfault soak\n" + "\n".join(lines))
