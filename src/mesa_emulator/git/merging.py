"""Merging a branch or commit into a branch: fast-forward, merge commit or up to date."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pygit2

from mesa_emulator.git.branch_names import HEADS, is_valid_branch_name
from mesa_emulator.git.errors import BranchNotFound, MergeConflict
from mesa_emulator.git.objects import Signature, to_git_signature
from mesa_emulator.git.refs import (
    Move,
    RefUpdate,
    branch_for,
    direct_target,
    make_moves,
    resolve_commit,
)

__all__ = ["MergeJournal", "MergeOutcome", "merge"]


@dataclass(frozen=True)
class MergeOutcome:
    merge_type: Literal["fast_forward", "merge_commit", "up_to_date"]
    sha: str
    branch_deleted: bool


MergeJournal = Callable[[Sequence[RefUpdate], MergeOutcome], None]


def merge(
    repo: pygit2.Repository,
    *,
    base_branch: str,
    head: str,
    author: Signature,
    message: str | None,
    delete_branch: bool,
    journal: MergeJournal | None,
) -> MergeOutcome:
    """Merge ``head`` (branch name or sha) into ``base_branch`` (under the repository's lock).

    Fast-forwards when possible, otherwise creates a two-parent merge commit (author is
    also the committer).  Conflicts raise MergeConflict and write nothing.
    """
    if not is_valid_branch_name(base_branch):
        raise BranchNotFound(str(base_branch))
    git_author = to_git_signature(author)
    base_oid = direct_target(repo, HEADS + base_branch)
    if base_oid is None:
        raise BranchNotFound(base_branch)
    head_oid = resolve_commit(repo, head).id
    head_branch = branch_for(repo, head)
    # Never delete the base branch, nor the default branch (the one HEAD names).
    head_target = repo.lookup_reference("HEAD").target
    default = head_target[len(HEADS) :] if isinstance(head_target, str) else None
    deletable = (
        delete_branch
        and head_branch is not None
        and head_branch != base_branch
        and head_branch != default
    )

    # Work out every object and ref move first, then journal them, then move the refs.
    moves: list[Move] = []
    merge_type: Literal["fast_forward", "merge_commit", "up_to_date"]
    if head_oid == base_oid or repo.descendant_of(base_oid, head_oid):
        merge_type = "up_to_date"
        result = base_oid
    elif repo.descendant_of(head_oid, base_oid):
        merge_type = "fast_forward"
        result = head_oid
        moves.append(Move(base_branch, base_oid, head_oid, "merge: Fast-forward"))
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
        moves.append(Move(base_branch, base_oid, result, f"merge {head}: Merge made by libgit2"))

    if deletable and head_branch is not None:
        current = direct_target(repo, HEADS + head_branch)
        if current is not None:
            moves.append(Move(head_branch, current, None))
    outcome = MergeOutcome(
        merge_type=merge_type,
        sha=str(result),
        branch_deleted=any(move.new is None for move in moves),
    )
    make_moves(repo, moves, None if journal is None else lambda updates: journal(updates, outcome))
    return outcome
