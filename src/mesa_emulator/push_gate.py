"""How a ``git push`` takes its turn among the repository's writers.

The API moves refs under the repository's write lock (:attr:`GitRepository.write_lock`) with
a journal that startup recovery trusts: a journalled branch can only have been moved by the
write that journalled it.  ``git receive-pack`` moves refs itself, with git's lock files, so
it must hold that same lock while it does, or an API commit and a push could interleave.

The lock is not held while a pack uploads: receive-pack runs the emulator's ``pre-receive``
hook once the pack is in (still in quarantine) and before any ref moves.  The hook hands the
pushed commands (``<old> <new> <ref>`` lines) to a :class:`PushGate` thread in the emulator
through a pipe it inherited, with the folder where the pushed objects wait (quarantine); the
gate checks them, takes the lock, reads every branch, journals each branch update it may
make with its webhook deliveries (:meth:`EmulatorState.journal_ref_updates`, as the API's
writes do) and answers ``ok`` (or why the push is refused, which the client prints as
``remote: ...``).  It holds the lock until every process of the push has exited (end of file
on that pipe), reads the branches again and publishes the journalled updates that happened
(:meth:`EmulatorState.publish_ref_updates`), in order with the API's writes; the others are
withdrawn.  Receive-pack checks each ref's old value under its own lock, so a push based on
a tip that an API commit has since moved is refused, never lost.

What is accepted: branches (``refs/heads/<name>`` with a name the API accepts) and git notes
(``refs/notes/...``, which Agent Blame writes); tags are not supported by the service.
Non-fast-forward updates and deletions are refused by receive-pack itself (see
:mod:`mesa_emulator.git_http`).

Crash safety: a kill -9 of the emulator closes the gate's end of the pipes, so a hook still
waiting refuses the push (nothing moves).  A kill -9 after the hook was answered leaves
journals that startup recovery settles as an API write's: each branch update is journalled
alone (receive-pack may move some refs of a push and not others), so its deliveries are
queued if its branch left its old target and dropped if not.  Receive-pack removes its own
lock files and quarantine when it is stopped by a signal; what a killed one leaves (a
quarantine folder, a temporary pack) is removed at startup by :func:`remove_push_leftovers`,
lock files by :func:`mesa_emulator.git.refs.remove_stale_locks`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING

from mesa_emulator.git.branch_names import is_valid_branch_name
from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.idempotency import crash_if

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = ["HOOKS_FOLDER", "PushCommand", "PushGate", "install_hooks", "remove_push_leftovers"]

logger = logging.getLogger("mesa_emulator")

HOOKS_FOLDER = "git-hooks"
"""Under the data folder: the hooks every receive-pack of the emulator runs."""

# How long a push waits for the repository's write lock before it is refused (an API write
# holds it for milliseconds; another push for as long as its refs take to move).
LOCK_WAIT_SECONDS = 30.0

_REQUEST_FD = "MESA_PUSH_REQUEST_FD"
_ANSWER_FD = "MESA_PUSH_ANSWER_FD"
_END = b"end\n"

# The hook, run by receive-pack with the pushed commands on stdin.  Python rather than sh:
# the pipes' descriptor numbers can be above 9, which dash cannot redirect to.
_HOOK_CODE = f"""\
import os, sys
try:
    request, answer = int(os.environ[{_REQUEST_FD!r}]), int(os.environ[{_ANSWER_FD!r}])
except (KeyError, ValueError):
    sys.exit("pushes are taken through the emulator's git endpoint only")
try:
    quarantine = os.environ.get("GIT_QUARANTINE_PATH", "").encode("utf-8", "surrogateescape")
    os.write(request, quarantine + b"\\n" + sys.stdin.buffer.read() + {_END!r})
    verdict = os.read(answer, 4096).decode("utf-8", "replace")
except OSError:
    verdict = ""
if verdict != "ok\\n":
    sys.exit(verdict[3:].rstrip("\\n") or "the emulator stopped; push again")
"""


def install_hooks(data_dir: Path) -> Path:
    """Write the emulator's hooks under ``data_dir`` (again at every start, each file by one
    rename) and return their folder, for ``core.hooksPath``."""
    folder = data_dir / HOOKS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    script = (
        "#!/bin/sh\n"
        "# Written by the Mesa emulator at startup: see mesa_emulator/push_gate.py.\n"
        f"exec {shlex.quote(sys.executable)} -I -S -c {shlex.quote(_HOOK_CODE)}\n"
    )
    staged = folder / "pre-receive.tmp"
    staged.write_text(script, encoding="utf-8")
    staged.chmod(0o755)
    os.replace(staged, folder / "pre-receive")
    return folder


@dataclass(frozen=True)
class PushCommand:
    """One ref update a push asks for (None: the ref is absent on that side)."""

    ref: str
    old: str | None
    new: str | None


def _parse_request(text: bytes) -> tuple[str, list[PushCommand]]:
    """The hook's quarantine folder ("" if none) and commands."""
    quarantine, *lines = text.decode("utf-8", "surrogateescape").split("\n")
    commands = []
    for line in filter(None, lines):
        old, new, ref = line.split(" ", 2)
        commands.append(
            PushCommand(ref, None if set(old) == {"0"} else old, None if set(new) == {"0"} else new)
        )
    return quarantine, commands


def _refusal(commands: Sequence[PushCommand]) -> str | None:
    """Why the service refuses these updates, or None."""
    for command in commands:
        ref = command.ref
        if ref.startswith("refs/notes/"):
            continue
        if ref.startswith("refs/tags/"):
            return f"{ref}: tags are not supported; push branches (refs/heads/) only"
        if not ref.startswith("refs/heads/"):
            return f"{ref}: only branches (refs/heads/) and notes (refs/notes/) can be pushed"
        if not is_valid_branch_name(ref.removeprefix("refs/heads/")):
            return f"{ref}: not a valid branch name"
    return None


def _branch_updates(commands: Sequence[PushCommand], before: dict[str, str]) -> list[RefUpdate]:
    """The branch updates receive-pack may make: those whose old value is the branch's
    (receive-pack refuses the others under its ref lock), in the order of their names."""
    updates = [
        RefUpdate(command.ref.removeprefix("refs/heads/"), command.old, command.new)
        for command in commands
        if command.ref.startswith("refs/heads/")
    ]
    return sorted(
        (update for update in updates if before.get(update.branch) == update.old),
        key=lambda update: update.branch.encode(),
    )


def _quarantine_folder(repo: Path, reported: str) -> Path | None:
    """The push's quarantine folder if the hook reported one inside ``repo``'s objects (named
    as :func:`remove_push_leftovers` finds it)."""
    if not reported:
        return None
    folder = (repo / reported).resolve()  # relative to the bare repository, where hooks run
    inside = folder.parent == (repo / "objects").resolve() and "incoming-" in folder.name
    return folder if inside and folder.is_dir() else None


class PushGate:
    """One receive-pack's turn at the repository's write lock (see the module).

    Make it, give the child :meth:`child_env` and :meth:`child_fds`, call :meth:`started`
    once the child runs (or :meth:`close` if it could not start), and :meth:`join` after it
    exited: ``updates`` then holds the branch moves the push made, already published.
    """

    def __init__(self, state: EmulatorState, repo_id: str, crash_at: str | None = None) -> None:
        """``crash_at``: a crash point scripted for this push (see :mod:`mesa_emulator.faults`)."""
        self._state = state
        self._repo_id = repo_id
        self._crash_at = crash_at
        self._request_read, self._request_write = os.pipe()
        self._answer_read, self._answer_write = os.pipe()
        self.updates: list[RefUpdate] = []
        self._thread = threading.Thread(
            target=self._run, name=f"mesa-push-gate-{repo_id}", daemon=True
        )

    def child_env(self) -> dict[str, str]:
        return {_REQUEST_FD: str(self._request_write), _ANSWER_FD: str(self._answer_read)}

    def child_fds(self) -> tuple[int, int]:
        return (self._request_write, self._answer_read)

    def started(self) -> None:
        """The child holds its ends of the pipes now: drop ours, and start listening."""
        os.close(self._request_write)
        os.close(self._answer_read)
        self._thread.start()

    def close(self) -> None:
        """The child never started: release every pipe."""
        for fd in (
            self._request_read,
            self._request_write,
            self._answer_read,
            self._answer_write,
        ):
            os.close(fd)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        with (
            open(self._request_read, "rb", buffering=0) as request,
            open(self._answer_write, "wb", buffering=0) as answer,
        ):
            try:
                self._serve(request, answer)
            except Exception:
                logger.exception("push gate of repository %s failed", self._repo_id)

    def _serve(self, request: FileIO, answer: FileIO) -> None:
        asked = _read_request(request)
        if asked is None:
            return  # the hook never ran: the push moved no ref
        reported_quarantine, commands = _parse_request(asked)
        refusal = _refusal(commands)
        if refusal is not None:
            _say(answer, "no " + refusal)
            return
        git = self._state.git(self._repo_id)
        lock = git.write_lock
        if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
            _say(answer, "no the repository is busy; push again")
            return
        try:
            quarantine = _quarantine_folder(git.path, reported_quarantine)
            journals = self._journal(_branch_updates(commands, dict(git.branches())), quarantine)
            _say(answer, "ok")
            answer.close()
            while request.read(4096):  # until every process of the push has exited
                pass
            after = dict(git.branches())
            crash_if(self._crash_at, "before_publish")
            for journal_id, update in journals:
                if after.get(update.branch) == update.new:
                    self.updates.append(update)
                    self._state.publish_ref_updates(self._repo_id, [update], journal_id=journal_id)
                elif journal_id is not None:
                    self._state.store.withdraw_ref_move(None, journal_id)
        finally:
            lock.release()

    def _journal(
        self, updates: Sequence[RefUpdate], quarantine: Path | None
    ) -> list[tuple[str | None, RefUpdate]]:
        """Journal each update alone (with its journal id; None: no webhook to send).  If one
        cannot be, the push is refused: withdraw those already journalled."""
        journals: list[tuple[str | None, RefUpdate]] = []
        try:
            for update in updates:
                journal_id = self._state.journal_ref_updates(
                    self._repo_id, [update], quarantine=quarantine
                )
                journals.append((journal_id, update))
        except BaseException:
            for journal_id, _ in journals:
                if journal_id is not None:
                    self._state.store.withdraw_ref_move(None, journal_id)
            raise
        return journals


def _read_request(request: FileIO) -> bytes | None:
    """The hook's commands, or None at end of file without them."""
    received = b""
    while not received.endswith(_END):
        chunk = request.read(65536)
        if not chunk:
            return None
        received += chunk
    return received[: -len(_END)]


def _say(answer: FileIO, verdict: str) -> None:
    # A hook that is gone cannot hear it: receive-pack refuses the push without it.
    with contextlib.suppress(OSError):
        answer.write(verdict.replace("\n", " ").encode("utf-8", "replace") + b"\n")


def remove_push_leftovers(path: Path) -> list[str]:
    """Remove what a killed receive-pack left in the bare repository at ``path``: its
    quarantine folder and temporary packs; returns their paths relative to it.  Only while
    nothing writes to it."""
    objects = Path(path) / "objects"
    # The quarantine: objects/tmp_objdir-incoming-XXXXXX (git 2.39), incoming-XXXXXX (older).
    found = [*objects.glob("*incoming-*"), *objects.glob("pack/tmp_*")]
    for leftover in found:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    return [leftover.relative_to(path).as_posix() for leftover in found]
