"""A server that stops answering, or a repository that is gone: a reader of the mount gets an
error within a bound, never a hang or an empty folder; `mesa-fs mount` stops on a signal."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from mesa_sdk.fs import mount

from .conftest import FILES, Repo, fuse_unavailable, make_repo, mounted_paths
from .test_cli import mesa_fs, wait_mounted

pytestmark = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))

READ_BOUND = 15.0
"""The promise is 10 s (the default read_timeout); asserted generously."""


class SwitchableProxy:
    """A TCP proxy on 127.0.0.1 to `target`, which can start swallowing traffic: once
    `blackhole()` is called it drops every open connection and accepts new ones but never
    answers them (a server that hangs)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._holes = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
                if self._holes or self._closed:
                    continue  # held open, never answered
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets.append(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def blackhole(self) -> None:
        with self._lock:
            self._holes = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@pytest.fixture
def proxy(mesa_emulator: Emulator) -> Iterator[SwitchableProxy]:
    forwarding = SwitchableProxy(("127.0.0.1", mesa_emulator.port))
    try:
        yield forwarding
    finally:
        forwarding.close()


@pytest.fixture
def small(mesa_emulator: Emulator, tmp_path: Path) -> Repo:
    files = {path: FILES[path] for path in ("README.md", "src/app/main.py", "data/blob.bin")}
    return make_repo(mesa_emulator, tmp_path, "reach", files)


@pytest.mark.parametrize("writable", [False, True], ids=["read-only", "writable"])
def test_reads_against_a_hung_server_fail_with_eio_within_the_bound(
    small: Repo, proxy: SwitchableProxy, writable: bool
) -> None:
    url = small.emulator.url.replace(f":{small.emulator.port}/", f":{proxy.port}/")
    with (
        Mesa(api_key=small.emulator.api_key, server_url=url, org=small.org) as client,
        mount(client, repo=small.name, ref="main", writable=writable) as m,
    ):
        root = Path(m.path)
        assert "README.md" in os.listdir(root)  # the root is listed: lookups work
        proxy.blackhole()
        started = time.monotonic()
        # Readers in other processes: one is killed while it waits, one waits it out.
        victim = subprocess.Popen(["cat", str(root / "README.md")], stdout=subprocess.PIPE)
        reader = subprocess.Popen(
            ["cat", str(root / "src/app/main.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            time.sleep(1)
            victim.kill()
            victim.wait(timeout=READ_BOUND)
            victim_gone = time.monotonic() - started
            _, stderr = reader.communicate(timeout=READ_BOUND)
            answered = time.monotonic() - started
        finally:
            for process in (victim, reader):
                if process.poll() is None:
                    process.kill()
    assert victim.returncode == -signal.SIGKILL and victim_gone < READ_BOUND
    assert reader.returncode == 1 and b"Input/output error" in stderr, stderr
    assert answered < READ_BOUND


def test_a_deleted_repository_is_an_error_on_every_path(small: Repo) -> None:
    with (
        small.client() as client,
        mount(client, repo=small.name, ref="main", prefetch=False) as m,
    ):
        root = Path(m.path)
        assert os.stat(root / "src").st_mode  # known from the root's listing only
        client.repos.delete(repo=small.name)
        for attempt in (
            lambda: os.listdir(root / "src"),
            lambda: os.stat(root / "src/app"),
            lambda: (root / "README.md").read_bytes(),
            lambda: (root / "data/blob.bin").read_bytes(),
        ):
            with pytest.raises(OSError) as caught:
                attempt()
            assert caught.value.errno == errno.EIO


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_stops_on_a_signal_while_connecting(
    silent_server: int, tmp_path: Path, sig: int
) -> None:
    path = tmp_path / "mnt"
    env = {
        **os.environ,
        "MESA_API_KEY": "test-key",
        "MESA_SERVER_URL": f"http://127.0.0.1:{silent_server}/api/v1",
    }
    process = subprocess.Popen(
        [*mesa_fs(), "mount", "acme/app", str(path), "--writable"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.5)  # started, and waiting for an answer
        assert process.poll() is None
        sent = time.monotonic()
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=10)
        stopped = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 128 + sig, stderr
    assert f"stopped by {signal.Signals(sig).name} before the mount was ready".encode() in stderr
    assert stopped < 2.0
    assert not path.exists() or os.listdir(path) == []


def test_cli_stops_on_a_signal_while_a_reader_waits_for_a_hung_server(
    small: Repo, proxy: SwitchableProxy, tmp_path: Path
) -> None:
    path = tmp_path / "mnt"
    temporary = tmp_path / "tmp"  # where the process makes its temporary folders
    temporary.mkdir()
    env = {
        **os.environ,
        "MESA_API_KEY": small.emulator.api_key,
        "MESA_SERVER_URL": small.emulator.url.replace(
            f":{small.emulator.port}/", f":{proxy.port}/"
        ),
        "TMPDIR": str(temporary),
    }
    process = subprocess.Popen(
        [*mesa_fs(), "mount", f"{small.org}/{small.name}", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reader: subprocess.Popen[bytes] | None = None
    try:
        wait_mounted(process, path)
        assert "README.md" in os.listdir(path)
        proxy.blackhole()
        reader = subprocess.Popen(
            ["cat", str(path / "README.md")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        time.sleep(0.5)  # the reader waits on the server
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        stopped = time.monotonic() - sent
        reader.communicate(timeout=READ_BOUND)
    finally:
        for running in (process, reader):
            if running is not None and running.poll() is None:
                running.kill()
                running.wait(timeout=10)
        subprocess.run(["fusermount", "-u", "-z", str(path)], capture_output=True, check=False)
    assert process.returncode == 0, stderr
    assert stopped < 2.0
    assert reader.returncode != 0
    assert str(path) not in mounted_paths()
    assert list(temporary.iterdir()) == []  # its blob cache too, though a download hung
