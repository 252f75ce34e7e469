"""What a FUSE mount (`mesa_sdk.fs.mount`) costs against the API and against a local clone.

1. Time to first byte of one file nested three folders down in a 10,000-file repository
   (built with one commit of 10,000 create edits): from the `mount()` call, and from a
   ready mount; each with a fresh mount and an empty cache, against one raw content request
   and against `git clone --depth 1` plus the read. Then a cold `find` of that whole tree
   through a fresh mount (time and requests), against the same in a local checkout.
2. Warm `grep -rn` over a 1,000-file repository of realistic nested text files through a
   read-only mount, against the same over a local `git clone` (goal: at most 2x). "Warm": run
   once, then the median of several runs. Also through a second mount served by fusepy's
   high-level `FUSE` (what machines without the low-level adapter get), for comparison.
3. Cold `grep -rn` over that repository from nothing: `mount()` and the grep through a fresh
   mount (its walk fetches the tree through the git endpoint), against `git clone --depth 1`
   from the same server's git endpoint plus the same grep (goal: at most 1.5x); and file by
   file (`prefetch=False`), for comparison.

The emulator runs in a separate process (`mesa-emulator serve`), so the mount's Python and
the server's do not share a GIL. Needs FUSE (`/dev/fuse`, `fusermount`).

Run: `.venv/bin/python -m benchmarks.fs_mount` (or `make bench`).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest.mock import patch

import httpx

from benchmarks.table import print_table
from mesa_sdk import Mesa
from mesa_sdk.fs import mount
from mesa_sdk.models import CreateCommitTypedDict

ORG = "bench"
TARGET = "d7/s3/t5/f2.txt"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "request",
    "response",
    "commit",
    "branch",
    "folder",
    "parse",
    "value",
    "index",
    "cache",
    "stream",
    "bytes",
    "buffer",
    "handle",
    "retry",
    "client",
    "server",
    "config",
    "option",
    "result",
    "error",
    "module",
]


@contextmanager
def emulator_process() -> Iterator[tuple[str, str, Path]]:
    """A `mesa-emulator serve` subprocess: (API URL, key, data folder)."""
    data = Path(tempfile.mkdtemp(prefix="mesa-bench-data-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "mesa_bench_" + secrets.token_hex(16)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mesa_emulator",
            "serve",
            "--port",
            str(port),
            "--data",
            str(data),
            "--api-key",
            key,
            "--quiet",  # the access log would cost a write per request
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.05)
        yield url, key, data
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(data, ignore_errors=True)


def text_file(rng: random.Random, size: int) -> str:
    lines: list[str] = []
    total = 0
    while total < size:
        words = rng.choices(WORDS, k=rng.randint(4, 12))
        if rng.random() < 0.02:
            words.insert(rng.randint(0, len(words)), "TODO:")
        line = "    " * rng.randint(0, 3) + " ".join(words)
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def create_repo(client: Mesa, name: str, files: dict[str, str]) -> str:
    client.repos.create(org=ORG, body={"name": name})
    body: CreateCommitTypedDict = {
        "branch": "main",
        "message": f"{len(files)} files",
        "author": {"name": "Bench", "email": "bench@example.com"},
        "edits": [{"path": p, "action": "create", "content": c} for p, c in files.items()],
    }
    result = client.commits.create(
        org=ORG, repo=name, body=body, request_options={"timeout_ms": 300_000}
    )
    return result.sha


def bare_path(client: Mesa, data: Path, name: str) -> Path:
    return data / "repos" / f"{client.repos.get(org=ORG, repo=name).id}.git"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def first_byte_rows(client: Mesa, data: Path, runs: int = 11) -> list[list[object]]:
    files = {
        f"d{a}/s{b}/t{c}/f{d}.txt": f"file {a}{b}{c}{d}\n"
        for a in range(10)
        for b in range(10)
        for c in range(10)
        for d in range(10)
    }
    start = time.perf_counter()
    create_repo(client, "ten-k", files)
    build = time.perf_counter() - start

    from_call: list[float] = []
    from_ready: list[float] = []
    raw: list[float] = []
    listing: list[float] = []
    requests: list[int] = []
    ready_requests: list[int] = []
    counter = {"n": 0}

    def count(context: object, request: httpx.Request) -> None:
        # Background read-ahead is not on the path to the first byte.
        if not threading.current_thread().name.startswith("mesa-fs-prefetch"):
            counter["n"] += 1

    client.hooks.register_before_request(count)
    sha = client.commits.list(org=ORG, repo="ten-k", ref="main", limit=1).result.commits[0].sha
    for _ in range(runs):
        # Interleaved with the mounts, so that the floors see the same machine.
        start = time.perf_counter()
        client.content.get_raw(org=ORG, repo="ten-k", ref=sha, path=TARGET)
        raw.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.content.get(org=ORG, repo="ten-k", ref=sha, path="d7/s3", depth=1, limit=1000)
        listing.append(time.perf_counter() - start)

        counter["n"] = 0
        start = time.perf_counter()
        with mount(client, org=ORG, repo="ten-k", ref="main") as m:
            with open(os.path.join(m.path, TARGET), "rb") as f:
                assert f.read(1) == b"f"
            from_call.append(time.perf_counter() - start)
            requests.append(counter["n"])
        with mount(client, org=ORG, repo="ten-k", ref="main") as m:
            time.sleep(0.05)  # let the early root listing land: measure from a settled mount
            counter["n"] = 0
            start = time.perf_counter()
            with open(os.path.join(m.path, TARGET), "rb") as f:
                assert f.read(1) == b"f"
            from_ready.append(time.perf_counter() - start)
            ready_requests.append(counter["n"])

    # A cold walk of the whole tree: `find` through a fresh mount.
    find = ["find", ".", "-type", "f"]
    walks: list[float] = []
    walk_requests: list[int] = []
    for _ in range(3):
        with mount(client, org=ORG, repo="ten-k", ref="main") as m:
            counter["n"] = 0
            start = time.perf_counter()
            found = subprocess.run(find, cwd=m.path, capture_output=True, check=True).stdout
            walks.append(time.perf_counter() - start)
            walk_requests.append(counter["n"])
            assert len(found.splitlines()) == len(files)

    clone: list[float] = []
    local_walks: list[float] = []
    source = f"file://{bare_path(client, data, 'ten-k')}"
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            subprocess.run(
                ["git", "clone", "-q", "--depth", "1", source, folder + "/c"], check=True
            )
            with open(os.path.join(folder, "c", TARGET), "rb") as f:
                f.read(1)
            clone.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(find, cwd=folder + "/c", capture_output=True, check=True)
            local_walks.append(time.perf_counter() - start)

    median = statistics.median
    unit = median(raw)
    return [
        ["build: one commit of 10,000 create edits", ms(build), "1", ""],
        [
            f"mount() call -> first byte of {TARGET}",
            ms(median(from_call)),
            str(int(median(requests))),
            f"{median(from_call) / unit:.1f}x",
        ],
        [
            "ready mount -> first byte (root listed)",
            ms(median(from_ready)),
            str(int(median(ready_requests))),
            f"{median(from_ready) / unit:.1f}x",
        ],
        ["floor: one raw content request", ms(unit), "1", "1.0x"],
        ["floor: one folder listing request", ms(median(listing)), "1", ""],
        [
            "git clone --depth 1 file:// + first byte",
            ms(median(clone)),
            "",
            f"{median(clone) / unit:.0f}x",
        ],
        [
            "cold `find . -type f` through a fresh mount",
            ms(median(walks)),
            str(int(median(walk_requests))),
            "",
        ],
        ["same in a local checkout", ms(median(local_walks)), "", ""],
    ]


def listdir_us(folder: str, runs: int = 2000) -> float:
    os.listdir(folder)
    start = time.perf_counter()
    for _ in range(runs):
        os.listdir(folder)
    return (time.perf_counter() - start) / runs * 1e6


def grep_rows(client: Mesa, data: Path, runs: int = 21) -> list[list[object]]:
    rng = random.Random(42)
    files = {
        f"pkg{a}/mod{b}/file{c}.{'py' if c % 3 else 'md'}": text_file(rng, rng.randint(1500, 5000))
        for a in range(10)
        for b in range(10)
        for c in range(10)
    }
    create_repo(client, "one-k", files)
    command = ["grep", "-rn", "--exclude-dir=.git", "TODO", "."]

    def timed(folder: str) -> tuple[float, bytes]:
        start = time.perf_counter()
        result = subprocess.run(command, cwd=folder, capture_output=True, check=True)
        return time.perf_counter() - start, result.stdout

    with tempfile.TemporaryDirectory() as folder, ExitStack() as mounts:
        checkout = os.path.join(folder, "checkout")
        subprocess.run(
            ["git", "clone", "-q", str(bare_path(client, data, "one-k")), checkout], check=True
        )
        expected = sorted(timed(checkout)[1].splitlines())
        m = mounts.enter_context(mount(client, org=ORG, repo="one-k", ref="main"))
        with patch("mesa_sdk.fs._lowlevel.lowlevel_supported", return_value=False):
            # The same mount served by fusepy's high-level FUSE, as where the adapter can't run.
            high = mounts.enter_context(mount(client, org=ORG, repo="one-k", ref="main"))
        cold, output = timed(m.path)
        assert sorted(output.splitlines()) == expected, "the mount's grep differs"
        assert sorted(timed(high.path)[1].splitlines()) == expected, "the mount's grep differs"
        # Interleaved, so the machine's noise falls on all alike.
        local, warm, warm_high = [], [], []
        for _ in range(runs):
            local.append(timed(checkout)[0])
            warm.append(timed(m.path)[0])
            warm_high.append(timed(high.path)[0])
        folder_local = listdir_us(os.path.join(checkout, "pkg3/mod4"))
        folder_mount = listdir_us(os.path.join(m.path, "pkg3/mod4"))
        folder_high = listdir_us(os.path.join(high.path, "pkg3/mod4"))

    median = statistics.median
    size = sum(len(c) for c in files.values())

    def versus(value: float, floor: float) -> str:
        return f"{value / floor:.2f}x"

    return [
        [f"local git checkout ({len(files)} files, {size // 1024} KiB)", ms(median(local)), ""],
        ["mount, warm (median)", ms(median(warm)), versus(median(warm), median(local))],
        ["mount, cold (first run)", ms(cold), versus(cold, median(local))],
        [
            "mount via fusepy's FUSE (fallback), warm",
            ms(median(warm_high)),
            versus(median(warm_high), median(local)),
        ],
        ["listing one folder (10 entries), local", f"{folder_local / 1000:.3f}", ""],
        ["same, mount, warm", f"{folder_mount / 1000:.3f}", versus(folder_mount, folder_local)],
        ["same, fusepy FUSE, warm", f"{folder_high / 1000:.3f}", versus(folder_high, folder_local)],
    ]


def cold_grep_rows(client: Mesa, url: str, key: str, runs: int = 5) -> list[list[object]]:
    """A cold `grep -rn` over the 1,000-file repository of `grep_rows` through a fresh mount
    (empty cache; its walk fetches the tree through the git endpoint), against `git clone
    --depth 1` from the same server's git endpoint plus the same grep."""
    command = ["grep", "-rn", "--exclude-dir=.git", "TODO", "."]
    origin = url.removesuffix("/api/v1").replace("://", f"://t:{key}@", 1)
    clone_url = f"{origin}/{ORG}/one-k.git"
    git_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_GLOBAL": os.devnull}

    def grep(folder: str) -> bytes:
        return subprocess.run(command, cwd=folder, capture_output=True, check=True).stdout

    def through_mount(prefetch: bool) -> tuple[float, bytes, int]:
        counter = {"n": 0}

        def count(context: object, request: httpx.Request) -> None:
            counter["n"] += 1

        with Mesa(api_key=key, server_url=url) as fresh:
            fresh.hooks.register_before_request(count)
            start = time.perf_counter()
            with mount(fresh, org=ORG, repo="one-k", ref="main", prefetch=prefetch) as m:
                output = grep(m.path)
                elapsed = time.perf_counter() - start
        return elapsed, output, counter["n"]

    def through_clone() -> tuple[float, bytes]:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            subprocess.run(
                ["git", "-c", "credential.helper=", "clone", "-q", "--depth", "1", clone_url,
                 folder + "/c"],
                check=True,
                env=git_env,
            )  # fmt: skip
            output = grep(folder + "/c")
            return time.perf_counter() - start, output

    expected = sorted(through_clone()[1].splitlines())
    mounted, cloned, requests = [], [], []
    for _ in range(runs):  # interleaved, so the machine's noise falls on both alike
        elapsed, output, count = through_mount(prefetch=True)
        assert sorted(output.splitlines()) == expected, "the mount's grep differs"
        mounted.append(elapsed)
        requests.append(count)
        cloned.append(through_clone()[0])
    per_file, output, per_file_requests = through_mount(prefetch=False)
    assert sorted(output.splitlines()) == expected, "the mount's grep differs"
    median = statistics.median
    clone = median(cloned)
    return [
        ["git clone --depth 1 (git endpoint) + grep", ms(clone), "", "1.00x"],
        [
            "mount() + cold grep, tree fetched through git",
            ms(median(mounted)),
            str(int(median(requests))),
            f"{median(mounted) / clone:.2f}x",
        ],
        [
            "mount() + cold grep, file by file (prefetch=False)",
            ms(per_file),
            str(per_file_requests),
            f"{per_file / clone:.2f}x",
        ],
    ]


def fuse_unavailable() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse missing"
    if shutil.which("fusermount") is None:
        return "fusermount not on PATH"
    return None


def main() -> None:
    missing = fuse_unavailable()
    if missing is not None:
        print(f"\n### fs: skipped (FUSE unavailable: {missing})")
        return
    with emulator_process() as (url, key, data), Mesa(api_key=key, server_url=url) as client:
        first_byte = first_byte_rows(client, data)
        grep = grep_rows(client, data)
        cold = cold_grep_rows(client, url, key)
    print_table(
        "fs: first byte and a cold walk, 10,000-file repository (emulator on loopback, medians;"
        " goal: mount() call -> first byte <= 30 ms)",
        ["what", "ms", "requests", "vs one request"],
        first_byte,
    )
    print_table(
        "fs: grep -rn TODO over 1,000 files (goal: warm mount <= 2x local)",
        ["where", "ms", "vs local"],
        grep,
    )
    print_table(
        "fs: cold grep -rn TODO over the same 1,000 files, from nothing (medians of 5;"
        " goal: mount <= 1.5x clone)",
        ["what", "ms", "API requests", "vs clone"],
        cold,
    )


if __name__ == "__main__":
    main()
