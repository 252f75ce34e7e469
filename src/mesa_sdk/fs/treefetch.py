"""Whole folder trees in one request, through the service's git endpoint.

A walk (`grep -r`, `find`, a build) reads every file below a folder; through the content API
that is one request per file. When a walk starts (a folder is first listed for its contents)
or when asked (`Mount.prefetch()`), the files below the folder are listed (deep listings: a
few requests) and their blobs fetched by id with `git fetch` in one request (the way git's
own partial clone fetches missing blobs) into a bare repository made for that fetch in the
cache folder; git then writes them out (`checkout-index`; index-pack checked each blob
against its id), the blob cache adopts them, and the repository is removed. A read of a
file whose blob is on its way waits for it (within its read timeout), then reads it from the
cache; a read of a file the fetch did not bring goes through the API as before.

The endpoint is `{vcs_url}/{org}/{repo}.git`, `vcs_url` defaulting to the API server's
origin (where the Depot service and the emulator serve git). A failed fetch (no `git` on
PATH, the endpoint unreachable or refusing) turns tree fetches off for the mount: reads go
file by file, with the folder read-ahead of `prefetch.py`.

The API key the client sends (see `Remote.api_key`) reaches git as an `http.extraHeader`
through git's environment (`GIT_CONFIG_*`): never on a command line, which `ps` shows, and
never in a log. Git runs with no system or global configuration, no `GIT_*` variable of
this process (no trace), no prompt and no askpass program.

Bounded: files up to `max_size` bytes (8 MiB), at most `max_files` (50,000) and `max_bytes`
(512 MiB) per fetch, in path order; one fetch at a time; each folder once per commit, and
not below a folder already fetched.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mesa_sdk.fs.errors import MountError
from mesa_sdk.fs.paths import ancestors, is_within

if TYPE_CHECKING:
    from mesa_sdk.fs.blobs import BlobCache
    from mesa_sdk.fs.remote import Entry, Remote
    from mesa_sdk.fs.snapshot import Snapshot

__all__ = ["TreeFetcher"]

log = logging.getLogger("mesa_sdk.fs")

_FETCH_TIMEOUT = 600.0
_SCRUBBED_ENV = ("SSH_ASKPASS", "DISPLAY")


class _FetchFailed(Exception):
    pass


class TreeFetcher:
    """Fetches the blobs of folder trees at `remote` into `blobs` (see the module)."""

    def __init__(
        self,
        remote: Remote,
        blobs: BlobCache,
        *,
        vcs_url: str | None = None,
        on_walk: bool = True,
        wait_timeout: float = 10.0,
        max_size: int = 8 << 20,
        max_files: int = 50_000,
        max_bytes: int = 512 << 20,
    ) -> None:
        self._remote = remote
        self._blobs = blobs
        self._vcs_url = vcs_url
        self.on_walk = on_walk
        """Whether a walk starts a fetch (`fetch()` always does)."""
        self._wait_timeout = wait_timeout
        self._max_size = max_size
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()  # one git fetch at a time
        self._started: set[tuple[str, str]] = set()  # (commit, folder) fetched or under way
        self._listing: dict[tuple[str, str], threading.Event] = {}  # walks still listing
        self._pending: dict[str, threading.Event] = {}  # blob id -> set when its fetch ends
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._url: str | None = None
        self.failed: str | None = None if shutil.which("git") else "git is not on PATH"
        """Why tree fetches are off (None: they are on)."""
        self._closed = False

    # ---- when ---------------------------------------------------------------------------

    def walk(self, snapshot: Snapshot, folder: str) -> None:
        """A walk of `folder` starts: fetch its tree in the background (see the module)."""
        if not self.on_walk:
            return
        commit = snapshot.commit
        with self._lock:
            if self._closed or self.failed or commit is None or self._covered(commit, folder):
                return
            self._started.add((commit, folder))
            self._listing[(commit, folder)] = threading.Event()
        # A daemon thread: a fetch stuck on a hung server must not hold up the exit.
        threading.Thread(
            target=self._fetch_quietly, args=(snapshot, folder), name="mesa-fs-tree", daemon=True
        ).start()

    def fetch(self, snapshot: Snapshot, folder: str) -> int:
        """Fetches the tree of `folder` now; returns how many blobs came.

        Raises:
            MountError: The git endpoint cannot be used (the reason is given).
        """
        commit = snapshot.commit
        if commit is None:
            return 0
        with self._lock:
            if self.failed:
                raise MountError(f"no tree fetch for this mount: {self.failed}")
            self._started.add((commit, folder))
            self._listing.setdefault((commit, folder), threading.Event())
        try:
            return self._fetch(snapshot, folder)
        except _FetchFailed as error:
            with self._lock:
                self.failed = str(error)  # no walk tries again
            raise MountError(f"the tree fetch failed: {error}") from None

    def _covered(self, commit: str, folder: str) -> bool:
        return any((commit, above) in self._started for above in [folder, *ancestors(folder)])

    def wait_for(self, snapshot: Snapshot, entry: Entry) -> float:
        """If `entry`'s blob is, or may be, on its way: wait for it, at most `wait_timeout`
        seconds in all; returns the seconds waited (0.0: nothing to wait for)."""
        commit = snapshot.commit
        with self._lock:
            listing = [
                event
                for (at, folder), event in self._listing.items()
                if at == commit and is_within(entry.path, folder)
            ]
        started = time.monotonic()
        deadline = started + self._wait_timeout
        for event in listing:  # a walk still learning which blobs it fetches
            event.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            pending = self._pending.get(entry.sha)
        if pending is not None:
            pending.wait(max(0.0, deadline - time.monotonic()))
        elif not listing:
            return 0.0
        return time.monotonic() - started

    def close(self) -> None:
        """Stops any fetch under way; none starts after this."""
        with self._lock:
            self._closed = True
            processes = list(self._processes)
        for process in processes:
            process.kill()
        with self._lock:  # a reader waiting for a fetch goes on (and finds the mount closed)
            for event in [*self._listing.values(), *self._pending.values()]:
                event.set()

    # ---- how ----------------------------------------------------------------------------

    def _fetch_quietly(self, snapshot: Snapshot, folder: str) -> None:
        try:
            count = self._fetch(snapshot, folder)
            log.debug("fetched %d blob(s) of %r through git", count, folder or "/")
        except _FetchFailed as error:
            with self._lock:
                self.failed = str(error)
            log.info("tree fetches are off for this mount (reading file by file): %s", error)
        except Exception as error:  # a listing failed: the walk's reads will say
            log.debug("the tree fetch of %r failed: %s", folder or "/", error)

    def _fetch(self, snapshot: Snapshot, folder: str) -> int:
        commit = snapshot.commit
        assert commit is not None
        mine: dict[str, int] = {}
        total = 0
        try:
            files = snapshot.files_under(folder)
            with self._lock:
                for entry in sorted(files.values(), key=lambda item: item.path):
                    if (
                        entry.kind == "file"
                        and 0 < entry.size <= self._max_size
                        and entry.sha not in self._pending
                        and not os.path.exists(self._blobs.path(entry.sha))
                    ):
                        if len(mine) == self._max_files or total + entry.size > self._max_bytes:
                            break
                        mine[entry.sha] = entry.size
                        total += entry.size
                        self._pending[entry.sha] = threading.Event()
        finally:
            with self._lock:
                listed = self._listing.pop((commit, folder), None)
            if listed is not None:
                listed.set()
        if not mine:
            return 0
        try:
            with self._fetch_lock:
                # A repository per fetch, gone after it: the blob cache keeps the blobs.
                git_dir = self._blobs.temporary_folder("trees")
                try:
                    self._git_fetch(git_dir, list(mine))
                    return self._copy_into_cache(git_dir, mine)
                finally:
                    shutil.rmtree(git_dir, ignore_errors=True)
        finally:
            for blob_id in mine:
                self._arrived(blob_id)

    def _arrived(self, blob_id: str) -> None:
        """`blob_id` is in the cache, or will not come: a reader waiting for it goes on."""
        with self._lock:
            event = self._pending.pop(blob_id, None)
        if event is not None:
            event.set()

    def _env(self, with_key: bool) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("GIT_") and name not in _SCRUBBED_ENV
        }
        config = [
            # A server that stops answering fails the fetch (then reads go file by file).
            ("http.lowSpeedLimit", "1"),
            ("http.lowSpeedTime", str(max(1, round(self._wait_timeout)))),
            ("credential.helper", ""),
            ("core.askPass", ""),
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
            ("fetch.negotiationAlgorithm", "noop"),
        ]
        if with_key:
            key = self._remote.api_key()
            if key is None:
                raise _FetchFailed("no API key was sent yet")
            token = base64.b64encode(f"t:{key}".encode()).decode("ascii")
            config.append(("http.extraHeader", f"Authorization: Basic {token}"))
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            GIT_CONFIG_COUNT=str(len(config)),
        )
        for number, (name, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{number}"] = name
            env[f"GIT_CONFIG_VALUE_{number}"] = value
        return env

    def _git(
        self, git_dir: Path, args: list[str], env: dict[str, str], stdin: bytes
    ) -> subprocess.CompletedProcess[bytes]:
        with self._lock:
            if self._closed:  # nothing may be written into a cache being removed
                raise _FetchFailed("the mount is closed")
            process = subprocess.Popen(
                ["git", f"--git-dir={git_dir}", *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                umask=0o077,  # the files git writes are the cache's: this user's only
            )
            self._processes.add(process)
        try:
            _, stderr = process.communicate(stdin, timeout=_FETCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise _FetchFailed(f"git {args[0]} took over {_FETCH_TIMEOUT:.0f} s") from None
        finally:
            with self._lock:
                self._processes.discard(process)
        return subprocess.CompletedProcess(process.args, process.returncode, b"", stderr)

    def _git_fetch(self, git_dir: Path, blob_ids: list[str]) -> None:
        env = self._env(with_key=True)
        init = self._git(git_dir, ["init", "--quiet", "--bare"], self._env(with_key=False), b"")
        if init.returncode != 0:
            raise _FetchFailed(_last_line(init.stderr))
        if self._url is None:
            self._url = self._remote.git_url(self._vcs_url)
        args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--stdin", self._url]
        fetched = self._git(git_dir, args, env, "".join(f"{oid}\n" for oid in blob_ids).encode())
        if fetched.returncode != 0:
            raise _FetchFailed(_last_line(fetched.stderr))

    def _copy_into_cache(self, git_dir: Path, wanted: dict[str, int]) -> int:
        """Writes blobs `wanted` (id -> size) from the repository at `git_dir` into the blob
        cache; returns how many are there now.

        Git writes the files itself, laid out as the cache is (`ab/cdef...`), into a folder
        of the fetch's repository (`checkout-index` of an index naming each blob by its id;
        the bytes are what index-pack checked against their ids); the cache then adopts them
        (`BlobCache.adopt_folder`). A blob the fetch did not bring is simply not written."""
        env = {**self._env(with_key=False), "GIT_INDEX_FILE": str(git_dir / "index")}
        listing = "".join(f"100644 {oid}\t{oid[:2]}/{oid[2:]}\n" for oid in wanted)
        indexed = self._git(git_dir, ["update-index", "--index-info"], env, listing.encode())
        if indexed.returncode != 0:
            raise _FetchFailed(_last_line(indexed.stderr))
        staged = git_dir / "blobs"
        staged.mkdir()
        # Not every blob may have come: checkout-index writes the others and says so.
        self._git(git_dir, [f"--work-tree={staged}", "checkout-index", "--all"], env, b"")
        arrived = self._blobs.adopt_folder(staged) & wanted.keys()
        self._remote.fetched.add_bytes(sum(wanted[blob_id] for blob_id in arrived))
        self._remote.fetched.add_file(len(arrived))
        return len(arrived)


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "git failed"
