"""Reading a repository: history, what a branch move brought, a path's content or folder
listing, and when each file last changed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from heapq import heappop, heappush
from itertools import count, islice
from typing import Literal

import pygit2
from pygit2.enums import SortMode

from mesa_emulator.git.branch_names import HEADS
from mesa_emulator.git.errors import PathNotFound
from mesa_emulator.git.objects import (
    MODE_COMMIT,
    MODE_EXEC,
    MODE_LINK,
    MODE_TREE,
    CommitInfo,
    commit_info,
    from_git_signature,
    lookup_commit,
)
from mesa_emulator.git.paths import path_parts
from mesa_emulator.git.refs import branch_names, direct_target, resolve_commit

__all__ = [
    "Directory",
    "FileBlob",
    "TreeEntry",
    "last_commit_times",
    "log",
    "moved_between",
    "read_path",
]


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


def log(repo: pygit2.Repository, ref: str, *, skip: int, limit: int) -> list[CommitInfo]:
    """Ancestors of ``ref`` (inclusive), newest first (topological + commit time)."""
    if skip < 0 or limit < 0:
        raise ValueError("skip and limit must be >= 0")
    start = resolve_commit(repo, ref)
    walker = repo.walk(start.id, SortMode.TOPOLOGICAL | SortMode.TIME)
    return [commit_info(c) for c in islice(walker, skip, skip + limit)]


def moved_between(
    repo: pygit2.Repository, branch: str, old: str | None, new: str, limit: int
) -> tuple[list[CommitInfo], list[str]]:
    """What moving ``branch`` from commit ``old`` (None: creating it) to ``new`` brought: the
    commits reachable from ``new`` and not from ``old`` (for a new branch: from no other
    branch), the newest ``limit`` of them, oldest first; and the paths that changed (between
    the two trees; for a new branch: in those commits), sorted."""
    new_commit = lookup_commit(repo, new)
    walker = repo.walk(new_commit.id, SortMode.TOPOLOGICAL | SortMode.TIME)
    if old is not None:
        walker.hide(lookup_commit(repo, old).id)
    else:
        for name in branch_names(repo):
            tip = direct_target(repo, HEADS + name)
            if name != branch and tip is not None:
                walker.hide(tip)
    found = list(islice(walker, limit))
    pairs = (
        [(lookup_commit(repo, old), new_commit)]
        if old is not None
        else [(c.parents[0] if c.parents else None, c) for c in found]
    )
    paths: set[str] = set()
    for before, after in pairs:
        diff = (
            repo.diff(before, after) if before is not None else after.tree.diff_to_tree(swap=True)
        )
        paths.update(p for d in diff.deltas for p in (d.old_file.path, d.new_file.path))
    return [commit_info(c) for c in reversed(found)], sorted(paths)


def read_path(
    repo: pygit2.Repository,
    commit_sha: str,
    path: str,
    *,
    depth: int,
    offset: int,
    limit: int | None,
) -> FileBlob | Directory:
    """File (or symlink, not followed) content, or a directory's entries up to ``depth``
    levels below it, flattened and sorted by path (``""`` is the root); with ``limit``, only
    ``limit`` of them from ``offset`` (``has_more`` says whether more follow). A page costs
    what it holds, not what the whole subtree holds."""
    parts = path_parts(path, root_allowed=True)
    commit = lookup_commit(repo, commit_sha)
    norm = "/".join(parts)
    obj = _tree_object(commit, parts, path)
    if isinstance(obj, pygit2.Tree):
        return _directory(repo, obj, parts, depth, offset, limit)
    mode = int(obj.filemode)
    if isinstance(obj, pygit2.Blob):
        return FileBlob(
            type="symlink" if mode == MODE_LINK else "file",
            name=parts[-1],
            path=norm,
            sha=str(obj.id),
            size=obj.size,
            executable=mode == MODE_EXEC,
            data=obj.data,
        )
    raise PathNotFound(path, f"path {norm!r} is a submodule")


def _directory(
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
    walk = _walk_sorted(repo, tree, norm, depth)
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


def last_commit_times(
    repo: pygit2.Repository, commit_sha: str, paths: Iterable[str]
) -> dict[str, datetime]:
    """For each path (present at ``commit_sha``), the committer time of the newest commit
    on the first-parent chain that changed it (git log --first-parent semantics).

    Each step is a tree diff between a commit and its parent, which libgit2 prunes at
    every unchanged folder, so a step costs what the commit changed, not the tree's size.
    The root commit added every path still pending that it holds: no diff there, which
    would cost the whole tree."""
    pending = set(paths)
    found: dict[str, datetime] = {}
    commit: pygit2.Commit | None = lookup_commit(repo, commit_sha)
    while pending and commit is not None:
        when = from_git_signature(commit.committer).time
        if not commit.parent_ids:
            found.update({path: when for path in pending if path in commit.tree})
            break
        parent = commit.parents[0]
        diff = parent.tree.diff_to_tree(commit.tree)
        for delta in diff.deltas:
            for path in (delta.new_file.path, delta.old_file.path):
                if path in pending:
                    found[path] = when
                    pending.discard(path)
        commit = parent
    return found


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
            if mode == MODE_TREE and level < depth:
                heappush(heap, (child + "/", next(order), None, entry.id, mode, level + 1))

    open_folder(tree, prefix, 1)
    while heap:
        key, _, name, oid, mode, level = heappop(heap)
        if name is None:
            sub = repo.get(oid)
            if isinstance(sub, pygit2.Tree):
                open_folder(sub, key[:-1], level)
        elif mode == MODE_TREE:
            yield TreeEntry("dir", name, key, str(oid), None, False)
        elif mode == MODE_COMMIT:
            yield TreeEntry("submodule", name, key, str(oid), None, False)
        else:
            size = repo.odb.read_header(oid)[1]
            kind: Literal["file", "symlink"] = "symlink" if mode == MODE_LINK else "file"
            yield TreeEntry(kind, name, key, str(oid), size, mode == MODE_EXEC)
