"""The writable overlay: what a writable mount changed over the mounted commit.

Two parts:

* entries, by repository path, in memory: a file (its own bytes, or a blob of the mounted
  commit it still has unchanged, and its executable bit), a folder (created, or moved here
  from a folder of the commit), or a whiteout (deleted);
* the bytes of changed files, in `<overlay>/files/<number>`: a flat folder of numbered files.

Repository paths never become local paths: a file's bytes live under a number the overlay
chose, so no name (`..`, a symlink in the repository, a long or odd name) can make a write
land anywhere but that folder. Data files are opened relative to the folder's descriptor with
O_NOFOLLOW, so even a symlink planted in the folder is refused, not followed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesa_sdk.fs.paths import is_within, relative_to
from mesa_sdk.fs.remote import Entry

__all__ = ["WHITEOUT", "Overlay", "OverlayDir", "OverlayEntry", "OverlayFile", "Whiteout"]


@dataclass(slots=True)
class OverlayFile:
    executable: bool
    data: str | None = None
    """The name of the file's own bytes in `files/`, once written."""
    source: Entry | None = None
    """Otherwise: the mounted commit's blob it holds (a moved or chmod-ed file)."""


@dataclass(slots=True)
class OverlayDir:
    base: str | None
    """The mounted commit's folder whose entries show here (a moved folder); None: none."""


class Whiteout:
    """A deleted path."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "WHITEOUT"


WHITEOUT = Whiteout()

OverlayEntry = OverlayFile | OverlayDir | Whiteout

_DATA_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


class Overlay:
    """The entries and data files of one writable mount, kept in folder `root`.

    Not thread-safe by itself: the mounted tree serializes access.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        self._dir_fd = os.open(self.files, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        self.entries: dict[str, OverlayEntry] = {}
        self._children: dict[str, set[str]] = {}
        self._weight: dict[str, int] = {}
        self._numbers = itertools.count(1)

    # ---- entries ----------------------------------------------------------------------

    def get(self, path: str) -> OverlayEntry | None:
        return self.entries.get(path)

    def put(self, path: str, entry: OverlayEntry) -> None:
        if path not in self.entries:
            self._count(path, +1)
        self.entries[path] = entry

    def remove(self, path: str) -> OverlayEntry | None:
        entry = self.entries.pop(path, None)
        if entry is not None:
            self._count(path, -1)
        return entry

    def _count(self, path: str, delta: int) -> None:
        # `_weight[p]`: how many entries are at or below p; `_children[folder]`: the names
        # in folder whose weight is not zero. Entries need not be adjacent (a changed file
        # deep in unchanged folders is one entry), so both walk every ancestor.
        while path:
            weight = self._weight.get(path, 0) + delta
            parent, _, name = path.rpartition("/")
            if weight:
                self._weight[path] = weight
                self._children.setdefault(parent, set()).add(name)
            else:
                self._weight.pop(path, None)
                names = self._children.get(parent)
                if names is not None:
                    names.discard(name)
                    if not names:
                        del self._children[parent]
            path = parent

    def child_names(self, folder: str) -> set[str]:
        """Names directly in `folder` with an entry at or below them (whiteouts included)."""
        return set(self._children.get(folder, ()))

    def below(self, folder: str) -> list[str]:
        """The paths with an entry strictly below `folder`, parents before children."""
        found: list[str] = []
        stack = [folder]
        while stack:
            current = stack.pop()
            for name in sorted(self._children.get(current, ()), reverse=True):
                path = f"{current}/{name}" if current else name
                if path in self.entries:
                    found.append(path)
                stack.append(path)
        return found

    def has_below(self, folder: str) -> bool:
        """Whether an entry lies strictly below `folder`."""
        return bool(self._children.get(folder))

    def roots(self) -> list[str]:
        """The entries not below another entry: each covers its whole subtree."""
        result: list[str] = []
        for path in sorted(self.entries, key=lambda p: p.split("/")):
            if not result or not is_within(path, result[-1]):
                result.append(path)
        return result

    def move(self, old: str, new: str) -> None:
        """Moves every entry strictly below `old` to the same place below `new`."""
        for path in self.below(old):
            entry = self.remove(path)
            assert entry is not None
            self.put(f"{new}/{relative_to(path, old)}", entry)

    def clear(self) -> None:
        self.entries.clear()
        self._children.clear()
        self._weight.clear()

    # ---- data files -------------------------------------------------------------------

    def new_data(self) -> tuple[str, int]:
        """A new empty data file: (its name, a read-write descriptor)."""
        while True:
            name = f"{next(self._numbers):08d}"
            try:
                fd = os.open(
                    name,
                    os.O_RDWR | os.O_CREAT | os.O_EXCL | _DATA_FLAGS,
                    0o600,
                    dir_fd=self._dir_fd,
                )
            except FileExistsError:
                continue
            return name, fd

    def open_data(self, name: str, flags: int) -> int:
        return os.open(name, flags | _DATA_FLAGS, dir_fd=self._dir_fd)

    def stat_data(self, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)

    def data_path(self, name: str) -> str:
        return os.path.join(self.files, name)

    def drop_data(self, name: str) -> None:
        """Deletes a data file (descriptors still open on it keep working)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._dir_fd)

    # ---- keeping and removing ---------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The entries as JSON-able data, data files named relative to the overlay folder."""
        described: dict[str, Any] = {}
        for path in sorted(self.entries):
            entry = self.entries[path]
            if isinstance(entry, OverlayFile):
                item: dict[str, Any] = {"type": "file", "executable": entry.executable}
                if entry.data is not None:
                    item["data"] = f"files/{entry.data}"
                elif entry.source is not None:
                    item["same_as"] = {"path": entry.source.path, "sha": entry.source.sha}
                described[path] = item
            elif isinstance(entry, OverlayDir):
                described[path] = {"type": "dir", "moved_from": entry.base}
            else:
                described[path] = {"type": "deleted"}
        return described

    def keep(self, info: dict[str, Any]) -> Path:
        """Writes `changes.json` (`info` plus the entries) next to the data files, so the
        overlay folder says what it holds once the mount is gone; returns its path."""
        manifest = self.root / "changes.json"
        document = {**info, "entries": self.describe()}
        manifest.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return manifest

    def close(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def destroy(self) -> None:
        self.close()
        shutil.rmtree(self.root, ignore_errors=True)
