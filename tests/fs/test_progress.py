"""What `mesa-fs` shows while a mount fetches: the reporter on a fake clock, then the real
command on a pseudo-terminal and with `-v`."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mesa_sdk.fs.progress import FetchCounter, FetchReporter, FetchStats, format_bytes

from .conftest import Repo, fuse_unavailable, make_repo, mounted_paths
from .test_cli import cli_mount, connection_env, mesa_fs, stop, wait_mounted


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reporter(*, tty: bool, verbose: bool) -> tuple[FetchReporter, FetchCounter, Clock, io.StringIO]:
    counter, clock, out = FetchCounter(), Clock(), io.StringIO()
    made = FetchReporter(counter.stats, out, tty=tty, verbose=verbose, clock=clock)
    return made, counter, clock, out


def fetch_files(counter: FetchCounter, count: int, size: int) -> None:
    for _ in range(count):
        counter.add_bytes(size)
        counter.add_file()


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (41_049_999, "41.0 MB"), (2 * 10**12, "2.0 TB")],
)
def test_format_bytes(count: int, shown: str) -> None:
    assert format_bytes(count) == shown


def test_a_terminal_gets_one_line_rewritten_then_a_summary() -> None:
    shown, counter, clock, out = reporter(tty=True, verbose=False)
    fetch_files(counter, 3, 1000)
    shown.tick()  # fetching began: nothing shown for the first half second
    assert out.getvalue() == ""
    clock.now += 0.6
    fetch_files(counter, 2, 500)
    shown.tick()
    clock.now += 0.2
    counter.add_bytes(2_000_000)  # a big file, still arriving
    shown.tick()
    clock.now += 0.5
    shown.tick()  # quiet, but not for a second yet
    clock.now += 0.6
    shown.tick()
    clear = "\r\x1b[K"
    assert out.getvalue() == (
        f"{clear}mesa-fs: fetching 5 files, 4.0 kB"
        f"{clear}mesa-fs: fetching 5 files, 2.0 MB"
        f"{clear}mesa-fs: fetched 5 files, 2.0 MB in 0.8 s\n"
    )


def test_short_fetching_shows_nothing() -> None:
    shown, counter, clock, out = reporter(tty=True, verbose=False)
    fetch_files(counter, 1, 10)
    shown.tick()
    clock.now += 2
    shown.tick()
    shown.close()
    assert out.getvalue() == ""


def test_closing_ends_the_line_with_its_summary() -> None:
    shown, counter, clock, out = reporter(tty=True, verbose=False)
    fetch_files(counter, 1, 10)
    shown.tick()
    clock.now += 1
    fetch_files(counter, 1, 10)
    shown.tick()
    shown.close()
    assert out.getvalue().endswith("\r\x1b[Kmesa-fs: fetched 2 files, 20 B in 1.0 s\n")


def test_no_terminal_no_line() -> None:
    shown, counter, clock, out = reporter(tty=False, verbose=False)
    for _ in range(10):
        fetch_files(counter, 1, 10)
        clock.now += 0.3
        shown.tick()
    shown.close()
    assert out.getvalue() == ""


def test_verbose_logs_a_summary_a_second(caplog: pytest.LogCaptureFixture) -> None:
    shown, counter, clock, out = reporter(tty=True, verbose=True)
    with caplog.at_level(logging.INFO, logger="mesa_sdk.fs"):
        for _ in range(8):  # 2 s of fetching: 8 files, 4 listings
            fetch_files(counter, 1, 100)
            if counter.stats().files % 2:
                counter.add_listing()
            clock.now += 0.25
            shown.tick()
        clock.now += 5
        shown.tick()  # nothing new: no line
    assert [r.getMessage() for r in caplog.records if r.name == "mesa_sdk.fs"] == [
        "fetched 4 files, 400 B, 2 listings in the last 1.0 s; 4 files, 400 B in all",
        "fetched 4 files, 400 B, 2 listings in the last 1.0 s; 8 files, 800 B in all",
    ]
    assert out.getvalue() == ""  # the log lines instead of the terminal line


def test_counter_adds_up() -> None:
    counter = FetchCounter()
    fetch_files(counter, 2, 7)
    counter.add_listing()
    assert counter.stats() == FetchStats(files=2, bytes=14, listings=1)


# ---- the real command -----------------------------------------------------------------------

needs_fuse = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))


def slow_content(repo: Repo, count: int, delay_ms: int) -> None:
    """The next `count` content requests of `repo` each take `delay_ms` more."""
    repo.emulator.script_faults(
        f"/api/v1/{repo.org}/{repo.name}/content", [{"delay_ms": delay_ms}] * count, "GET"
    )


@needs_fuse
def test_progress_line_on_a_terminal(repo: Repo, tmp_path: Path) -> None:
    files = {f"src/f{i}.txt": f"file {i}\n".encode() for i in range(12)}
    small = make_repo(repo.emulator, tmp_path, "progress", files)
    path = tmp_path / "mnt"
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [
            *mesa_fs(),
            "mount",
            f"{small.org}/{small.name}",
            str(path),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        env=connection_env(small),
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    try:
        wait_mounted(process, path)  # type: ignore[arg-type]
        slow_content(small, 40, 300)
        for name, data in sorted(files.items()):
            assert (path / name).read_bytes() == data
        small.emulator.clear_faults()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        seen = read_all(leader)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            subprocess.run(["fusermount", "-u", "-z", str(path)], check=False)
    assert process.returncode == 0, seen
    lines = seen.split("\r\n")
    assert lines[0].startswith(f"mesa-fs: {small.org}/{small.name}@"), seen
    updates = re.findall(r"\r\x1b\[Kmesa-fs: fetching (\d+) files?, ", seen)
    assert updates and [int(n) for n in updates] == sorted(int(n) for n in updates), seen
    # Fetching may pause and start again: each run of it that was shown ends in a summary.
    summaries = re.findall(
        r"\r\x1b\[Kmesa-fs: fetched (\d+) files?, (\d+) B in \d+\.\d s\r\n", seen
    )
    assert summaries, seen
    assert sum(int(files) for files, _ in summaries) <= 12, seen
    assert seen.endswith("\r\n") and seen.count("\r\x1b[K") == len(updates) + len(summaries)
    assert str(path) not in mounted_paths()


def read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


@needs_fuse
def test_verbose_logs_summaries_not_requests(repo: Repo, tmp_path: Path) -> None:
    files = {f"d/f{i}.txt": b"%09d\n" % i for i in range(20)}  # distinct: one blob each
    small = make_repo(repo.emulator, tmp_path, "verbose", files)
    path = tmp_path / "mnt"
    args = ["-v", f"{small.org}/{small.name}", str(path)]
    with cli_mount(path, args, connection_env(small)) as process:
        for name in sorted(files):
            assert (path / name).read_bytes() == files[name]
        time.sleep(1.5)  # a summary is logged at most once a second
        err = stop(process).decode()
    assert process.returncode == 0, err
    assert "HTTP Request" not in err and "GET " not in err, err
    totals = re.findall(
        r"^mesa-fs: fetched .* in the last .*; (\d+) files?, (\d+) B in all$", err, re.M
    )
    assert totals and totals[-1] == ("20", "200"), err
