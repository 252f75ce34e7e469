"""The writable overlay: what a writable mount changed over the mounted commit, kept durably.

Three parts, all in the overlay folder:

* entries, by repository path: a file (its own bytes, or a blob of the mounted commit it
  still has unchanged, and its executable bit), a folder (created, or moved here from a folder
  of the commit), or a whiteout (deleted);
* the bytes of changed files, in `files/<number>`: a flat folder of numbered files;
* the journal of the entries: `changes.json` (the manifest: org, repo, branch, base commit,
  and every entry as of its writing) and `changes.journal.<n>` (one JSON line per change made
  since, appended and fsync'd before the change returns). A new `Overlay` on the same folder
  replays both, so a mount killed with `kill -9` loses no acknowledged change.

The folder is the user's: the overlay deletes only what it made there (those files, and
`files/` when it empties), unless it made the whole folder itself (a temporary one).

Repository paths never become local paths: a file's bytes live under a number the overlay
chose, so no name (`..`, a symlink in the repository, a long or odd name) can make a write
land anywhere but that folder. Data files are opened relative to the folder's descriptor with
O_NOFOLLOW, so even a symlink planted in the folder is refused, not followed.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesa_sdk.fs.errors import FsError
from mesa_sdk.fs.paths import is_within, relative_to
from mesa_sdk.fs.remote import Entry

__all__ = [
    "MANIFEST",
    "WHITEOUT",
    "Overlay",
    "OverlayDir",
    "OverlayEntry",
    "OverlayError",
    "OverlayFile",
    "Whiteout",
    "overlay_info",
    "read_manifest",
]


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

log = logging.getLogger("mesa_sdk.fs")

_DATA_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC

MANIFEST = "changes.json"
_MANIFEST_TEMP = "changes.json.tmp"
_JOURNAL = "changes.journal.{}"
_JOURNAL_NAME = re.compile(r"changes\.journal\.[0-9]+")
_DATA_NAME = re.compile(r"[0-9]{8,}")
_FORMAT = 1

_COMPACT_AT = 1 << 20
"""Journal bytes past which the manifest is rewritten (and the journal started afresh), or
the manifest's size if larger: rewriting stays a fraction of what was appended."""


class OverlayError(FsError):
    """The overlay folder is in use by another mount, or holds a manifest that cannot be
    read."""


def overlay_info(
    org: str | None, repo: str, branch: str | None, base: str | None
) -> dict[str, Any]:
    """What heads an overlay's manifest: where its changes go, and on top of which commit."""
    return {"org": org, "repo": repo, "branch": branch, "base_sha": base}


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the overlay in `root` (None: there is none). Raises OverlayError when
    it is not a manifest this package wrote."""
    try:
        text = (root / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
    except ValueError as error:
        raise OverlayError(f"{root / MANIFEST} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise OverlayError(f"{root / MANIFEST} is not a mesa-fs overlay manifest")
    return document


def _fsync_folder(folder: Path | int) -> None:
    fd = folder if isinstance(folder, int) else os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        if not isinstance(folder, int):
            os.close(fd)


def _describe(entry: OverlayEntry) -> dict[str, Any]:
    if isinstance(entry, OverlayFile):
        item: dict[str, Any] = {"type": "file", "executable": entry.executable}
        if entry.data is not None:
            item["data"] = f"files/{entry.data}"
        elif entry.source is not None:
            source = entry.source
            item["same_as"] = {"path": source.path, "sha": source.sha, "size": source.size}
        return item
    if isinstance(entry, OverlayDir):
        return {"type": "dir", "moved_from": entry.base}
    return {"type": "deleted"}


def _entry_of(item: dict[str, Any]) -> OverlayEntry:
    kind = item["type"]
    if kind == "deleted":
        return WHITEOUT
    if kind == "dir":
        base = item["moved_from"]
        return OverlayDir(base=None if base is None else str(base))
    if kind != "file":
        raise ValueError(f"unknown entry type {kind!r}")
    executable = bool(item["executable"])
    data = item.get("data")
    if data is not None:
        name = str(data).removeprefix("files/")
        if not _DATA_NAME.fullmatch(name):
            raise ValueError(f"bad data file name {data!r}")
        return OverlayFile(executable=executable, data=name)
    same = item["same_as"]
    source = Entry(str(same["path"]), "file", str(same["sha"]), int(same["size"]), executable)
    return OverlayFile(executable=executable, source=source)


class Overlay:
    """The entries and data files of one writable mount, kept in folder `root`.

    `info` (org, repo, branch, base_sha) heads the manifest. An existing manifest in `root`
    is loaded (its entries replayed from the journal); the caller checks that its `info`
    matches first (`read_manifest`). `owned`: the overlay made `root` (a temporary folder)
    and removes it whole in `destroy`.

    Every change is recorded when made and made durable by `sync()`, which the mounted tree
    calls before each change returns. Not thread-safe by itself: the tree serializes access.
    """

    def __init__(self, root: Path, info: dict[str, Any], *, owned: bool = False) -> None:
        self.root = root
        self.owned = owned
        self.files = root / "files"
        root.mkdir(parents=True, exist_ok=True)
        self.files.mkdir(exist_ok=True)
        self._dir_fd = os.open(self.files, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            # One overlay object per folder at a time (the kernel drops the lock with the
            # process, so a killed mount does not hold it).
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._dir_fd)
            raise OverlayError(f"{root} is in use by another mount") from None
        self.info = dict(info)
        self.entries: dict[str, OverlayEntry] = {}
        self._children: dict[str, set[str]] = {}
        self._weight: dict[str, int] = {}
        self._numbers = itertools.count(1)
        self._records: list[dict[str, Any]] = []  # changes not yet in the journal
        self._unlinks: list[str] = []  # data files to delete once the journal says so
        self._made_data = False  # a data file was made since the last sync
        self._made: set[str] = set()  # the data files made by this overlay object
        self._journal_fd = -1
        self._journal_bytes = 0
        self._manifest_bytes = 0
        self._generation = 0
        try:
            self._load()
            self.compact()
        except BaseException:
            self.close()
            raise

    # ---- the journal ------------------------------------------------------------------

    def _load(self) -> None:
        manifest = read_manifest(self.root)
        if manifest is None:
            return
        try:
            self._generation = int(manifest.get("generation", 0))
            for path, item in manifest["entries"].items():
                self._apply(str(path), item)
            journal = self.root / _JOURNAL.format(self._generation)
            with contextlib.suppress(FileNotFoundError):
                for line in journal.read_bytes().split(b"\n")[:-1]:
                    try:
                        records = json.loads(line)
                    except ValueError:
                        break  # a torn last line: the change it held never returned
                    for record in records:
                        self._apply(str(record["path"]), record.get("entry"))
        except (KeyError, TypeError, ValueError) as error:
            raise OverlayError(f"{self.root / MANIFEST}: cannot replay: {error!r}") from None
        for path, entry in list(self.entries.items()):
            if isinstance(entry, OverlayFile) and entry.data is not None:
                try:
                    self.stat_data(entry.data)
                except FileNotFoundError:
                    # Only a power loss in the middle of a change can leave this.
                    log.warning("%s: %s names %s, which is missing", self.root, path, entry.data)
                    self.remove(path)
        self._records.clear()

    def _apply(self, path: str, item: dict[str, Any] | None) -> None:
        if item is None:
            self.remove(path)
        else:
            self.put(path, _entry_of(item))

    def sync(self) -> None:
        """Makes every change recorded so far durable: new data files' names (fsync of
        `files/`), then one journal line (appended, fsync'd); then deletes the data files the
        changes let go of. One line per call: a change is replayed whole or not at all."""
        if self._made_data:
            _fsync_folder(self._dir_fd)
            self._made_data = False
        if self._records:
            line = json.dumps(self._records, separators=(",", ":")).encode() + b"\n"
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._journal_fd, view) :]
                os.fsync(self._journal_fd)
            except OSError:
                # A disk full, say: no half line may stay before the next one. The records
                # stay too, for the next sync.
                os.ftruncate(self._journal_fd, self._journal_bytes)
                raise
            self._records.clear()
            self._journal_bytes += len(line)
        for name in self._unlinks:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self._dir_fd)
        self._unlinks.clear()
        if self._journal_bytes > max(_COMPACT_AT, self._manifest_bytes):
            self.compact()

    def compact(self, **extra: Any) -> Path:
        """Writes the manifest whole (temp file, fsync, rename, fsync of the folder) with
        `extra` keys, and starts a new, empty journal; returns the manifest's path."""
        if self._made_data:
            _fsync_folder(self._dir_fd)
            self._made_data = False
        old = self._generation
        self._generation += 1
        document = {
            "format": _FORMAT,
            **self.info,
            **extra,
            "generation": self._generation,
            "entries": self.describe(),
        }
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        temp = self.root / _MANIFEST_TEMP
        with open(temp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        self._manifest_bytes = len(text)
        manifest = self.root / MANIFEST
        os.replace(temp, manifest)
        _fsync_folder(self.root)
        self._records.clear()
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
        self._journal_fd = os.open(
            self.root / _JOURNAL.format(self._generation),
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
            0o600,
        )
        self._journal_bytes = 0
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.root / _JOURNAL.format(old))
        for name in self._unlinks:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self._dir_fd)
        self._unlinks.clear()
        return manifest

    # ---- entries ----------------------------------------------------------------------

    def get(self, path: str) -> OverlayEntry | None:
        return self.entries.get(path)

    def put(self, path: str, entry: OverlayEntry) -> None:
        """Sets `path`'s entry (again after changing an entry in place, to record it)."""
        if path not in self.entries:
            self._count(path, +1)
        self.entries[path] = entry
        self._records.append({"path": path, "entry": _describe(entry)})

    def remove(self, path: str) -> OverlayEntry | None:
        entry = self.entries.pop(path, None)
        if entry is not None:
            self._count(path, -1)
            self._records.append({"path": path})
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
        """Drops every entry (the caller compacts next: nothing is journalled)."""
        self.entries.clear()
        self._children.clear()
        self._weight.clear()
        self._records.clear()

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
            self._made_data = True
            self._made.add(name)
            return name, fd

    def open_data(self, name: str, flags: int) -> int:
        return os.open(name, flags | _DATA_FLAGS, dir_fd=self._dir_fd)

    def stat_data(self, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)

    def data_path(self, name: str) -> str:
        return os.path.join(self.files, name)

    def drop_data(self, name: str) -> None:
        """Deletes a data file at the next `sync` (after the journal stops naming it;
        descriptors still open on it keep working)."""
        self._unlinks.append(name)

    # ---- describing and removing ------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The entries as JSON-able data, data files named relative to the overlay folder."""
        return {path: _describe(self.entries[path]) for path in sorted(self.entries)}

    def close(self) -> None:
        for fd in (self._dir_fd, self._journal_fd):
            if fd >= 0:
                os.close(fd)
        self._dir_fd = self._journal_fd = -1

    def destroy(self) -> None:
        """Removes what the overlay made (nothing is pending): its data files, journal and
        manifest, and `files/` if that is then empty; the whole folder if it made that too.
        Anything else in the folder stays."""
        if self.owned:
            self.close()
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for entry in self.entries.values():
            if isinstance(entry, OverlayFile) and entry.data is not None:
                self._unlinks.append(entry.data)
        for name in [*self._unlinks, *self._made]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self._dir_fd)
        self._unlinks.clear()
        self.close()
        for path in self.root.iterdir():
            if path.name in (MANIFEST, _MANIFEST_TEMP) or _JOURNAL_NAME.fullmatch(path.name):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        with contextlib.suppress(OSError):
            self.files.rmdir()  # only when empty: anything else in it is not ours
