"""Moving branches safely: per-repository write locks, compare-and-swap ref updates,
journalled multi-ref moves, resolving names to commits, and stale lock files.

* Writes take a process-wide re-entrant lock per repository (:func:`repo_lock`, keyed by
  the resolved path) for their whole read-check-write sequence.
* A ref update goes through a libgit2 reference transaction: the ref is locked on disk
  (``<ref>.lock``), its target re-read *after* locking and compared with the expected
  value, and only then moved, so the compare-and-swap holds even against other processes.
* A write can journal its ref moves before making them (:func:`make_moves`): ``journal`` is
  called, under the repository's lock and after every object is written, with the
  :class:`RefUpdate` list about to be applied in order, so a crash between the two can be
  settled on restart by looking at the refs.  If the first move fails, nothing moved:
  ``journal`` is called again, still under the lock, with no updates.  A lock file left by
  a crash is removed at startup (:func:`remove_stale_locks`); one held at run time is
  :class:`RefLocked`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from mesa_emulator.git.branch_names import HEADS, is_valid_branch_name
from mesa_emulator.git.errors import BranchMoved, GitOpsError, RefLocked, RefNotFound
from mesa_emulator.git.objects import HEX_RE, MIN_ABBREV, lookup_object

__all__ = [
    "Move",
    "RefJournal",
    "RefUpdate",
    "branch_for",
    "branch_names",
    "cas_ref",
    "conflicting_branch",
    "direct_target",
    "make_moves",
    "remove_stale_locks",
    "repo_lock",
    "resolve_commit",
]

_REF_LOCK_ATTEMPTS = 50
_REF_LOCK_BACKOFF = 0.01


@dataclass(frozen=True)
class RefUpdate:
    """One branch move of a write: from ``old`` to ``new`` (None: the branch is absent)."""

    branch: str
    old: str | None
    new: str | None


RefJournal = Callable[[Sequence[RefUpdate]], None]


@dataclass(frozen=True)
class Move:
    """A branch move still to make, with what its reflog entry and a failure report say."""

    branch: str
    old: pygit2.Oid | None
    new: pygit2.Oid | None
    log_message: str | None = None
    expected_label: str | None = None

    def as_update(self) -> RefUpdate:
        return RefUpdate(
            self.branch,
            None if self.old is None else str(self.old),
            None if self.new is None else str(self.new),
        )


def make_moves(repo: pygit2.Repository, moves: Sequence[Move], journal: RefJournal | None) -> None:
    """Journal ``moves`` (when asked to), then make them in order (see the module)."""
    if journal is not None and moves:
        journal([move.as_update() for move in moves])
    for number, move in enumerate(moves):
        try:
            cas_ref(
                repo,
                move.branch,
                expected=move.old,
                new=move.new,
                expected_label=move.expected_label,
                log_message=move.log_message,
            )
        except GitOpsError:
            if journal is not None and number == 0:
                journal([])
            raise


_REGISTRY_LOCK = threading.Lock()
_REPO_LOCKS: dict[str, threading.RLock] = {}


def repo_lock(path: Path) -> threading.RLock:
    """The write lock of the repository at ``path``, shared by every handle on it."""
    key = os.path.realpath(path)
    with _REGISTRY_LOCK:
        lock = _REPO_LOCKS.get(key)
        if lock is None:
            lock = threading.RLock()
            _REPO_LOCKS[key] = lock
        return lock


def direct_target(repo: pygit2.Repository, refname: str) -> pygit2.Oid | None:
    """Current target of a ref (following symbolic refs), None if it does not exist."""
    if not pygit2.reference_is_valid_name(refname):
        return None
    try:
        ref = repo.references.get(refname)
        if ref is None:
            return None
        target = ref.resolve().target
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return target if isinstance(target, pygit2.Oid) else None


def branch_names(repo: pygit2.Repository) -> list[str]:
    return [name[len(HEADS) :] for name in repo.listall_references() if name.startswith(HEADS)]


def conflicting_branch(repo: pygit2.Repository, name: str) -> str | None:
    """An existing branch whose ref would collide on disk with ``name`` (a/b vs a)."""
    for other in branch_names(repo):
        if other == name:
            continue
        if name.startswith(other + "/") or other.startswith(name + "/"):
            return other
    return None


def cas_ref(
    repo: pygit2.Repository,
    branch: str,
    *,
    expected: pygit2.Oid | None,
    new: pygit2.Oid | None,
    expected_label: str | None = None,
    log_message: str | None = None,
) -> None:
    """Move (or create when ``expected`` is None, or delete when ``new`` is None) a branch.

    The ref is locked on disk first and its target is re-read under that lock; if it differs
    from ``expected`` nothing is written and BranchMoved is raised.
    """
    refname = HEADS + branch
    label = expected_label if expected_label is not None else str(expected or "")
    last_error: Exception | None = None
    for _attempt in range(_REF_LOCK_ATTEMPTS):
        try:
            with repo.transaction() as txn:
                txn.lock_ref(refname)
                actual = direct_target(repo, refname)
                if actual != expected:
                    raise BranchMoved(branch, label, str(actual) if actual else None)
                if new is None:
                    txn.remove(refname)
                else:
                    # No reflog signature: pygit2 1.21's ReferenceTransaction.set_target cannot
                    # take a pygit2.Signature (TypeError from cffi); bare repos keep no reflog.
                    txn.set_target(refname, new, message=log_message)
            return
        except pygit2.GitError as exc:
            # Most likely the ref is locked by another process; retry briefly.
            last_error = exc
            time.sleep(_REF_LOCK_BACKOFF)
    if "lock" in str(last_error):
        raise RefLocked(branch)
    raise GitOpsError(f"could not update branch {branch!r}: {last_error}")


def resolve_commit(repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    """The commit a branch, ``refs/...`` name, tag, full sha or unique abbreviated sha
    names; a full sha first, then branch, then tag, then an abbreviated sha."""
    if not isinstance(ref, str) or not ref:
        raise RefNotFound(str(ref))
    is_hex = HEX_RE.fullmatch(ref) is not None
    if is_hex and len(ref) == 40:
        obj = lookup_object(repo, ref)
        if obj is None:
            raise RefNotFound(ref)
        return _peel_commit(obj, ref)
    candidates = [ref] if ref.startswith("refs/") else [HEADS + ref, "refs/tags/" + ref]
    for name in candidates:
        if not pygit2.reference_is_valid_name(name):
            continue
        try:
            found = repo.references.get(name)
        except (KeyError, ValueError, pygit2.GitError):
            found = None
        if found is not None:
            try:
                return found.peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError) as exc:
                raise RefNotFound(ref, f"ref {ref!r} does not point to a commit") from exc
    if is_hex and len(ref) >= MIN_ABBREV:
        obj = lookup_object(repo, ref)
        if obj is not None:
            return _peel_commit(obj, ref)
    raise RefNotFound(ref)


def _peel_commit(obj: pygit2.Object, ref: str) -> pygit2.Commit:
    try:
        return obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as exc:
        raise RefNotFound(ref, f"{ref!r} is not a commit") from exc


def branch_for(repo: pygit2.Repository, ref: str) -> str | None:
    """The branch name ``ref`` designates (same precedence as :func:`resolve_commit`)."""
    if HEX_RE.fullmatch(ref) and len(ref) == 40:
        return None
    name = ref[len(HEADS) :] if ref.startswith(HEADS) else ref
    if ref.startswith("refs/") and not ref.startswith(HEADS):
        return None
    if is_valid_branch_name(name) and direct_target(repo, HEADS + name) is not None:
        return name
    return None


# Lock files git and libgit2 take for a write, relative to a bare repository; any other
# ``*.lock`` lies under ``refs/``.  libgit2 writes a loose object to a temporary file first.
_TOP_LEVEL_LOCKS = ("HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock")
_OBJECT_TEMPORARIES = "tmp_object_git2_*"


def remove_stale_locks(path: Path) -> list[str]:
    """Remove the lock and temporary files a killed writer left in the repository at
    ``path``; returns their paths relative to it.  Only while nothing writes to it."""
    path = Path(path)
    found = [path / name for name in _TOP_LEVEL_LOCKS if (path / name).exists()]
    found += (path / "refs").rglob("*.lock")
    found += (path / "objects").glob(f"*/{_OBJECT_TEMPORARIES}")
    removed = []
    for stale in found:
        stale.unlink(missing_ok=True)
        removed.append(stale.relative_to(path).as_posix())
    return removed
