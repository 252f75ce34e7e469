"""How fast the emulator answers the SDK on loopback.

An in-process `Emulator` (its own temporary data folder) and a `Mesa` client with retries off:

1. Commits per second: sequential commits of a one-file edit to one branch, then four threads
   each committing to its own branch.
2. Content reads per second: `content.get` (JSON, base64) and `content.get_raw` of a small
   file; `content.get_raw` of a 1 MB file, in MB/s.

Each row runs for a fixed time (4 s) after a short warm-up; the whole run takes about
20-25 s.  The client and the server share one process and its GIL, so these are lower bounds
for a server in a process of its own.

Run: `.venv/bin/python -m benchmarks.emulator_throughput` (or `make bench`).
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks.table import print_table

if TYPE_CHECKING:
    from mesa_sdk import Mesa
    from mesa_sdk.models import AuthorTypedDict

AUTHOR: AuthorTypedDict = {"name": "Bench", "email": "bench@example.com"}
SECONDS = 4.0
WARMUP = 5
MB = 1024 * 1024


@dataclass
class Result:
    what: str
    ops: int
    seconds: float
    latencies: list[float]
    bytes_per_op: int = 0

    def row(self) -> list[object]:
        rate = self.ops / self.seconds
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000
        mb_s = f"{rate * self.bytes_per_op / MB:.1f}" if self.bytes_per_op else ""
        return [self.what, self.ops, f"{rate:.0f}", f"{p50:.2f}", f"{p95:.2f}", mb_s]


def timed(op: Callable[[int], object], seconds: float) -> tuple[int, float, list[float]]:
    """Run ``op(i)`` for ``seconds``; returns (ops, elapsed, per-op latencies)."""
    for i in range(WARMUP):
        op(-1 - i)
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    i = 0
    while True:
        began = time.perf_counter()
        op(i)
        ended = time.perf_counter()
        latencies.append(ended - began)
        i += 1
        if ended >= deadline:
            return i, ended - start, latencies


def commit_edit(client: Mesa, branch: str, path: str, content: str) -> None:
    client.commits.create(
        repo="bench",
        body={
            "branch": branch,
            "message": f"edit {content}",
            "author": AUTHOR,
            "edits": [{"path": path, "action": "update", "content": content}],
        },
    )


def sequential_commits(client: Mesa) -> Result:
    ops, elapsed, latencies = timed(
        lambda i: commit_edit(client, "main", "counter.txt", f"{i}\n"), SECONDS
    )
    return Result("commits, 1 thread, 1 branch", ops, elapsed, latencies)


def threaded_commits(client: Mesa, threads: int = 4) -> Result:
    head = client.repos.get(repo="bench").head_sha
    assert head is not None
    for t in range(threads):
        client.branches.create(repo="bench", body={"name": f"worker-{t}", "head_sha": head})
        client.commits.create(
            repo="bench",
            body={
                "branch": f"worker-{t}",
                "message": "start",
                "author": AUTHOR,
                "edits": [{"path": f"w{t}.txt", "action": "create", "content": "0\n"}],
            },
        )
    results: list[tuple[int, float, list[float]]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        outcome = timed(
            lambda i: commit_edit(client, f"worker-{t}", f"w{t}.txt", f"{i}\n"), SECONDS
        )
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ops = sum(r[0] for r in results)
    elapsed = max(r[1] for r in results)
    latencies = [x for r in results for x in r[2]]
    return Result(f"commits, {threads} threads, {threads} branches", ops, elapsed, latencies)


def reads(client: Mesa) -> list[Result]:
    small = b"print('hello, mesa')\n" * 10  # 210 bytes
    big = os.urandom(MB)
    client.commits.create(
        repo="bench",
        body={
            "branch": "main",
            "message": "files to read",
            "author": AUTHOR,
            "edits": [
                {"path": "small.py", "action": "create", "content": small.decode()},
                {
                    "path": "big.bin",
                    "action": "create",
                    "content": base64.b64encode(big).decode(),
                    "encoding": "base64",
                },
            ],
        },
    )
    assert client.content.get_raw(repo="bench", path="big.bin") == big

    out = []
    ops, elapsed, lat = timed(lambda i: client.content.get(repo="bench", path="small.py"), SECONDS)
    out.append(Result(f"content.get JSON, {len(small)} B file", ops, elapsed, lat))
    ops, elapsed, lat = timed(
        lambda i: client.content.get_raw(repo="bench", path="small.py"), SECONDS
    )
    out.append(Result(f"content.get_raw, {len(small)} B file", ops, elapsed, lat))
    ops, elapsed, lat = timed(
        lambda i: client.content.get_raw(repo="bench", path="big.bin"), SECONDS
    )
    out.append(Result("content.get_raw, 1 MB file", ops, elapsed, lat, bytes_per_op=MB))
    return out


def main() -> None:
    from mesa_emulator.server import Emulator
    from mesa_sdk import Mesa

    with (
        tempfile.TemporaryDirectory(prefix="mesa-bench-") as data_dir,
        Emulator(data_dir=data_dir) as emulator,
        Mesa(
            api_key=emulator.api_key,
            server_url=emulator.url,
            org="bench",
            retry_config={"strategy": "none"},
        ) as client,
    ):
        client.repos.create(body={"name": "bench"})
        client.commits.create(
            repo="bench",
            body={
                "branch": "main",
                "message": "start",
                "author": AUTHOR,
                "edits": [{"path": "counter.txt", "action": "create", "content": "0\n"}],
            },
        )
        rows = [sequential_commits(client), threaded_commits(client), *reads(client)]
    print_table(
        f"Emulator throughput on loopback (in-process server, {SECONDS:.0f} s per row)",
        ["what", "ops", "ops/s", "p50 ms", "p95 ms", "MB/s"],
        [r.row() for r in rows],
    )


if __name__ == "__main__":
    main()
