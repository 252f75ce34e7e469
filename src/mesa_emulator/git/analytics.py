"""What a repository's history says about who wrote it: per commit, lines added and removed
and how many of them an AI agent wrote (from Agent Blame's notes); per contributor and in
all, the same summed up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pygit2
from pygit2.enums import SortMode

from mesa_emulator.git.agent_blame import note_ranges
from mesa_emulator.git.objects import commit_info

__all__ = ["Analytics", "CommitLines", "LineTotals", "analytics"]


@dataclass(frozen=True)
class CommitLines:
    sha: str
    day: str
    """The UTC day it was committed, ``YYYY-MM-DD``."""
    author: str
    message: str
    """The first line of its message."""
    added: int
    removed: int
    ai_lines: int
    providers: dict[str, int]
    models: dict[str, int]


@dataclass
class LineTotals:
    """Lines added by some commits, and how many of them AI agents wrote."""

    total_lines: int = 0
    ai_lines: int = 0
    commit_count: int = 0
    providers: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)


@dataclass
class Analytics:
    history: list[CommitLines] = field(default_factory=list)
    """Oldest first."""
    contributors: dict[str, LineTotals] = field(default_factory=dict)
    """By author name."""
    summary: LineTotals = field(default_factory=LineTotals)


def _commit_lines(repo: pygit2.Repository, commit: pygit2.Commit) -> CommitLines:
    parent = commit.parents[0] if commit.parent_ids else None
    changes = (
        parent.tree.diff_to_tree(commit.tree)
        if parent is not None
        else commit.tree.diff_to_tree(swap=True)
    )
    stats = changes.stats
    providers: Counter[str] = Counter()
    models: Counter[str] = Counter()
    for ai in note_ranges(repo, commit.id):
        providers[ai.provider] += ai.lines
        if ai.model is not None:
            models[ai.model] += ai.lines
    info = commit_info(commit)
    return CommitLines(
        sha=info.sha,
        day=info.committer.time.astimezone(timezone.utc).date().isoformat(),
        author=info.author.name,
        message=info.message.split("\n", 1)[0],
        added=stats.insertions,
        removed=stats.deletions,
        ai_lines=sum(providers.values()),
        providers=dict(providers),
        models=dict(models),
    )


def analytics(repo: pygit2.Repository, head: pygit2.Oid, since: datetime | None) -> Analytics:
    """The commits reachable from ``head`` committed at ``since`` or later (all without it),
    merges left out: a merge's lines were counted in the commits it merged."""
    found = Analytics()
    walker = repo.walk(head, SortMode.TOPOLOGICAL | SortMode.TIME | SortMode.REVERSE)
    for commit in walker:
        if len(commit.parent_ids) > 1:
            continue
        if since is not None and commit.commit_time < since.timestamp():
            continue
        lines = _commit_lines(repo, commit)
        found.history.append(lines)
        person = found.contributors.setdefault(lines.author, LineTotals())
        for total in (person, found.summary):
            total.total_lines += lines.added
            total.ai_lines += lines.ai_lines
            total.providers.update(lines.providers)
            total.models.update(lines.models)
            total.commit_count += 1
    return found
