"""A commit made from file edits on top of a branch, and the branch moved to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pygit2

from mesa_emulator.git.branch_names import HEADS, check_branch_name
from mesa_emulator.git.errors import (
    BranchExists,
    BranchMoved,
    BranchNotFound,
    GitOpsError,
    InvalidPath,
)
from mesa_emulator.git.objects import (
    MODE_BLOB,
    MODE_EXEC,
    CommitInfo,
    Signature,
    commit_info,
    lookup_commit,
    lookup_object,
    to_git_signature,
)
from mesa_emulator.git.paths import file_content_problem, path_parts
from mesa_emulator.git.refs import (
    Move,
    RefUpdate,
    branch_names,
    conflicting_branch,
    direct_target,
    make_moves,
)
from mesa_emulator.git.trees import Edit, TreeEditor

__all__ = ["CommitJournal", "PreparedCommit", "prepare_commit", "write_commit"]

CommitJournal = Callable[[Sequence[RefUpdate], CommitInfo], None]


@dataclass(frozen=True)
class PreparedCommit:
    """A commit's request, every part checked before the repository is touched."""

    branch: str
    message: str
    author: pygit2.Signature
    committer: pygit2.Signature
    edits: list[tuple[Edit, list[str]]]


def prepare_commit(
    *,
    branch: str,
    message: str,
    author: Signature,
    committer: Signature | None,
    edits: Sequence[Edit],
) -> PreparedCommit:
    check_branch_name(branch)
    if not isinstance(message, str):
        raise GitOpsError("commit message must be a string")
    git_author = to_git_signature(author)
    git_committer = to_git_signature(committer) if committer is not None else git_author
    prepared: list[tuple[Edit, list[str]]] = []
    for edit in edits:
        parts = path_parts(edit.path)
        if edit.action not in ("create", "update", "upsert", "delete"):
            raise GitOpsError(f"unknown edit action {edit.action!r} for {edit.path!r}")
        if edit.action != "delete" and not isinstance(edit.data, (bytes, bytearray)):
            raise GitOpsError(f"edit {edit.action!r} of {edit.path!r} requires bytes data")
        if edit.data is not None:
            problem = file_content_problem(edit.path, bytes(edit.data))
            if problem is not None:
                raise InvalidPath(edit.path, f"the content of {edit.path!r} {problem}")
        prepared.append((edit, parts))
    return PreparedCommit(branch, message, git_author, git_committer, prepared)


def _parent(
    repo: pygit2.Repository, branch: str, current: pygit2.Oid | None, base_sha: str | None
) -> pygit2.Commit | None:
    """The new commit's parent: the branch head, or for a missing branch, ``base_sha`` (or
    none, for the first commit of an empty repository)."""
    if current is None:
        if base_sha is None:
            if branch_names(repo):
                raise BranchNotFound(branch)
            return None
        if not branch_names(repo):
            raise BranchMoved(branch, base_sha, None)
        parent = lookup_commit(repo, base_sha)
        conflict = conflicting_branch(repo, branch)
        if conflict is not None:
            raise BranchExists(branch, f"branch {branch!r} conflicts with branch {conflict!r}")
        return parent
    if base_sha is not None:
        expected = lookup_object(repo, base_sha)
        if expected is None or expected.id != current:
            raise BranchMoved(branch, base_sha, str(current))
    head = repo.get(current)
    if not isinstance(head, pygit2.Commit):
        raise GitOpsError(f"branch {branch!r} does not point to a commit")
    return head


def _apply(repo: pygit2.Repository, editor: TreeEditor, edit: Edit, parts: list[str]) -> None:
    if edit.action == "delete":
        editor.delete(edit.path, parts)
        return
    assert edit.data is not None
    blob = repo.create_blob(bytes(edit.data))
    if edit.action == "create":
        editor.create(edit.path, parts, blob, MODE_EXEC if edit.executable else MODE_BLOB)
        return
    mode_or_keep = (
        None if edit.executable is None else (MODE_EXEC if edit.executable else MODE_BLOB)
    )
    if edit.action == "upsert":
        editor.upsert(edit.path, parts, blob, mode_or_keep)
    else:
        editor.update(edit.path, parts, blob, mode_or_keep)


def write_commit(
    repo: pygit2.Repository,
    commit: PreparedCommit,
    *,
    base_sha: str | None,
    journal: CommitJournal | None,
) -> CommitInfo:
    """Apply the edits on top of the branch and move it to the new commit (under the
    repository's lock).

    * ``base_sha`` (optional) is a compare-and-swap guard: the branch must currently point
      at it, otherwise BranchMoved is raised and nothing is written.
    * A missing branch is created: with a root commit when the repository has no branch at
      all (and ``base_sha`` is None), or on top of ``base_sha`` when it is given and names an
      existing commit.
    """
    branch = commit.branch
    current = direct_target(repo, HEADS + branch)
    parent = _parent(repo, branch, current, base_sha)
    editor = TreeEditor(repo, parent.tree if parent is not None else None)
    for edit, parts in commit.edits:
        _apply(repo, editor, edit, parts)
    tree_oid = editor.write()
    parents = [parent.id] if parent is not None else []
    oid = repo.create_commit(
        None, commit.author, commit.committer, commit.message, tree_oid, parents
    )
    new_commit = repo.get(oid)
    assert isinstance(new_commit, pygit2.Commit)
    info = commit_info(new_commit)
    summary = commit.message.split("\n", 1)[0]
    move = Move(
        branch,
        current,
        oid,
        log_message=f"commit: {summary}" if parent is not None else "commit (initial)",
        expected_label=base_sha if base_sha is not None else str(current or ""),
    )
    make_moves(repo, [move], None if journal is None else lambda updates: journal(updates, info))
    return info
