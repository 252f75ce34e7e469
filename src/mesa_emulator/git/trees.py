"""Editing a git tree in memory: only the folders an edit touches are loaded and written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pygit2

from mesa_emulator.git.errors import GitOpsError, PathExists, PathNotFound
from mesa_emulator.git.objects import MODE_BLOB, MODE_COMMIT, MODE_TREE

__all__ = ["Edit", "TreeEditor"]


@dataclass(frozen=True)
class Edit:
    path: str
    action: Literal["create", "update", "upsert", "delete"]
    data: bytes | None = None
    executable: bool | None = None


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


class TreeEditor:
    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None) -> None:
        self.repo = repo
        self.root = _DirNode(tree)

    def _subdir(self, node: _DirNode, name: str) -> _DirNode | None:
        entry = node.entries.get(name)
        if isinstance(entry, _DirNode):
            return entry
        if entry is None or entry[1] != MODE_TREE:
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
        if isinstance(entry, _DirNode) or entry[1] in (MODE_TREE, MODE_COMMIT):
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
            isinstance(entry, _DirNode) or entry[1] in (MODE_TREE, MODE_COMMIT)
        ):
            raise PathExists(path, f"cannot write {path!r}: it is not a file")
        kept = entry[1] if entry is not None else MODE_BLOB
        parent.entries[parts[-1]] = (blob, kept if mode is None else mode)
        self._touch(chain)

    def delete(self, path: str, parts: list[str]) -> None:
        chain = self._parents(path, parts, create=False)
        parent = chain[-1]
        entry = parent.entries.get(parts[-1])
        if entry is None:
            raise PathNotFound(path)
        if isinstance(entry, _DirNode) or entry[1] == MODE_TREE:
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
                        builder.insert(name, child, MODE_TREE)
                else:
                    builder.insert(name, entry[0], entry[1])
            written[id(node)] = builder.write() if len(builder) else None
        root = written[id(self.root)]
        return root if root is not None else self.repo.TreeBuilder().write()
