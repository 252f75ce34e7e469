"""Upstreams: import a repository from another git repository and keep it in sync, with git.

A sync fetches the upstream's branches and tags with the ``git`` command into a private
namespace (``refs/mesa-upstream/``), then moves the repository's refs in one
``git update-ref --stdin`` transaction, compare-and-swap against what it read:

* a branch the repository lacks is created; one behind the upstream is fast-forwarded;
* a branch with commits the upstream lacks (ahead or diverged) is left as it is, and the sync
  ends in error naming it: nothing is lost, and the other branches still move;
* a branch the upstream no longer has is kept; a tag the repository lacks is created, one it
  has is left as it is;
* a repository that had no branch and whose default branch the upstream lacks takes the
  upstream's default branch (its ``HEAD``) as its own;
* the refs are read and moved holding the repository's write lock, as API writes and pushes
  do, and the branch moves are published (:meth:`EmulatorState.publish_ref_updates`, where
  webhooks are delivered) before it is released; a ref that moves anyway (another process
  writing to the folder) fails the transaction, which is planned again (three times at most).

One sync runs at a time per repository; ``repos.sync`` waits for a running one, then makes its
own.  Imports (a new upstream) run in a background thread; autosync runs from one thread that
syncs every repository whose period has passed.

Crash safety: the state ``syncing`` is stored before git runs, so a process killed during a
sync leaves a repository whose refs are each either old or new (git writes every ref through
a lock file and a rename, and :func:`mesa_emulator.git.refs.remove_stale_locks` clears a lock
left behind), and whose upstream still says ``syncing``: the next start syncs it again.  On
Linux the kernel kills the ``git`` a killed emulator started (``PR_SET_PDEATHSIG``): two
fetches into one repository at once could race on the same temporary object file.

A token is sent only to the host it was given for (``credential_host``), as an HTTP header in
the environment of ``git`` (never on its command line or in a URL), and is removed from every
message git prints.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.store import UpstreamRecord, utc_now

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = [
    "FETCH_TIMEOUT_S",
    "NoUpstream",
    "UpstreamSyncs",
    "credential_host",
    "uri_problem",
]

logger = logging.getLogger("mesa_emulator")

# How long one git command of a sync may run before it is stopped and the sync fails.
FETCH_TIMEOUT_S = 600.0
_STAGING = "refs/mesa-upstream/"
_HEADS = "refs/heads/"
_TAGS = "refs/tags/"
_PLAN_ATTEMPTS = 3
_ALLOWED_SCHEMES = ("http", "https", "git", "file")


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel kill the child when the thread that started it
    (and so the emulator) dies; None where there is no such thing (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    set_pdeathsig, parent = 1, os.getpid()  # PR_SET_PDEATHSIG

    def preexec() -> None:
        prctl(set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: nobody will kill us
            os._exit(1)

    return preexec


_PREEXEC = _die_with_parent()


class NoUpstream(Exception):
    """The repository has no upstream (any more)."""


def uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be an upstream, or None."""
    if any(ch in uri for ch in "\x00\r\n"):
        return "must not contain NUL or line breaks"
    if uri.startswith("/"):
        return None
    parts = urlsplit(uri)
    if parts.scheme not in _ALLOWED_SCHEMES:
        return "must be an http(s):// , git:// or file:// URL, or an absolute path"
    if parts.scheme != "file" and not parts.hostname:
        return "must name a host"
    if parts.password is not None:
        return "must not hold a password: give it as 'token'"
    return None


def credential_host(uri: str) -> str | None:
    """The host a token given with ``uri`` is sent to: its host (and port) for an HTTP URL."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname + (f":{parts.port}" if parts.port is not None else "")


@dataclass(frozen=True)
class _Plan:
    commands: list[str]  # update-ref --stdin lines
    moved: list[RefUpdate]  # the branch moves among them
    diverged: list[str]


class _GitFailed(Exception):
    pass


class UpstreamSyncs:
    """The upstream syncs of one emulator.

    ``autosync_period``, when given, replaces the period of every repository that has
    autosync (tests use a short one; the contract allows 60 s at least)."""

    def __init__(self, state: EmulatorState, *, autosync_period: float | None = None) -> None:
        self._state = state
        self._autosync_period = autosync_period
        self._closing = threading.Event()
        self._guard = threading.Lock()
        self._repo_locks: dict[str, threading.Lock] = {}
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._threads: set[threading.Thread] = set()
        self._last_attempt: dict[str, float] = {}
        self._autosync = threading.Thread(
            target=self._autosync_loop, name="mesa-emulator-autosync", daemon=True
        )

    def start(self) -> None:
        """Resume the syncs a stop left running, and start autosync."""
        for upstream in self._state.store.upstreams():
            if upstream.state == "syncing":
                for leftover in (self._state.repo_path(upstream.repo_id) / "objects/pack").glob(
                    "tmp_*"
                ):
                    leftover.unlink(missing_ok=True)
                self.start_sync(upstream.repo_id)
        self._autosync.start()

    def close(self) -> None:
        """Stop every sync (one cut short stays ``syncing``: the next start resumes it)."""
        self._closing.set()
        with self._guard:
            processes = list(self._processes)
            threads = list(self._threads)
        for process in processes:
            process.kill()
        for thread in [*threads, self._autosync]:
            if thread.is_alive():
                thread.join(timeout=10)

    # ---- running syncs --------------------------------------------------------------------

    def start_sync(self, repo_id: str) -> None:
        """Sync ``repo_id`` in a background thread."""
        thread = threading.Thread(
            target=self._background_sync, args=(repo_id,), name="mesa-emulator-sync", daemon=True
        )
        with self._guard:
            if self._closing.is_set():
                return
            self._threads.add(thread)
        thread.start()

    def _background_sync(self, repo_id: str) -> None:
        try:
            self.sync(repo_id)
        except NoUpstream:
            pass
        finally:
            with self._guard:
                self._threads.discard(threading.current_thread())

    def _lock(self, repo_id: str) -> threading.Lock:
        with self._guard:
            return self._repo_locks.setdefault(repo_id, threading.Lock())

    def sync(self, repo_id: str, *, wait: bool = True) -> str | None:
        """Sync ``repo_id`` now, after any sync of it already running; returns why it failed,
        or None.  ``wait=False`` gives up (None) when one is running."""
        lock = self._lock(repo_id)
        if not lock.acquire(blocking=wait):
            return None
        try:
            return self._sync_locked(repo_id)
        finally:
            lock.release()

    def _sync_locked(self, repo_id: str) -> str | None:
        store = self._state.store
        upstream = store.get_upstream(repo_id)
        if upstream is None or store.get_repo_by_id(repo_id) is None:
            raise NoUpstream(repo_id)
        self._last_attempt[repo_id] = time.monotonic()
        if not store.sync_started(repo_id, upstream.generation, utc_now()):
            raise NoUpstream(repo_id)
        try:
            moved = self._fetch_and_move(repo_id, upstream)
            error = None
        except _GitFailed as exc:
            moved, error = [], str(exc)
        except Exception:
            logger.exception("repository %s: the sync failed unexpectedly", repo_id)
            moved, error = [], "The sync failed unexpectedly."
        if self._closing.is_set():
            return error  # cut short by the stop: stays `syncing`, resumed at the next start
        if error is not None and upstream.token:
            error = error.replace(upstream.token, "***")
        if error is not None:
            logger.warning("repository %s: sync failed: %s", repo_id, error)
        store.sync_ended(repo_id, upstream.generation, utc_now(), error)
        if moved:
            logger.info("repository %s: sync moved %d branch(es)", repo_id, len(moved))
        return error

    # ---- autosync -------------------------------------------------------------------------

    def _autosync_loop(self) -> None:
        tick = min(1.0, self._autosync_period) if self._autosync_period else 1.0
        while not self._closing.wait(tick):
            for upstream in self._state.store.upstreams():
                if self._closing.is_set():
                    return
                if self._due(upstream):
                    try:
                        self.sync(upstream.repo_id, wait=False)
                    except NoUpstream:
                        continue

    def _due(self, upstream: UpstreamRecord) -> bool:
        if upstream.autosync_period is None or upstream.state == "syncing":
            return False
        period = (
            self._autosync_period
            if self._autosync_period is not None
            else float(upstream.autosync_period)
        )
        last = self._last_attempt.get(upstream.repo_id)
        if last is not None:
            return time.monotonic() - last >= period
        if upstream.last_sync_attempt is None:
            return True
        return (utc_now() - upstream.last_sync_attempt).total_seconds() >= period

    # ---- git --------------------------------------------------------------------------------

    def _git(
        self, path: Path, args: Sequence[str], env: dict[str, str], stdin: bytes | None = None
    ) -> tuple[int, str, str]:
        process = subprocess.Popen(
            ["git", "--git-dir", str(path), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # Runs only prctl between fork and exec: no lock another thread could hold.
            preexec_fn=_PREEXEC,
        )
        with self._guard:
            self._processes.add(process)
        try:
            out, err = process.communicate(stdin, timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise _GitFailed(f"git {args[0]} did not end within {FETCH_TIMEOUT_S:.0f} s") from None
        finally:
            with self._guard:
                self._processes.discard(process)
        return process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    @staticmethod
    def _environment(upstream: UpstreamRecord) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_ALLOW_PROTOCOL=":".join(_ALLOWED_SCHEMES),
            GIT_CONFIG_NOSYSTEM="1",
            LC_ALL="C",
        )
        host = credential_host(upstream.uri)
        if upstream.token and host is not None and host == upstream.credential_host:
            pair = f"{upstream.token_username}:{upstream.token}".encode()
            scheme = urlsplit(upstream.uri).scheme
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0=f"http.{scheme}://{host}/.extraHeader",
                GIT_CONFIG_VALUE_0="Authorization: Basic " + base64.b64encode(pair).decode(),
            )
        return env

    def _refs(self, path: Path, env: dict[str, str], *prefixes: str) -> dict[str, str]:
        code, out, err = self._git(
            path, ["for-each-ref", "--format=%(objectname) %(refname)", *prefixes], env
        )
        if code != 0:
            raise _GitFailed(f"Could not read the refs: {_last_line(err)}")
        refs = {}
        for line in out.splitlines():
            sha, _, name = line.partition(" ")
            refs[name] = sha
        return refs

    def _is_ancestor(self, path: Path, env: dict[str, str], old: str, new: str) -> bool:
        code, _, err = self._git(path, ["merge-base", "--is-ancestor", old, new], env)
        if code not in (0, 1):
            raise _GitFailed(f"Could not compare {old} with {new}: {_last_line(err)}")
        return code == 0

    def _fetch_and_move(self, repo_id: str, upstream: UpstreamRecord) -> list[RefUpdate]:
        path = self._state.repo_path(repo_id)
        env = self._environment(upstream)
        was_empty = not self._refs(path, env, _HEADS)
        code, _, err = self._git(
            path,
            [
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=0",
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--quiet",
                "--",
                upstream.uri,
                f"+{_HEADS}*:{_STAGING}heads/*",
                f"+{_TAGS}*:{_STAGING}tags/*",
            ],
            env,
        )
        if code != 0:
            raise _GitFailed(f"Could not fetch {upstream.uri}: {_last_line(err)}")
        # Under the repository's write lock, as every API write and push: the branches read
        # are the branches moved, and the moves are published in order with theirs.
        try:
            with self._state.git(repo_id).write_lock:
                for _attempt in range(_PLAN_ATTEMPTS):
                    plan = self._plan(path, env)
                    if not plan.commands:
                        break
                    stdin = "".join(line + "\n" for line in plan.commands).encode()
                    code, _, err = self._git(path, ["update-ref", "--stdin"], env, stdin)
                    if code == 0:
                        if plan.moved:
                            self._state.publish_ref_updates(repo_id, plan.moved)
                        break
                else:
                    raise _GitFailed(f"Could not move the branches: {_last_line(err)}")
        finally:
            staged = self._refs(path, env, _STAGING)
            if staged:
                stdin = "".join(f"delete {name}\n" for name in staged).encode()
                self._git(path, ["update-ref", "--stdin"], env, stdin)
        if was_empty and plan.moved:
            self._adopt_default_branch(repo_id, path, env, upstream.uri)
        if plan.diverged:
            raise _GitFailed(
                f"Branch(es) {', '.join(plan.diverged)} have commits the upstream lacks and were "
                "left as they are; the other branches were synced."
            )
        return plan.moved

    def _adopt_default_branch(
        self, repo_id: str, path: Path, env: dict[str, str], uri: str
    ) -> None:
        """Make the upstream's default branch the repository's, when its own is missing."""
        record = self._state.store.get_repo_by_id(repo_id)
        heads = self._refs(path, env, _HEADS)
        if record is None or _HEADS + record.default_branch in heads:
            return
        code, out, _ = self._git(path, ["ls-remote", "--symref", "--", uri, "HEAD"], env)
        first = out.splitlines()[0] if code == 0 and out else ""
        target = first.removeprefix("ref: ").split("\t", 1)[0]
        if not first.startswith("ref: ") or target not in heads:
            return
        branch = target[len(_HEADS) :]
        # The record first: if setting HEAD is cut short, the next start points HEAD at it.
        self._state.store.update_repo(repo_id, default_branch=branch)
        self._state.git(repo_id).set_default_branch(branch)

    def _plan(self, path: Path, env: dict[str, str]) -> _Plan:
        staged = self._refs(path, env, _STAGING)
        local = self._refs(path, env, _HEADS, _TAGS)
        commands: list[str] = []
        moved: list[RefUpdate] = []
        diverged: list[str] = []
        for name, new in sorted(staged.items()):
            kind, _, short = name[len(_STAGING) :].partition("/")
            ref = (_HEADS if kind == "heads" else _TAGS) + short
            old = local.get(ref)
            if old == new or (old is not None and kind == "tags"):
                continue
            if old is None:
                commands.append(f"create {ref} {new}")
            elif self._is_ancestor(path, env, old, new):
                commands.append(f"update {ref} {new} {old}")
            else:
                diverged.append(short)
                continue
            if kind == "heads":
                moved.append(RefUpdate(short, old, new))
        return _Plan(commands, moved, diverged)


def _last_line(stderr: str) -> str:
    """Git's own reason: its first ``fatal:``/``error:`` line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else "git failed"
