"""The changes between two commits, per file, with rename detection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pygit2
from pygit2.enums import DiffFind, DiffOption

from mesa_emulator.git.refs import resolve_commit

__all__ = ["DiffEntry", "DiffResult", "diff"]

_STATUS_LETTERS: frozenset[str] = frozenset("AMDRCT")


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


def diff(repo: pygit2.Repository, base: str, head: str) -> DiffResult:
    """Two-dot tree diff ``base..head`` with rename detection."""
    base_commit = resolve_commit(repo, base)
    head_commit = resolve_commit(repo, head)
    changes = repo.diff(base_commit, head_commit, flags=DiffOption.INCLUDE_TYPECHANGE)
    changes.find_similar(DiffFind.FIND_RENAMES)
    typechange_patches: dict[str, list[pygit2.Patch]] | None = None
    entries: list[DiffEntry] = []
    for patch in changes:
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
                typechange_patches = _split_typechanges(repo, base_commit, head_commit)
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
