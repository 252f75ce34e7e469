"""One bare repository on disk: the facade the emulator's operations call.

pygit2 ``Repository`` objects must not be shared between threads, so every call opens its
own short-lived handle (a few stat/reads of config files) and frees it when done.  Reads
never block and run concurrently with writes (libgit2 writes objects and refs atomically);
writes take the repository's lock (:func:`mesa_emulator.git.refs.repo_lock`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pygit2
from pygit2.enums import RepositoryOpenFlag

from mesa_emulator.git import agent_blame, analytics, committing, diffs, merging, reading
from mesa_emulator.git.branch_names import HEADS, check_branch_name, is_valid_branch_name
from mesa_emulator.git.errors import BranchExists, BranchNotFound, GitOpsError
from mesa_emulator.git.objects import CommitInfo, Signature, commit_info, lookup_commit
from mesa_emulator.git.refs import (
    Move,
    RefJournal,
    RefUpdate,
    branch_names,
    cas_ref,
    conflicting_branch,
    direct_target,
    make_moves,
    repo_lock,
    resolve_commit,
)
from mesa_emulator.git.trees import Edit

__all__ = ["GitRepository", "init_repository"]


def init_repository(path: Path, default_branch: str) -> GitRepository:
    """Create a bare repository at ``path`` whose HEAD is the unborn ``default_branch``.

    ``path`` may exist only as an empty directory.
    """
    check_branch_name(default_branch)
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GitOpsError(f"cannot initialise repository: {str(path)!r} exists and is not empty")
    repo = pygit2.init_repository(str(path), bare=True, initial_head=default_branch)
    repo.free()
    return GitRepository(path)


class GitRepository:
    """Git operations on one (bare) repository.  Safe to share across threads."""

    def __init__(self, path: Path, quarantine: Path | None = None) -> None:
        """``quarantine``: the folder where ``git receive-pack`` holds a push's objects until
        its ``pre-receive`` hook accepts them, to read them before the refs move."""
        self.path = Path(path)
        self._quarantine = quarantine
        self._lock = repo_lock(self.path)

    def __repr__(self) -> str:
        return f"GitRepository({str(self.path)!r})"

    @property
    def write_lock(self) -> threading.RLock:
        """The lock every ref-moving write of this repository holds (one per folder in this
        process); a writer outside this class (``git receive-pack``) takes it too."""
        return self._lock

    @contextmanager
    def _open(self) -> Iterator[pygit2.Repository]:
        # A fresh libgit2 handle per call: pygit2 objects are not thread-safe.
        repo = pygit2.Repository(str(self.path), RepositoryOpenFlag.NO_SEARCH)
        if self._quarantine is not None:
            repo.odb.add_disk_alternate(str(self._quarantine))
        try:
            yield repo
        finally:
            repo.free()

    # ---- HEAD / default branch ------------------------------------------------------

    def default_branch(self) -> str:
        with self._open() as repo:
            target = repo.lookup_reference("HEAD").target
        if not isinstance(target, str) or not target.startswith(HEADS):
            raise GitOpsError("HEAD does not point to a branch")
        return target[len(HEADS) :]

    def set_default_branch(self, name: str) -> None:
        check_branch_name(name)
        with self._lock, self._open() as repo:
            try:
                repo.create_reference_symbolic("HEAD", HEADS + name, True)
            except (pygit2.GitError, OSError) as exc:  # most likely HEAD.lock held elsewhere
                raise GitOpsError(f"could not point HEAD at {name!r}: {exc}") from exc

    def is_empty(self) -> bool:
        with self._open() as repo:
            return not branch_names(repo)

    # ---- refs -------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """Resolve a branch, ``refs/...`` name, tag, full sha or unique abbreviated sha."""
        with self._open() as repo:
            return str(resolve_commit(repo, ref).id)

    def branches(self) -> list[tuple[str, str]]:
        with self._open() as repo:
            result = []
            for name in branch_names(repo):
                oid = direct_target(repo, HEADS + name)
                if oid is not None:
                    result.append((name, str(oid)))
        return sorted(result, key=lambda item: item[0].encode())

    def branch_sha(self, name: str) -> str:
        with self._open() as repo:
            oid = direct_target(repo, HEADS + name) if isinstance(name, str) else None
        if oid is None:
            raise BranchNotFound(str(name))
        return str(oid)

    def create_branch(self, name: str, sha: str, journal: RefJournal | None = None) -> None:
        check_branch_name(name)
        with self._lock, self._open() as repo:
            if direct_target(repo, HEADS + name) is not None:
                raise BranchExists(name)
            conflict = conflicting_branch(repo, name)
            if conflict is not None:
                raise BranchExists(name, f"branch {name!r} conflicts with branch {conflict!r}")
            commit = lookup_commit(repo, sha)
            make_moves(repo, [Move(name, None, commit.id, "branch: Created")], journal)

    def delete_branch(self, name: str, journal: RefJournal | None = None) -> None:
        if not is_valid_branch_name(name):
            raise BranchNotFound(str(name))
        with self._lock, self._open() as repo:
            current = direct_target(repo, HEADS + name)
            if current is None:
                raise BranchNotFound(name)
            make_moves(repo, [Move(name, current, None)], journal)

    # ---- settling a journalled write after a crash ------------------------------------

    def has_moved(self, update: RefUpdate) -> bool:
        """Whether ``update`` happened: the branch is no longer at ``old``.

        Sound right after a restart, when the writer that journalled ``update`` held the
        repository's lock until the crash: the branch was at ``old`` when it was journalled
        and only that writer could move it (or, after it, a later write that was itself
        acknowledged, which leaves the branch away from ``old`` too)."""
        with self._open() as repo:
            current = direct_target(repo, HEADS + update.branch)
        return (None if current is None else str(current)) != update.old

    def finish_update(self, update: RefUpdate) -> None:
        """Apply ``update`` if the branch is still at ``old`` (the rest of a journalled
        write whose first move happened); otherwise leave the branch as it is."""
        old = None if update.old is None else pygit2.Oid(hex=update.old)
        new = None if update.new is None else pygit2.Oid(hex=update.new)
        with self._lock, self._open() as repo:
            if direct_target(repo, HEADS + update.branch) == old:
                cas_ref(repo, update.branch, expected=old, new=new)

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
        journal: committing.CommitJournal | None = None,
    ) -> CommitInfo:
        """See :func:`mesa_emulator.git.committing.write_commit`."""
        prepared = committing.prepare_commit(
            branch=branch, message=message, author=author, committer=committer, edits=edits
        )
        with self._lock, self._open() as repo:
            return committing.write_commit(repo, prepared, base_sha=base_sha, journal=journal)

    def merge(
        self,
        *,
        base_branch: str,
        head: str,
        author: Signature,
        message: str | None,
        delete_branch: bool,
        journal: merging.MergeJournal | None = None,
    ) -> merging.MergeOutcome:
        """See :func:`mesa_emulator.git.merging.merge`."""
        with self._lock, self._open() as repo:
            return merging.merge(
                repo,
                base_branch=base_branch,
                head=head,
                author=author,
                message=message,
                delete_branch=delete_branch,
                journal=journal,
            )

    # ---- reading ------------------------------------------------------------------------

    def log(self, ref: str, *, skip: int = 0, limit: int) -> list[CommitInfo]:
        with self._open() as repo:
            return reading.log(repo, ref, skip=skip, limit=limit)

    def commit(self, sha: str) -> CommitInfo:
        with self._open() as repo:
            return commit_info(lookup_commit(repo, sha))

    def moved_between(
        self, branch: str, old: str | None, new: str, limit: int
    ) -> tuple[list[CommitInfo], list[str]]:
        with self._open() as repo:
            return reading.moved_between(repo, branch, old, new, limit)

    def read_path(
        self,
        commit_sha: str,
        path: str,
        *,
        depth: int = 1,
        offset: int = 0,
        limit: int | None = None,
    ) -> reading.FileBlob | reading.Directory:
        with self._open() as repo:
            return reading.read_path(
                repo, commit_sha, path, depth=depth, offset=offset, limit=limit
            )

    def last_commit_times(self, commit_sha: str, paths: Iterable[str]) -> dict[str, datetime]:
        with self._open() as repo:
            return reading.last_commit_times(repo, commit_sha, paths)

    def diff(self, base: str, head: str) -> diffs.DiffResult:
        with self._open() as repo:
            return diffs.diff(repo, base, head)

    def agent_blame(self, base: str, head: str) -> agent_blame.BlameResult:
        with self._open() as repo:
            return agent_blame.agent_blame(repo, base, head)

    def analytics(self, head: str, since: datetime | None) -> analytics.Analytics:
        """The analytics of the commits reachable from ``head`` made at ``since`` or later."""
        with self._open() as repo:
            return analytics.analytics(repo, resolve_commit(repo, head).id, since)

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
