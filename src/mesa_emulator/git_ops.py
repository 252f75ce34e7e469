"""Git engine of the Mesa emulator: plain git operations on one bare repository.

This module knows nothing about HTTP or metadata storage.  It wraps pygit2 (libgit2) and
exposes a small, typed API that the emulator's HTTP layer builds on.  Every public method
returns plain frozen dataclasses and raises :class:`GitOpsError` subclasses for expected
failures (missing refs, compare-and-swap failures, invalid paths, merge conflicts...).

Concurrency model
-----------------
* pygit2 ``Repository`` objects must not be shared between threads, so every public call
  opens its own short-lived ``pygit2.Repository`` (cheap: a few stat/reads of config files)
  and frees it when done.  Reads therefore never block and run concurrently with writes;
  libgit2 writes objects and refs atomically (temp file + rename), so a reader sees either
  the old or the new state.
* Writes (ref moves, branch creation/deletion, HEAD changes) additionally take a process-wide
  re-entrant lock per repository (keyed by the resolved path, so two ``GitRepository``
  objects on the same directory share it) for the whole read-check-write sequence.
* Ref updates themselves go through a libgit2 reference transaction: the ref is locked on
  disk (``<ref>.lock``), its current target is re-read *after* locking and compared with the
  expected value, and only then moved.  This makes the compare-and-swap safe even against
  other processes (e.g. ``git push`` into the same repository).
* A write can journal its ref moves before making them: ``journal`` is called, under the
  repository's lock and after every object is written, with the :class:`RefUpdate` list it
  is about to apply in order, so a crash between the two can be settled on restart by
  looking at the refs (:meth:`GitRepository.has_moved`).  If the first move fails, nothing
  moved: ``journal`` is called again, still under the lock, with no updates.  A lock file
  left by a crash is removed at startup (:func:`remove_stale_locks`); one held at run time
  is :class:`RefLocked`.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time as _time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from heapq import heappop, heappush
from itertools import count, islice
from pathlib import Path
from typing import Literal

import pygit2
from pygit2.enums import DiffFind, DiffOption, FileMode, RepositoryOpenFlag, SortMode

from mesa_emulator.git_paths import file_content_problem, path_problem

__all__ = [
    "BranchExists",
    "BranchMoved",
    "BranchNotFound",
    "CommitInfo",
    "CommitNotFound",
    "DiffEntry",
    "DiffResult",
    "Directory",
    "Edit",
    "FileBlob",
    "GitOpsError",
    "GitRepository",
    "InvalidPath",
    "InvalidRefName",
    "MergeConflict",
    "MergeOutcome",
    "PathExists",
    "PathNotFound",
    "RefLocked",
    "RefNotFound",
    "RefUpdate",
    "Signature",
    "TreeEntry",
    "init_repository",
    "is_valid_branch_name",
    "open_repository",
    "remove_stale_locks",
]

# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class GitOpsError(Exception):
    """Base class of every error raised by this module."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RefNotFound(GitOpsError):
    """A ref, branch, tag or (abbreviated) sha does not resolve to a commit."""

    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__(message or f"ref {ref!r} not found")
        self.ref = ref


class BranchNotFound(GitOpsError):
    def __init__(self, branch: str, message: str | None = None) -> None:
        super().__init__(message or f"branch {branch!r} not found")
        self.branch = branch


class BranchExists(GitOpsError):
    def __init__(self, branch: str, message: str | None = None) -> None:
        super().__init__(message or f"branch {branch!r} already exists")
        self.branch = branch


class CommitNotFound(GitOpsError):
    def __init__(self, sha: str, message: str | None = None) -> None:
        super().__init__(message or f"commit {sha!r} not found")
        self.sha = sha


class InvalidRefName(GitOpsError):
    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"invalid branch name {name!r}")
        self.name = name


class InvalidPath(GitOpsError):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"invalid path {path!r}")
        self.path = path


class PathNotFound(GitOpsError):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"path {path!r} not found")
        self.path = path


class PathExists(GitOpsError):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"path {path!r} already exists")
        self.path = path


class BranchMoved(GitOpsError):
    """Compare-and-swap failure: the branch head is not what the caller expected."""

    def __init__(self, branch: str, expected: str, actual: str | None) -> None:
        found = actual if actual is not None else "no such branch"
        super().__init__(f"branch {branch!r} moved: expected {expected}, found {found}")
        self.branch = branch
        self.expected = expected
        self.actual = actual


class RefLocked(GitOpsError):
    """Another writer holds the branch's lock file (for longer than a brief wait)."""

    def __init__(self, branch: str) -> None:
        super().__init__(f"branch {branch!r} is locked by another update")
        self.branch = branch


class MergeConflict(GitOpsError):
    def __init__(self, paths: list[str]) -> None:
        super().__init__("merge conflict in: " + ", ".join(paths))
        self.paths = paths


# --------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """Author/committer identity.  ``time`` should be timezone-aware (naive means UTC).

    Git stores whole seconds and a UTC offset in whole minutes; sub-second precision is
    dropped when writing.
    """

    name: str
    email: str
    time: datetime


@dataclass(frozen=True)
class Edit:
    path: str
    action: Literal["create", "update", "upsert", "delete"]
    data: bytes | None = None
    executable: bool | None = None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author: Signature
    committer: Signature
    parents: list[str]
    tree_sha: str


@dataclass(frozen=True)
class TreeEntry:
    type: Literal["file", "dir", "symlink", "submodule"]
    name: str
    path: str
    sha: str
    size: int | None
    executable: bool


@dataclass(frozen=True)
class FileBlob:
    type: Literal["file", "symlink"]
    name: str
    path: str
    sha: str
    size: int
    executable: bool
    data: bytes


@dataclass(frozen=True)
class Directory:
    name: str
    path: str
    sha: str
    entries: list[TreeEntry]
    child_count: int
    """How many entries the directory holds directly, whatever the page and depth."""
    has_more: bool = False
    """``read_path`` with a ``limit``: entries beyond this page exist."""


@dataclass(frozen=True)
class DiffEntry:
    status: Literal["A", "M", "D", "R", "C", "T"]
    path: str
    old_path: str | None
    additions: int
    deletions: int
    binary: bool
    patch: str


@dataclass(frozen=True)
class DiffResult:
    base_sha: str
    head_sha: str
    entries: list[DiffEntry]
    additions: int
    deletions: int
    patch: str


@dataclass(frozen=True)
class MergeOutcome:
    merge_type: Literal["fast_forward", "merge_commit", "up_to_date"]
    sha: str
    branch_deleted: bool


@dataclass(frozen=True)
class RefUpdate:
    """One branch move of a write: from ``old`` to ``new`` (None: the branch is absent)."""

    branch: str
    old: str | None
    new: str | None


def _update(branch: str, old: pygit2.Oid | None, new: pygit2.Oid | None) -> RefUpdate:
    return RefUpdate(branch, None if old is None else str(old), None if new is None else str(new))


RefJournal = Callable[[Sequence[RefUpdate]], None]


@dataclass(frozen=True)
class _Move:
    branch: str
    old: pygit2.Oid | None
    new: pygit2.Oid | None
    log_message: str | None = None
    expected_label: str | None = None


def _make_moves(
    repo: pygit2.Repository, moves: Sequence[_Move], journal: RefJournal | None
) -> None:
    """Journal ``moves`` (when asked to), then make them in order (see the module)."""
    if journal is not None and moves:
        journal([_update(m.branch, m.old, m.new) for m in moves])
    for number, move in enumerate(moves):
        try:
            _cas_ref(
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


# --------------------------------------------------------------------------------------
# Module-level state: per-repository write locks and the last-commit-time cache
# --------------------------------------------------------------------------------------

_REGISTRY_LOCK = threading.Lock()
_REPO_LOCKS: dict[str, threading.RLock] = {}


def _repo_lock(path: Path) -> threading.RLock:
    key = os.path.realpath(path)
    with _REGISTRY_LOCK:
        lock = _REPO_LOCKS.get(key)
        if lock is None:
            lock = threading.RLock()
            _REPO_LOCKS[key] = lock
        return lock


# A commit sha pins its entire history (tree and parents are part of the hash), so the
# answer for (commit sha, path) never changes and can be shared across repositories.
_LAST_COMMIT_CACHE_SIZE = 4096
_LAST_COMMIT_CACHE: OrderedDict[tuple[str, str], datetime | None] = OrderedDict()
_LAST_COMMIT_LOCK = threading.Lock()

_MODE_TREE = int(FileMode.TREE)
_MODE_BLOB = int(FileMode.BLOB)
_MODE_EXEC = int(FileMode.BLOB_EXECUTABLE)
_MODE_LINK = int(FileMode.LINK)
_MODE_COMMIT = int(FileMode.COMMIT)

_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_MIN_ABBREV = 7
_HEADS = "refs/heads/"
_REF_LOCK_ATTEMPTS = 50
_REF_LOCK_BACKOFF = 0.01

_STATUS_LETTERS: frozenset[str] = frozenset("AMDRCT")


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _validate_branch_name(name: str) -> None:
    """Git's branch-name rules (``git check-ref-format --branch``) plus ``-x``/``HEAD``."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith("-")
        or name == "HEAD"
        or not pygit2.reference_is_valid_name(_HEADS + name)
    ):
        raise InvalidRefName(name if isinstance(name, str) else repr(name))


def _is_valid_branch_name(name: str) -> bool:
    try:
        _validate_branch_name(name)
    except InvalidRefName:
        return False
    return True


def is_valid_branch_name(name: str) -> bool:
    """Whether ``name`` may name a branch (the rules every branch-taking method applies)."""
    return _is_valid_branch_name(name)


def _edit_path_parts(path: str) -> list[str]:
    """Validate a path used for writing (git's own rules, :mod:`mesa_emulator.git_paths`) and
    return its segments."""
    if not isinstance(path, str):
        raise InvalidPath(str(path), "path must be a string")
    problem = path_problem(path)
    if problem is not None:
        raise InvalidPath(path, f"path {path[:200]!r} {problem}")
    return path.split("/")


def _read_path_parts(path: str) -> list[str]:
    """Validate a path used for reading; ``""`` and ``"/"`` are the root (``[]``).

    Leading/trailing slashes are tolerated; structurally invalid paths raise InvalidPath.
    """
    if not isinstance(path, str):
        raise InvalidPath(repr(path), "path must be a string")
    stripped = path.strip("/")
    if not stripped:
        return []
    if "\0" in stripped:
        raise InvalidPath(path, f"path {path!r} contains a NUL byte")
    parts = stripped.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidPath(path, f"path {path!r} has an empty, '.' or '..' segment")
    return parts


def _to_git_signature(sig: Signature) -> pygit2.Signature:
    when = sig.time
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.replace(tzinfo=timezone.utc)
    offset = when.utcoffset()
    offset_minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    try:
        return pygit2.Signature(sig.name, sig.email, math.floor(when.timestamp()), offset_minutes)
    except (ValueError, pygit2.GitError) as exc:
        raise GitOpsError(f"invalid signature {sig.name!r} <{sig.email}>: {exc}") from exc


def _decode(raw: bytes, encoding: str | None = None) -> str:
    try:
        return raw.decode(encoding or "utf-8", "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _from_git_signature(sig: pygit2.Signature) -> Signature:
    tz = timezone(timedelta(minutes=sig.offset))
    return Signature(
        name=_decode(sig.raw_name),
        email=_decode(sig.raw_email),
        time=datetime.fromtimestamp(sig.time, tz),
    )


def _commit_info(commit: pygit2.Commit) -> CommitInfo:
    return CommitInfo(
        sha=str(commit.id),
        message=_decode(commit.raw_message, commit.message_encoding),
        author=_from_git_signature(commit.author),
        committer=_from_git_signature(commit.committer),
        parents=[str(p) for p in commit.parent_ids],
        tree_sha=str(commit.tree_id),
    )


def _lookup_object(repo: pygit2.Repository, sha: str) -> pygit2.Object | None:
    """Object by full or unique abbreviated (>= 7) hex sha; None if absent or ambiguous."""
    if not isinstance(sha, str) or not (_MIN_ABBREV <= len(sha) <= 40):
        return None
    if not _HEX_RE.fullmatch(sha):
        return None
    try:
        return repo.get(sha.lower())
    except (KeyError, ValueError):  # ValueError covers InvalidError and AmbiguousError
        return None


def _lookup_commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    obj = _lookup_object(repo, sha)
    if not isinstance(obj, pygit2.Commit):
        raise CommitNotFound(sha if isinstance(sha, str) else repr(sha))
    return obj


def _direct_target(repo: pygit2.Repository, refname: str) -> pygit2.Oid | None:
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


def _branch_names(repo: pygit2.Repository) -> list[str]:
    return [name[len(_HEADS) :] for name in repo.listall_references() if name.startswith(_HEADS)]


def _conflicting_branch(repo: pygit2.Repository, name: str) -> str | None:
    """An existing branch whose ref would collide on disk with ``name`` (a/b vs a)."""
    for other in _branch_names(repo):
        if other == name:
            continue
        if name.startswith(other + "/") or other.startswith(name + "/"):
            return other
    return None


def _cas_ref(
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
    refname = _HEADS + branch
    label = expected_label if expected_label is not None else str(expected or "")
    last_error: Exception | None = None
    for _attempt in range(_REF_LOCK_ATTEMPTS):
        try:
            with repo.transaction() as txn:
                txn.lock_ref(refname)
                actual = _direct_target(repo, refname)
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
            _time.sleep(_REF_LOCK_BACKOFF)
    if "lock" in str(last_error):
        raise RefLocked(branch)
    raise GitOpsError(f"could not update branch {branch!r}: {last_error}")


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


# --------------------------------------------------------------------------------------
# In-memory tree editing
# --------------------------------------------------------------------------------------

_Leaf = tuple[pygit2.Oid, int]


class _DirNode:
    """A mutable view of a git tree; subtrees are loaded lazily only when touched."""

    __slots__ = ("dirty", "entries", "oid")

    def __init__(self, tree: pygit2.Tree | None) -> None:
        self.oid: pygit2.Oid | None = tree.id if tree is not None else None
        self.dirty = tree is None
        self.entries: dict[str, _Leaf | _DirNode] = {}
        if tree is not None:
            for entry in tree:
                assert entry.name is not None
                self.entries[entry.name] = (entry.id, int(entry.filemode))


class _TreeEditor:
    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None) -> None:
        self.repo = repo
        self.root = _DirNode(tree)

    def _subdir(self, node: _DirNode, name: str) -> _DirNode | None:
        entry = node.entries.get(name)
        if isinstance(entry, _DirNode):
            return entry
        if entry is None or entry[1] != _MODE_TREE:
            return None
        tree = self.repo.get(entry[0])
        if not isinstance(tree, pygit2.Tree):  # pragma: no cover - corrupt repository
            raise GitOpsError(f"tree {entry[0]} is missing")
        child = _DirNode(tree)
        node.entries[name] = child
        return child

    def _parents(self, path: str, parts: list[str], *, create: bool) -> list[_DirNode]:
        chain = [self.root]
        node = self.root
        for i, name in enumerate(parts[:-1]):
            child: _DirNode | None
            if name not in node.entries:
                if not create:
                    raise PathNotFound(path)
                child = _DirNode(None)
                node.entries[name] = child
            else:
                child = self._subdir(node, name)
                if child is None:
                    prefix = "/".join(parts[: i + 1])
                    if create:
                        raise PathExists(path, f"cannot create {path!r}: {prefix!r} is not a dir")
                    raise PathNotFound(path, f"path {path!r} not found: {prefix!r} is not a dir")
            chain.append(child)
            node = child
        return chain

    @staticmethod
    def _touch(chain: list[_DirNode]) -> None:
        for node in chain:
            node.dirty = True

    def create(self, path: str, parts: list[str], blob: pygit2.Oid, mode: int) -> None:
        chain = self._parents(path, parts, create=True)
        parent = chain[-1]
        if parts[-1] in parent.entries:
            raise PathExists(path)
        parent.entries[parts[-1]] = (blob, mode)
        self._touch(chain)

    def update(self, path: str, parts: list[str], blob: pygit2.Oid, mode: int | None) -> None:
        chain = self._parents(path, parts, create=False)
        parent = chain[-1]
        entry = parent.entries.get(parts[-1])
        if entry is None:
            raise PathNotFound(path)
        if isinstance(entry, _DirNode) or entry[1] in (_MODE_TREE, _MODE_COMMIT):
            raise PathExists(path, f"cannot update {path!r}: it is not a file")
        parent.entries[parts[-1]] = (blob, entry[1] if mode is None else mode)
        self._touch(chain)

    def upsert(self, path: str, parts: list[str], blob: pygit2.Oid, mode: int | None) -> None:
        """Write the file whether or not it exists: an existing file keeps its mode unless
        ``mode`` is given, a new one gets ``mode`` or 100644."""
        chain = self._parents(path, parts, create=True)
        parent = chain[-1]
        entry = parent.entries.get(parts[-1])
        if entry is not None and (
            isinstance(entry, _DirNode) or entry[1] in (_MODE_TREE, _MODE_COMMIT)
        ):
            raise PathExists(path, f"cannot write {path!r}: it is not a file")
        kept = entry[1] if entry is not None else _MODE_BLOB
        parent.entries[parts[-1]] = (blob, kept if mode is None else mode)
        self._touch(chain)

    def delete(self, path: str, parts: list[str]) -> None:
        chain = self._parents(path, parts, create=False)
        parent = chain[-1]
        entry = parent.entries.get(parts[-1])
        if entry is None:
            raise PathNotFound(path)
        if isinstance(entry, _DirNode) or entry[1] == _MODE_TREE:
            raise PathExists(path, f"cannot delete {path!r}: it is a directory")
        del parent.entries[parts[-1]]
        self._touch(chain)
        # Git has no empty directories: prune the ones this delete emptied.
        for depth in range(len(chain) - 1, 0, -1):
            if chain[depth].entries:
                break
            del chain[depth - 1].entries[parts[depth - 1]]

    def write(self) -> pygit2.Oid:
        """Write every changed folder, deepest first, and return the root tree's id.

        Iterative (an explicit stack), so a path's depth is bounded by the path rules, not
        by Python's recursion limit."""
        written: dict[int, pygit2.Oid | None] = {}  # id(node) -> its tree, None when empty
        stack: list[tuple[_DirNode, bool]] = [(self.root, False)]
        while stack:
            node, children_written = stack.pop()
            if not node.dirty:
                written[id(node)] = node.oid
                continue
            if not children_written:
                stack.append((node, True))
                stack.extend(
                    (entry, False) for entry in node.entries.values() if isinstance(entry, _DirNode)
                )
                continue
            builder = self.repo.TreeBuilder()
            for name, entry in node.entries.items():
                if isinstance(entry, _DirNode):
                    child = written[id(entry)]
                    if child is not None:
                        builder.insert(name, child, _MODE_TREE)
                else:
                    builder.insert(name, entry[0], entry[1])
            written[id(node)] = builder.write() if len(builder) else None
        root = written[id(self.root)]
        return root if root is not None else self.repo.TreeBuilder().write()


# --------------------------------------------------------------------------------------
# Repository
# --------------------------------------------------------------------------------------


def init_repository(path: Path, default_branch: str) -> GitRepository:
    """Create a bare repository at ``path`` whose HEAD is the unborn ``default_branch``.

    ``path`` may exist only as an empty directory.
    """
    _validate_branch_name(default_branch)
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GitOpsError(f"cannot initialise repository: {str(path)!r} exists and is not empty")
    repo = pygit2.init_repository(str(path), bare=True, initial_head=default_branch)
    repo.free()
    return GitRepository(path)


def open_repository(path: Path) -> GitRepository:
    """Open an existing repository (no upward discovery)."""
    path = Path(path)
    try:
        repo = pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, KeyError, ValueError) as exc:
        raise GitOpsError(f"not a git repository: {str(path)!r}") from exc
    repo.free()
    return GitRepository(path)


class GitRepository:
    """Git operations on one (bare) repository.  Safe to share across threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = _repo_lock(self.path)

    def __repr__(self) -> str:
        return f"GitRepository({str(self.path)!r})"

    @contextmanager
    def _open(self) -> Iterator[pygit2.Repository]:
        # A fresh libgit2 handle per call: pygit2 objects are not thread-safe.
        repo = pygit2.Repository(str(self.path), RepositoryOpenFlag.NO_SEARCH)
        try:
            yield repo
        finally:
            repo.free()

    # ---- HEAD / default branch ------------------------------------------------------

    def default_branch(self) -> str:
        with self._open() as repo:
            target = repo.lookup_reference("HEAD").target
        if not isinstance(target, str) or not target.startswith(_HEADS):
            raise GitOpsError("HEAD does not point to a branch")
        return target[len(_HEADS) :]

    def set_default_branch(self, name: str) -> None:
        _validate_branch_name(name)
        with self._lock, self._open() as repo:
            try:
                repo.create_reference_symbolic("HEAD", _HEADS + name, True)
            except (pygit2.GitError, OSError) as exc:  # most likely HEAD.lock held elsewhere
                raise GitOpsError(f"could not point HEAD at {name!r}: {exc}") from exc

    def head_sha(self) -> str | None:
        with self._open() as repo:
            target = repo.lookup_reference("HEAD").target
            if not isinstance(target, str):
                return str(target)
            oid = _direct_target(repo, target)
        return str(oid) if oid is not None else None

    def is_empty(self) -> bool:
        with self._open() as repo:
            return not _branch_names(repo)

    # ---- refs -------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """Resolve a branch, ``refs/...`` name, tag, full sha or unique abbreviated sha."""
        with self._open() as repo:
            return str(self._resolve(repo, ref).id)

    def _resolve(self, repo: pygit2.Repository, ref: str) -> pygit2.Commit:
        if not isinstance(ref, str) or not ref:
            raise RefNotFound(str(ref))
        is_hex = _HEX_RE.fullmatch(ref) is not None
        if is_hex and len(ref) == 40:
            obj = _lookup_object(repo, ref)
            if obj is None:
                raise RefNotFound(ref)
            return self._peel_commit(obj, ref)
        candidates = [ref] if ref.startswith("refs/") else [_HEADS + ref, "refs/tags/" + ref]
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
        if is_hex and len(ref) >= _MIN_ABBREV:
            obj = _lookup_object(repo, ref)
            if obj is not None:
                return self._peel_commit(obj, ref)
        raise RefNotFound(ref)

    @staticmethod
    def _peel_commit(obj: pygit2.Object, ref: str) -> pygit2.Commit:
        try:
            return obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise RefNotFound(ref, f"{ref!r} is not a commit") from exc

    def branches(self) -> list[tuple[str, str]]:
        with self._open() as repo:
            result = []
            for name in _branch_names(repo):
                oid = _direct_target(repo, _HEADS + name)
                if oid is not None:
                    result.append((name, str(oid)))
        return sorted(result, key=lambda item: item[0].encode())

    def branch_sha(self, name: str) -> str:
        with self._open() as repo:
            oid = _direct_target(repo, _HEADS + name) if isinstance(name, str) else None
        if oid is None:
            raise BranchNotFound(str(name))
        return str(oid)

    def create_branch(self, name: str, sha: str, journal: RefJournal | None = None) -> None:
        _validate_branch_name(name)
        with self._lock, self._open() as repo:
            if _direct_target(repo, _HEADS + name) is not None:
                raise BranchExists(name)
            conflict = _conflicting_branch(repo, name)
            if conflict is not None:
                raise BranchExists(name, f"branch {name!r} conflicts with branch {conflict!r}")
            commit = _lookup_commit(repo, sha)
            _make_moves(repo, [_Move(name, None, commit.id, "branch: Created")], journal)

    def delete_branch(self, name: str, journal: RefJournal | None = None) -> None:
        if not _is_valid_branch_name(name):
            raise BranchNotFound(str(name))
        with self._lock, self._open() as repo:
            current = _direct_target(repo, _HEADS + name)
            if current is None:
                raise BranchNotFound(name)
            _make_moves(repo, [_Move(name, current, None)], journal)

    # ---- settling a journalled write after a crash ------------------------------------

    def has_moved(self, update: RefUpdate) -> bool:
        """Whether ``update`` happened: the branch is no longer at ``old``.

        Sound right after a restart, when the writer that journalled ``update`` held the
        repository's lock until the crash: the branch was at ``old`` when it was journalled
        and only that writer could move it (or, after it, a later write that was itself
        acknowledged, which leaves the branch away from ``old`` too)."""
        with self._open() as repo:
            current = _direct_target(repo, _HEADS + update.branch)
        return (None if current is None else str(current)) != update.old

    def finish_update(self, update: RefUpdate) -> None:
        """Apply ``update`` if the branch is still at ``old`` (the rest of a journalled
        write whose first move happened); otherwise leave the branch as it is."""
        old = None if update.old is None else pygit2.Oid(hex=update.old)
        new = None if update.new is None else pygit2.Oid(hex=update.new)
        with self._lock, self._open() as repo:
            if _direct_target(repo, _HEADS + update.branch) == old:
                _cas_ref(repo, update.branch, expected=old, new=new)

    # ---- writing ------------------------------------------------------------------------

    def commit_edits(
        self,
        *,
        branch: str,
        message: str,
        author: Signature,
        committer: Signature | None,
        edits: Sequence[Edit],
        base_sha: str | None,
        journal: Callable[[Sequence[RefUpdate], CommitInfo], None] | None = None,
    ) -> CommitInfo:
        """Apply ``edits`` on top of ``branch`` and move it to the new commit.

        * ``base_sha`` (optional) is a compare-and-swap guard: the branch must currently
          point at it, otherwise BranchMoved is raised and nothing is written.
        * A missing branch is created: with a root commit when the repository has no branch
          at all (and ``base_sha`` is None), or on top of ``base_sha`` when it is given and
          names an existing commit.
        """
        _validate_branch_name(branch)
        if not isinstance(message, str):
            raise GitOpsError("commit message must be a string")
        git_author = _to_git_signature(author)
        git_committer = _to_git_signature(committer) if committer is not None else git_author
        # Validate every edit before touching the repository.
        prepared: list[tuple[Edit, list[str]]] = []
        for edit in edits:
            parts = _edit_path_parts(edit.path)
            if edit.action not in ("create", "update", "upsert", "delete"):
                raise GitOpsError(f"unknown edit action {edit.action!r} for {edit.path!r}")
            if edit.action != "delete" and not isinstance(edit.data, (bytes, bytearray)):
                raise GitOpsError(f"edit {edit.action!r} of {edit.path!r} requires bytes data")
            if edit.data is not None:
                problem = file_content_problem(edit.path, bytes(edit.data))
                if problem is not None:
                    raise InvalidPath(edit.path, f"the content of {edit.path!r} {problem}")
            prepared.append((edit, parts))

        with self._lock, self._open() as repo:
            current = _direct_target(repo, _HEADS + branch)
            parent: pygit2.Commit | None
            if current is None:
                if base_sha is None:
                    if _branch_names(repo):
                        raise BranchNotFound(branch)
                    parent = None
                else:
                    if not _branch_names(repo):
                        raise BranchMoved(branch, base_sha, None)
                    parent = _lookup_commit(repo, base_sha)
                    conflict = _conflicting_branch(repo, branch)
                    if conflict is not None:
                        raise BranchExists(
                            branch, f"branch {branch!r} conflicts with branch {conflict!r}"
                        )
            else:
                if base_sha is not None:
                    expected = _lookup_object(repo, base_sha)
                    if expected is None or expected.id != current:
                        raise BranchMoved(branch, base_sha, str(current))
                parent_obj = repo.get(current)
                if not isinstance(parent_obj, pygit2.Commit):
                    raise GitOpsError(f"branch {branch!r} does not point to a commit")
                parent = parent_obj

            editor = _TreeEditor(repo, parent.tree if parent is not None else None)
            for edit, parts in prepared:
                if edit.action == "delete":
                    editor.delete(edit.path, parts)
                    continue
                assert edit.data is not None
                blob = repo.create_blob(bytes(edit.data))
                if edit.action == "create":
                    mode = _MODE_EXEC if edit.executable else _MODE_BLOB
                    editor.create(edit.path, parts, blob, mode)
                    continue
                mode_or_keep = (
                    None
                    if edit.executable is None
                    else (_MODE_EXEC if edit.executable else _MODE_BLOB)
                )
                if edit.action == "upsert":
                    editor.upsert(edit.path, parts, blob, mode_or_keep)
                else:
                    editor.update(edit.path, parts, blob, mode_or_keep)
            tree_oid = editor.write()
            parents = [parent.id] if parent is not None else []
            oid = repo.create_commit(None, git_author, git_committer, message, tree_oid, parents)
            new_commit = repo.get(oid)
            assert isinstance(new_commit, pygit2.Commit)
            info = _commit_info(new_commit)
            summary = message.split("\n", 1)[0]
            move = _Move(
                branch,
                current,
                oid,
                log_message=f"commit: {summary}" if parent is not None else "commit (initial)",
                expected_label=base_sha if base_sha is not None else str(current or ""),
            )
            _make_moves(
                repo, [move], None if journal is None else lambda updates: journal(updates, info)
            )
            return info

    def merge(
        self,
        *,
        base_branch: str,
        head: str,
        author: Signature,
        message: str | None,
        delete_branch: bool,
        journal: Callable[[Sequence[RefUpdate], MergeOutcome], None] | None = None,
    ) -> MergeOutcome:
        """Merge ``head`` (branch name or sha) into ``base_branch``.

        Fast-forwards when possible, otherwise creates a two-parent merge commit (author is
        also the committer).  Conflicts raise MergeConflict and write nothing.
        """
        if not _is_valid_branch_name(base_branch):
            raise BranchNotFound(str(base_branch))
        git_author = _to_git_signature(author)
        with self._lock, self._open() as repo:
            base_oid = _direct_target(repo, _HEADS + base_branch)
            if base_oid is None:
                raise BranchNotFound(base_branch)
            head_commit = self._resolve(repo, head)
            head_oid = head_commit.id
            head_branch = self._branch_for(repo, head)
            # Never delete the base branch, nor the default branch (the one HEAD names).
            head_target = repo.lookup_reference("HEAD").target
            default = head_target[len(_HEADS) :] if isinstance(head_target, str) else None
            deletable = (
                delete_branch
                and head_branch is not None
                and head_branch != base_branch
                and head_branch != default
            )

            # Work out every object and ref move first, then journal them, then move the refs.
            moves: list[_Move] = []
            if head_oid == base_oid or repo.descendant_of(base_oid, head_oid):
                merge_type: Literal["fast_forward", "merge_commit", "up_to_date"] = "up_to_date"
                result = base_oid
            elif repo.descendant_of(head_oid, base_oid):
                merge_type = "fast_forward"
                result = head_oid
                moves.append(_Move(base_branch, base_oid, head_oid, "merge: Fast-forward"))
            else:
                merge_type = "merge_commit"
                index = repo.merge_commits(base_oid, head_oid)
                if index.conflicts is not None:
                    paths: set[str] = set()
                    for conflict in index.conflicts:
                        paths.update(entry.path for entry in conflict if entry is not None)
                    raise MergeConflict(sorted(paths))
                tree_oid = index.write_tree(repo)
                default_text = f"Merge branch '{head}' into '{base_branch}'"
                text = message if message is not None else default_text
                result = repo.create_commit(
                    None, git_author, git_author, text, tree_oid, [base_oid, head_oid]
                )
                moves.append(
                    _Move(base_branch, base_oid, result, f"merge {head}: Merge made by libgit2")
                )

            if deletable and head_branch is not None:
                current = _direct_target(repo, _HEADS + head_branch)
                if current is not None:
                    moves.append(_Move(head_branch, current, None))
            outcome = MergeOutcome(
                merge_type=merge_type,
                sha=str(result),
                branch_deleted=any(move.new is None for move in moves),
            )
            _make_moves(
                repo,
                moves,
                None if journal is None else lambda updates: journal(updates, outcome),
            )
            return outcome

    @staticmethod
    def _branch_for(repo: pygit2.Repository, ref: str) -> str | None:
        """The branch name ``ref`` designates (same precedence as ``_resolve``), if any."""
        if _HEX_RE.fullmatch(ref) and len(ref) == 40:
            return None
        name = ref[len(_HEADS) :] if ref.startswith(_HEADS) else ref
        if ref.startswith("refs/") and not ref.startswith(_HEADS):
            return None
        if _is_valid_branch_name(name) and _direct_target(repo, _HEADS + name) is not None:
            return name
        return None

    # ---- reading ------------------------------------------------------------------------

    def log(self, ref: str, *, skip: int = 0, limit: int) -> list[CommitInfo]:
        """Ancestors of ``ref`` (inclusive), newest first (topological + commit time)."""
        if skip < 0 or limit < 0:
            raise ValueError("skip and limit must be >= 0")
        with self._open() as repo:
            start = self._resolve(repo, ref)
            walker = repo.walk(start.id, SortMode.TOPOLOGICAL | SortMode.TIME)
            return [_commit_info(c) for c in islice(walker, skip, skip + limit)]

    def commit(self, sha: str) -> CommitInfo:
        with self._open() as repo:
            return _commit_info(_lookup_commit(repo, sha))

    def moved_between(
        self, branch: str, old: str | None, new: str, limit: int
    ) -> tuple[list[CommitInfo], list[str]]:
        """What moving ``branch`` from commit ``old`` (None: creating it) to ``new`` brought:
        the commits reachable from ``new`` and not from ``old`` (for a new branch: from no
        other branch), the newest ``limit`` of them, oldest first; and the paths that changed
        (between the two trees; for a new branch: in those commits), sorted."""
        with self._open() as repo:
            new_commit = _lookup_commit(repo, new)
            walker = repo.walk(new_commit.id, SortMode.TOPOLOGICAL | SortMode.TIME)
            if old is not None:
                walker.hide(_lookup_commit(repo, old).id)
            else:
                for name in _branch_names(repo):
                    tip = _direct_target(repo, _HEADS + name)
                    if name != branch and tip is not None:
                        walker.hide(tip)
            found = list(islice(walker, limit))
            paths: set[str] = set()
            pairs = (
                [(_lookup_commit(repo, old), new_commit)]
                if old is not None
                else [(c.parents[0] if c.parents else None, c) for c in found]
            )
            for before, after in pairs:
                diff = (
                    repo.diff(before, after)
                    if before is not None
                    else after.tree.diff_to_tree(swap=True)
                )
                paths.update(p for d in diff.deltas for p in (d.old_file.path, d.new_file.path))
        return [_commit_info(c) for c in reversed(found)], sorted(paths)

    def read_path(
        self,
        commit_sha: str,
        path: str,
        *,
        depth: int = 1,
        offset: int = 0,
        limit: int | None = None,
    ) -> FileBlob | Directory:
        """File (or symlink, not followed) content, or a directory's entries up to ``depth``
        levels below it, flattened and sorted by path; with ``limit``, only ``limit`` of them
        from ``offset`` (``has_more`` says whether more follow). A page costs what it holds,
        not what the whole subtree holds."""
        parts = _read_path_parts(path)
        with self._open() as repo:
            commit = _lookup_commit(repo, commit_sha)
            norm = "/".join(parts)
            obj = self._tree_object(commit, parts, path)
            if isinstance(obj, pygit2.Tree):
                return self._directory(repo, obj, parts, depth, offset, limit)
            mode = int(obj.filemode)
            if isinstance(obj, pygit2.Blob):
                return FileBlob(
                    type="symlink" if mode == _MODE_LINK else "file",
                    name=parts[-1],
                    path=norm,
                    sha=str(obj.id),
                    size=obj.size,
                    executable=mode == _MODE_EXEC,
                    data=obj.data,
                )
            raise PathNotFound(path, f"path {norm!r} is a submodule")

    def _directory(
        self,
        repo: pygit2.Repository,
        tree: pygit2.Tree,
        parts: list[str],
        depth: int,
        offset: int,
        limit: int | None,
    ) -> Directory:
        if depth < 1:
            raise ValueError("depth must be >= 1")
        norm = "/".join(parts)
        walk = self._walk_sorted(repo, tree, norm, depth)
        stop = None if limit is None else offset + limit + 1
        entries = list(islice(walk, offset, stop))
        has_more = limit is not None and len(entries) > limit
        return Directory(
            name=parts[-1] if parts else "",
            path=norm,
            sha=str(tree.id),
            entries=entries[:limit] if has_more else entries,
            child_count=len(tree),
            has_more=has_more,
        )

    def last_commit_times(self, commit_sha: str, paths: Iterable[str]) -> dict[str, datetime]:
        """For each path (present at ``commit_sha``), the committer time of the newest commit
        on the first-parent chain that changed it (git log --first-parent semantics).

        Each step is a tree diff between a commit and its parent, which libgit2 prunes at
        every unchanged folder, so a step costs what the commit changed, not the tree's size."""
        pending = set(paths)
        found: dict[str, datetime] = {}
        with self._open() as repo:
            commit: pygit2.Commit | None = _lookup_commit(repo, commit_sha)
            while pending and commit is not None:
                parent = commit.parents[0] if commit.parent_ids else None
                diff = (
                    parent.tree.diff_to_tree(commit.tree)
                    if parent is not None
                    else commit.tree.diff_to_tree(swap=True)
                )
                when = _from_git_signature(commit.committer).time
                for delta in diff.deltas:
                    for path in (delta.new_file.path, delta.old_file.path):
                        if path in pending:
                            found[path] = when
                            pending.discard(path)
                commit = parent
        return found

    @staticmethod
    def _tree_object(
        commit: pygit2.Commit, parts: list[str], original: str
    ) -> pygit2.Tree | pygit2.Object:
        if not parts:
            return commit.tree
        try:
            # Tree entry objects carry .filemode/.name; submodule entries are lazy Commits.
            return commit.tree["/".join(parts)]
        except KeyError as exc:
            raise PathNotFound(original) from exc

    @staticmethod
    def _walk_sorted(
        repo: pygit2.Repository, tree: pygit2.Tree, prefix: str, depth: int
    ) -> Iterator[TreeEntry]:
        """The entries in path order, opening a folder only when the walk reaches it.

        Path order is not a depth-first walk ("a" < "a-c" < "a/x"), so the walk keeps a heap
        of entries and of folders still to open, a folder keyed "<path>/": that key sorts
        after everything that precedes the folder's contents, and before all of them.
        """
        # (sort key, tie-breaker, name, object id, file mode, level; name None: open it)
        heap: list[tuple[str, int, str | None, pygit2.Oid, int, int]] = []
        order = count()

        def open_folder(current: pygit2.Tree, base: str, level: int) -> None:
            for entry in current:
                name = entry.name
                assert name is not None
                child = f"{base}/{name}" if base else name
                mode = int(entry.filemode)
                heappush(heap, (child, next(order), name, entry.id, mode, level))
                if mode == _MODE_TREE and level < depth:
                    heappush(heap, (child + "/", next(order), None, entry.id, mode, level + 1))

        open_folder(tree, prefix, 1)
        while heap:
            key, _, name, oid, mode, level = heappop(heap)
            if name is None:
                sub = repo.get(oid)
                if isinstance(sub, pygit2.Tree):
                    open_folder(sub, key[:-1], level)
            elif mode == _MODE_TREE:
                yield TreeEntry("dir", name, key, str(oid), None, False)
            elif mode == _MODE_COMMIT:
                yield TreeEntry("submodule", name, key, str(oid), None, False)
            else:
                size = repo.odb.read_header(oid)[1]
                kind: Literal["file", "symlink"] = "symlink" if mode == _MODE_LINK else "file"
                yield TreeEntry(kind, name, key, str(oid), size, mode == _MODE_EXEC)

    def last_commit_time(self, commit_sha: str, path: str) -> datetime | None:
        """Committer time of the newest commit reachable from ``commit_sha`` that changed
        ``path`` (git's default history simplification: follow a TREESAME parent).

        None if no commit in the history touched ``path``.  Results are cached (LRU).
        """
        parts = _read_path_parts(path)
        norm = "/".join(parts)
        with self._open() as repo:
            commit = _lookup_commit(repo, commit_sha)
            key = (str(commit.id), norm)
            with _LAST_COMMIT_LOCK:
                if key in _LAST_COMMIT_CACHE:
                    _LAST_COMMIT_CACHE.move_to_end(key)
                    return _LAST_COMMIT_CACHE[key]
            result = self._last_change(commit, norm)
        with _LAST_COMMIT_LOCK:
            _LAST_COMMIT_CACHE[key] = result
            _LAST_COMMIT_CACHE.move_to_end(key)
            while len(_LAST_COMMIT_CACHE) > _LAST_COMMIT_CACHE_SIZE:
                _LAST_COMMIT_CACHE.popitem(last=False)
        return result

    @staticmethod
    def _last_change(commit: pygit2.Commit, path: str) -> datetime | None:
        def state(c: pygit2.Commit) -> tuple[str, int] | None:
            if not path:
                return (str(c.tree_id), _MODE_TREE)
            try:
                entry = c.tree[path]
            except KeyError:
                return None
            return (str(entry.id), int(entry.filemode))

        current = commit
        current_state = state(current)
        while True:
            parents = current.parents
            if not parents:
                changed = current_state is not None
                return _commit_time(current) if changed else None
            for parent in parents:
                parent_state = state(parent)
                if parent_state == current_state:
                    current, current_state = parent, parent_state
                    break
            else:
                return _commit_time(current)

    def diff(self, base: str, head: str) -> DiffResult:
        """Two-dot tree diff ``base..head`` with rename detection."""
        with self._open() as repo:
            base_commit = self._resolve(repo, base)
            head_commit = self._resolve(repo, head)
            diff = repo.diff(base_commit, head_commit, flags=DiffOption.INCLUDE_TYPECHANGE)
            diff.find_similar(DiffFind.FIND_RENAMES)
            typechange_patches: dict[str, list[pygit2.Patch]] | None = None
            entries: list[DiffEntry] = []
            for patch in diff:
                if patch is None:  # pragma: no cover - defensive, libgit2 always yields
                    continue
                delta = patch.delta
                letter = delta.status_char()
                status = letter if letter in _STATUS_LETTERS else "M"
                _context, additions, deletions = patch.line_stats
                text = patch.text or ""
                binary = bool(delta.is_binary)
                if status == "T":
                    # libgit2 renders a typechange as a mode change without content; render it
                    # like git does instead: a deletion followed by an addition.
                    if typechange_patches is None:
                        typechange_patches = self._split_typechanges(repo, base_commit, head_commit)
                    pieces = typechange_patches.get(delta.new_file.path, [])
                    if len(pieces) == 2:
                        text = "".join(p.text or "" for p in pieces)
                        additions = sum(p.line_stats[1] for p in pieces)
                        deletions = sum(p.line_stats[2] for p in pieces)
                        binary = any(bool(p.delta.is_binary) for p in pieces)
                entries.append(
                    DiffEntry(
                        status=status,  # type: ignore[arg-type]
                        path=delta.old_file.path if status == "D" else delta.new_file.path,
                        old_path=delta.old_file.path if status in ("R", "C") else None,
                        additions=additions,
                        deletions=deletions,
                        binary=binary,
                        patch=text,
                    )
                )
            return DiffResult(
                base_sha=str(base_commit.id),
                head_sha=str(head_commit.id),
                entries=entries,
                additions=sum(e.additions for e in entries),
                deletions=sum(e.deletions for e in entries),
                patch="".join(e.patch for e in entries),
            )

    @staticmethod
    def _split_typechanges(
        repo: pygit2.Repository, base: pygit2.Commit, head: pygit2.Commit
    ) -> dict[str, list[pygit2.Patch]]:
        plain = repo.diff(base, head)
        pieces: dict[str, list[pygit2.Patch]] = {}
        for patch in plain:
            if patch is None:  # pragma: no cover
                continue
            letter = patch.delta.status_char()
            if letter == "D":
                pieces.setdefault(patch.delta.old_file.path, []).insert(0, patch)
            elif letter == "A":
                pieces.setdefault(patch.delta.new_file.path, []).append(patch)
        return pieces

    # ---- misc ---------------------------------------------------------------------------

    def size_bytes(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:  # file vanished (e.g. a ref lock) while walking
                    continue
        return total


def _commit_time(commit: pygit2.Commit) -> datetime:
    tz = timezone(timedelta(minutes=commit.commit_time_offset))
    return datetime.fromtimestamp(commit.commit_time, tz)
