"""The mounted tree: the commit's snapshot with the writable overlay on top, and the changes
between the two.

Every FUSE operation lands here as a repository path. Reading resolves a path through the
overlay (a whiteout hides, a moved folder shows another folder of the commit, a changed file
has its own bytes) down to the snapshot. Changing touches only the overlay: nothing is sent
until `commit`, which turns the difference into one commit and moves the tree onto it.

Locks: `_lock` guards the overlay and the snapshot swap and is never held while a request is
under way (a resolve that needs a listing drops it, lists, and starts over). `_changes` is
held by each change for its whole length and by `commit` and `plan`, so a commit sees a
still overlay and no acknowledged write slips between what was sent and what was cleared.

Durability: each change ends with `Overlay.sync()` (`_changing`), so what it did to the
overlay's entries is journalled and fsync'd before the change returns to the kernel. File
bytes are fsync'd when the file is flushed (every `close`) or fsync'd, as POSIX requires,
not on each `write`; bytes copied up from the commit are fsync'd before the entry naming
them is recorded.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mesa_sdk.fs.blobs import git_blob_id_of_file
from mesa_sdk.fs.errors import MountError, UnsupportedChangeError
from mesa_sdk.fs.overlay import WHITEOUT, Overlay, OverlayDir, OverlayFile
from mesa_sdk.fs.paths import check_storable_name, is_within, join, parent_of, relative_to
from mesa_sdk.fs.remote import Entry, Kind
from mesa_sdk.fs.snapshot import NeedListing, Snapshot

if TYPE_CHECKING:
    from mesa_sdk.fs.changes import PendingChange

__all__ = ["MAX_EDITS", "MountedTree", "Node", "Plan"]

log = logging.getLogger("mesa_sdk.fs")

T = TypeVar("T")

MAX_EDITS = 10_000
"""The most edits one commit may carry (the API's limit)."""

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Node:
    """What one path of the mounted tree is now."""

    path: str
    kind: Kind
    size: int
    executable: bool
    mtime_ns: int
    entry: Entry | None = None
    """The commit's entry whose bytes this is (an unchanged file, a symlink, a submodule)."""
    data: str | None = None
    """Or the overlay data file holding its bytes (a changed file)."""
    base: str | None = None
    """For a folder: the commit's folder whose entries show in it (None: none)."""


@dataclass(slots=True)
class Planned:
    change: PendingChange
    node: Node | None
    """The file to send (create, update); None for a delete."""


@dataclass(slots=True)
class Plan:
    """The difference between the overlay and the commit, as edits."""

    edits: list[Planned]
    files: set[str]
    """Every file path of the tree where the overlay has entries (changed or not)."""
    data_ids: dict[str, str]
    """Blob ids of the overlay's data files that were hashed."""


class MountedTree:
    """The tree a mount shows. `overlay` is None on a read-only mount."""

    def __init__(self, snapshot: Snapshot, overlay: Overlay | None) -> None:
        self.snapshot = snapshot
        self.overlay = overlay
        self.uid = os.getuid()
        self.gid = os.getgid()
        self._lock = threading.RLock()
        self._changes = threading.RLock()
        self._writers: dict[int, str] = {}  # open descriptor -> overlay data file name

    @property
    def writable(self) -> bool:
        return self.overlay is not None

    # ---- resolving --------------------------------------------------------------------

    def _locked(self, fn: Callable[[], T], subtree: bool = False) -> T:
        """Runs `fn` under the lock; when it needs a listing, lists without the lock and
        runs it again (`fn` must change nothing before its last lookup). `subtree`: `fn`
        lists a folder's contents (see `Snapshot.children`)."""
        while True:
            with self._lock:
                snapshot = self.snapshot
                try:
                    return fn()
                except NeedListing as need:
                    folder = need.folder
            snapshot.children(folder, subtree)

    def _peek(self, path: str) -> Entry | None:
        return self.snapshot.peek(path)

    def _node_of(self, entry: Entry, path: str) -> Node:
        if entry.kind == "dir":
            return Node(path, "dir", 0, False, self.snapshot.time_ns, base=entry.path)
        return Node(
            path, entry.kind, entry.size, entry.executable, self.snapshot.time_ns, entry=entry
        )

    def _file_node(self, path: str, item: OverlayFile) -> Node:
        if item.data is not None and self.overlay is not None:
            info = self.overlay.stat_data(item.data)
            return Node(
                path, "file", info.st_size, item.executable, info.st_mtime_ns, data=item.data
            )
        assert item.source is not None
        return Node(
            path,
            "file",
            item.source.size,
            item.executable,
            self.snapshot.time_ns,
            entry=item.source,
        )

    def _resolve(self, path: str) -> Node | None:
        """The node at `path`, or None (call under `_lock`; may raise NeedListing)."""
        if not path:
            return Node("", "dir", 0, False, self.snapshot.time_ns, base="")
        overlay = self.overlay
        if overlay is None or not overlay.entries:
            entry = self._peek(path)
            return None if entry is None else self._node_of(entry, path)
        base: str | None = ""
        current = ""
        parts = path.split("/")
        last = len(parts) - 1
        for index, name in enumerate(parts):
            current = join(current, name)
            item = overlay.get(current)
            if item is None:
                if base is None:
                    return None
                entry = self._peek(join(base, name))
                if entry is None:
                    return None
                if index == last:
                    return self._node_of(entry, current)
                if entry.kind != "dir":
                    return None
                base = entry.path
            elif item is WHITEOUT:
                return None
            elif isinstance(item, OverlayDir):
                if index == last:
                    return Node(current, "dir", 0, False, self.snapshot.time_ns, base=item.base)
                base = item.base
            else:
                assert isinstance(item, OverlayFile)
                return self._file_node(current, item) if index == last else None
        return None  # pragma: no cover - the loop always returns

    def _names(self, node: Node) -> list[str]:
        """The names in folder `node` (call under `_lock`; may raise NeedListing)."""
        names: set[str] = set()
        if node.kind == "dir" and node.base is not None:
            listing = self.snapshot.peek_children(node.base)
            if listing:
                names.update(listing)
        if self.overlay is not None:
            for name in self.overlay.child_names(node.path):
                if self.overlay.get(join(node.path, name)) is WHITEOUT:
                    names.discard(name)
                else:
                    names.add(name)
        return sorted(names)

    def _shadow(self, path: str) -> Entry | None:
        """What the commit shows at `path` with no overlay entry at `path` itself (call under
        `_lock`; may raise NeedListing): deleting or moving `path` must hide it."""
        parent = self._resolve(parent_of(path))
        if parent is None or parent.kind != "dir" or parent.base is None:
            return None
        return self._peek(join(parent.base, path.rpartition("/")[2]))

    def resolve(self, path: str) -> Node | None:
        return self._locked(lambda: self._resolve(path))

    def getattr(self, path: str) -> Node:
        node = self.resolve(path)
        if node is None:
            raise OSError(errno.ENOENT, "no such file or folder", path)
        return node

    def listdir(self, path: str) -> list[str]:
        return [name for name, _ in self.listdir_kinds(path)]

    def listdir_kinds(self, path: str) -> list[tuple[str, Kind]]:
        """The names in folder `path` with what each is (so `readdir` can give file types
        and `find`/`grep -r` need not stat every entry)."""

        walked: list[tuple[Snapshot, str]] = []

        def run() -> list[tuple[str, Kind]]:
            walked.clear()
            node = self._resolve(path)
            if node is None:
                raise OSError(errno.ENOENT, "no such folder", path)
            if node.kind not in ("dir", "submodule"):
                raise OSError(errno.ENOTDIR, "not a folder", path)
            if node.base is not None:
                walked.append((self.snapshot, node.base))
            overlay = self.overlay
            if node.base is not None and (overlay is None or not overlay.entries):
                listing = self.snapshot.peek_children(node.base) or {}
                return [(name, listing[name].kind) for name in sorted(listing)]
            kinds: list[tuple[str, Kind]] = []
            for name in self._names(node):
                child = self._resolve(join(path, name))
                if child is not None:
                    kinds.append((name, child.kind))
            return kinds

        kinds = self._locked(run, subtree=True)
        for snapshot, folder in walked:  # without the lock: it may start a fetch
            snapshot.walk_starts(folder)
        return kinds

    def readlink(self, path: str) -> str:
        node = self.getattr(path)
        if node.kind != "symlink" or node.entry is None:
            raise OSError(errno.EINVAL, "not a symlink", path)
        return self.snapshot.readlink(node.entry)

    # ---- bytes ------------------------------------------------------------------------

    def _blob(self, node: Node) -> str:
        """The local file holding an unchanged file's bytes (downloaded once)."""
        assert node.entry is not None
        return self.snapshot.blob_file(node.entry)

    def open_read(self, path: str) -> int:
        node = self.getattr(path)
        if node.kind in ("dir", "submodule"):
            raise OSError(errno.EISDIR, "a folder", path)
        if node.kind == "symlink":
            raise OSError(errno.ELOOP, "a symlink", path)
        if node.data is not None:
            assert self.overlay is not None
            with self._lock:
                try:
                    return self.overlay.open_data(node.data, os.O_RDONLY)
                except FileNotFoundError:
                    pass  # replaced meanwhile: read what is there now
            return self.open_read(path)
        return os.open(self._blob(node), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def read(self, path: str, size: int, offset: int) -> bytes:
        """Bytes of the file at `path`, without a descriptor kept open (read-only mounts:
        libfuse opens files in C; a blob file never changes, so opening it per read is safe
        and costs microseconds, once per page the kernel has not cached)."""
        node = self.getattr(path)
        if node.kind != "file":
            raise OSError(errno.EISDIR if node.kind != "symlink" else errno.ELOOP, path)
        downloaded: Entry | None = None
        if node.data is not None:
            fd = self.open_read(path)
        else:
            assert node.entry is not None
            blob, fetched = self.snapshot.fetch_blob(node.entry)
            downloaded = node.entry if fetched else None
            fd = os.open(blob, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            data = os.pread(fd, size, offset)
        finally:
            os.close(fd)
        if downloaded is not None:
            # After the bytes are read, not before: the read-ahead's threads would contend
            # for the GIL with this read's reply (6-12 ms on a loaded machine).
            self.snapshot.read_ahead(downloaded)
        return data

    def is_writer(self, fd: int) -> bool:
        with self._lock:
            return fd in self._writers

    def release(self, fd: int) -> None:
        with self._lock:
            self._writers.pop(fd, None)
        os.close(fd)

    # ---- changing (writable mounts only) ----------------------------------------------

    def _overlay(self) -> Overlay:
        if self.overlay is None:
            raise OSError(errno.EROFS, "read-only mount")
        return self.overlay

    def _check_no_intent(self, overlay: Overlay) -> None:
        # The pending changes are the body of a commit whose outcome is unknown: sending it
        # again (`commit()`) must send the same bytes, so nothing may change them until then.
        if overlay.intent is not None:
            raise OSError(errno.EBUSY, "a commit whose outcome is unknown is open: commit()")

    def set_intent(self, intent: dict[str, Any] | None) -> None:
        """Records the open commit intent (None: none) durably before returning. Hold
        `_changes`."""
        overlay = self._overlay()
        with self._lock:
            overlay.set_intent(intent)
            overlay.sync()

    @contextlib.contextmanager
    def _changing(self) -> Iterator[Overlay]:
        """Holds `_changes` for one change and makes what it recorded durable before it
        returns (also when it failed half-way: the journal then matches memory). Refused
        (EBUSY) while a commit intent is open."""
        overlay = self._overlay()
        with self._changes:
            self._check_no_intent(overlay)
            try:
                yield overlay
            finally:
                with self._lock:
                    overlay.sync()

    def _copy_up(self, path: str, empty: bool) -> str:
        """Gives the file at `path` its own data file (a copy of its bytes, or empty) and
        returns that file's name. Hold `_changes`."""
        overlay = self._overlay()
        node = self.getattr(path)
        if node.kind != "file":
            raise OSError(errno.EISDIR if node.kind == "dir" else errno.EPERM, "not a file", path)
        if node.data is not None:
            return node.data
        source = None if empty else self._blob(node)  # the download runs without `_lock`
        name, fd = overlay.new_data()
        try:
            if source is not None:
                _copy_file(source, fd)
                os.fsync(fd)  # the entry below names these bytes: they must be there
        finally:
            os.close(fd)
        with self._lock:
            overlay.put(path, OverlayFile(executable=node.executable, data=name))
        return name

    def open_write(self, path: str, flags: int) -> int:
        with self._changing() as overlay:
            truncate = bool(flags & os.O_TRUNC)
            name = self._copy_up(path, empty=truncate)
            with self._lock:
                fd = overlay.open_data(name, os.O_RDWR)
                if truncate:
                    os.ftruncate(fd, 0)
                self._writers[fd] = name
            return fd

    def create(self, path: str, mode: int) -> int:
        self._overlay()
        check_storable_name(path)
        with self._changing() as overlay:

            def run() -> int:
                self._check_new(path)
                name, fd = overlay.new_data()
                overlay.put(path, OverlayFile(executable=bool(mode & 0o100), data=name))
                self._writers[fd] = name
                return fd

            return self._locked(run)

    def _check_new(self, path: str) -> None:
        """`path` may be made: its parent is a folder and nothing is there (under `_lock`)."""
        parent = self._resolve(parent_of(path))
        if parent is None:
            raise OSError(errno.ENOENT, "no such folder", parent_of(path))
        if parent.kind != "dir":
            raise OSError(errno.ENOTDIR if parent.kind != "submodule" else errno.EPERM, path)
        if self._resolve(path) is not None:
            raise OSError(errno.EEXIST, "already exists", path)

    def write(self, fd: int, data: bytes, offset: int) -> int:
        with self._changes:
            if not self.is_writer(fd):
                raise OSError(errno.EBADF, "not open for writing")
            self._check_no_intent(self._overlay())
            return os.pwrite(fd, data, offset)

    def truncate(self, path: str | None, length: int, fd: int | None) -> None:
        with self._changing():
            if fd is not None and self.is_writer(fd):
                os.ftruncate(fd, length)
                return
            if path is None:
                raise OSError(errno.EBADF, "not open for writing")
            name = self._copy_up(path, empty=length == 0)
            assert self.overlay is not None
            with self._lock:
                data = self.overlay.open_data(name, os.O_RDWR)
            try:
                os.ftruncate(data, length)
                os.fsync(data)  # no descriptor of the caller's will flush this one
            finally:
                os.close(data)

    def _forget(self, path: str) -> None:
        """Drops `path`'s overlay entry and every entry below it (under `_lock`)."""
        overlay = self._overlay()
        for below in [*overlay.below(path), path]:
            item = overlay.remove(below)
            if isinstance(item, OverlayFile) and item.data is not None:
                overlay.drop_data(item.data)

    def _hide(self, path: str, shadow: Entry | None) -> None:
        """After `path` was removed or moved away: a whiteout if the commit has something
        there, else no entry at all (under `_lock`)."""
        overlay = self._overlay()
        self._forget(path)
        if shadow is not None:
            overlay.put(path, WHITEOUT)

    def unlink(self, path: str) -> None:
        with self._changing():

            def run() -> None:
                node = self._resolve(path)
                if node is None:
                    raise OSError(errno.ENOENT, "no such file", path)
                if node.kind in ("dir", "submodule"):
                    raise OSError(errno.EISDIR, "a folder", path)
                self._hide(path, self._shadow(path))

            self._locked(run)

    def mkdir(self, path: str) -> None:
        self._overlay()
        check_storable_name(path)
        with self._changing() as overlay:

            def run() -> None:
                self._check_new(path)
                overlay.put(path, OverlayDir(base=None))

            self._locked(run)

    def rmdir(self, path: str) -> None:
        self._overlay()
        if not path:
            raise OSError(errno.EBUSY, "the mount's root")
        with self._changing():

            def run() -> None:
                node = self._resolve(path)
                if node is None:
                    raise OSError(errno.ENOENT, "no such folder", path)
                if node.kind != "dir":
                    raise OSError(errno.ENOTDIR, "not a folder", path)
                if self._names(node):
                    raise OSError(errno.ENOTEMPTY, "folder not empty", path)
                self._hide(path, self._shadow(path))

            self._locked(run)

    def chmod(self, path: str, mode: int) -> None:
        with self._changing() as overlay:

            def run() -> None:
                node = self._resolve(path)
                if node is None:
                    raise OSError(errno.ENOENT, "no such file", path)
                executable = bool(mode & 0o100)
                if node.kind != "file" or executable == node.executable:
                    return  # git keeps no folder modes and no bits but a file's x
                item = overlay.get(path)
                if isinstance(item, OverlayFile):
                    item.executable = executable
                    overlay.put(path, item)  # recorded again, with its new mode
                else:
                    overlay.put(path, OverlayFile(executable=executable, source=node.entry))

            self._locked(run)

    def rename(self, old: str, new: str) -> None:
        overlay = self._overlay()
        if old == new:
            return
        if not old or not new or is_within(new, old):
            raise OSError(errno.EINVAL, "cannot move a folder into itself", new)
        check_storable_name(new)
        with self._changing():
            source = self.getattr(old)
            if source.kind in ("symlink", "submodule"):
                # The API makes regular files only: a symlink cannot be made at its new path.
                raise OSError(errno.ENOTSUP, "moving a symlink or submodule is not supported", old)
            if source.kind == "dir" and source.base is not None:
                inside = self.snapshot.files_under(source.base)  # may list: no lock held
                if any(item.kind != "file" for item in inside.values()):
                    raise OSError(
                        errno.ENOTSUP, "the folder holds a symlink or submodule, not movable", old
                    )

            def run() -> None:
                node = self._resolve(old)
                if node is None:
                    raise OSError(errno.ENOENT, "no such file or folder", old)
                target = self._resolve(new)
                parent = self._resolve(parent_of(new))
                if parent is None:
                    raise OSError(errno.ENOENT, "no such folder", parent_of(new))
                if parent.kind != "dir":
                    raise OSError(errno.ENOTDIR, "not a folder", parent_of(new))
                if target is not None:
                    if node.kind == "dir" and target.kind != "dir":
                        raise OSError(errno.ENOTDIR, "not a folder", new)
                    if node.kind != "dir" and target.kind in ("dir", "submodule"):
                        raise OSError(errno.EISDIR, "a folder", new)
                    if target.kind == "dir" and self._names(target):
                        raise OSError(errno.ENOTEMPTY, "folder not empty", new)
                shadow_old = self._shadow(old)
                # Every lookup is done: change the overlay.
                moved: OverlayFile | OverlayDir
                if node.kind == "dir":
                    moved = OverlayDir(base=node.base)
                else:
                    item = overlay.get(old)
                    if isinstance(item, OverlayFile):
                        moved = item
                    else:
                        moved = OverlayFile(executable=node.executable, source=node.entry)
                    overlay.remove(old)  # keep its data file: it moves with it
                self._forget(new)
                overlay.move(old, new)
                overlay.put(new, moved)
                self._hide(old, shadow_old)

            self._locked(run)

    # ---- the difference ---------------------------------------------------------------

    def plan(self) -> Plan:
        """The edits that turn the commit into the mounted tree (hold `_changes` or accept
        that a concurrent change may or may not be in it)."""
        from mesa_sdk.fs.changes import PendingChange

        overlay = self.overlay
        if overlay is None:
            return Plan([], set(), {})
        with self._changes:
            deletes: list[Planned] = []
            updates: list[Planned] = []
            creates: list[Planned] = []
            files: set[str] = set()
            data_ids: dict[str, str] = {}
            for root in overlay.roots():
                before = self.snapshot.files_under(root)
                after = self._files_under(root)
                files.update(after)
                for path in sorted(before.keys() | after.keys()):
                    old, new = before.get(path), after.get(path)
                    if new is None:
                        deletes.append(Planned(PendingChange(path, "delete"), None))
                        continue
                    if new.kind != "file":
                        if old is not None and new.entry == old:
                            continue  # an unchanged symlink or submodule
                        raise UnsupportedChangeError(
                            f"{path!r}: the API cannot make a {new.kind} at a new path"
                        )
                    blob_id = self._blob_id(new, old, data_ids)
                    if old is None:
                        creates.append(Planned(PendingChange(path, "create", new.executable), new))
                    elif (
                        old.kind != "file" or old.sha != blob_id or old.executable != new.executable
                    ):
                        updates.append(Planned(PendingChange(path, "update", new.executable), new))
            return Plan([*deletes, *updates, *creates], files, data_ids)

    def _blob_id(self, node: Node, old: Entry | None, data_ids: dict[str, str]) -> str:
        if node.data is None:
            assert node.entry is not None
            return node.entry.sha
        overlay = self._overlay()
        fd = overlay.open_data(node.data, os.O_RDONLY)
        try:
            blob_id = git_blob_id_of_file(fd, like=old.sha if old is not None else None)
        finally:
            os.close(fd)
        data_ids[node.data] = blob_id
        return blob_id

    def _files_under(self, root: str) -> dict[str, Node]:
        """Every non-folder node of the tree at or below `root`, by path."""
        node = self.resolve(root)
        if node is None:
            return {}
        if node.kind != "dir":
            return {root: node}
        found: dict[str, Node] = {}
        stack = [node]
        overlay = self._overlay()
        while stack:
            folder = stack.pop()
            if not overlay.has_below(folder.path):
                # Nothing below is changed: the commit's folder, under this path.
                if folder.base is not None:
                    for path, entry in self.snapshot.files_under(folder.base).items():
                        moved = join(folder.path, relative_to(path, folder.base))
                        found[moved] = self._node_of(entry, moved)
                continue
            for name in self.listdir(folder.path):
                child = self.resolve(join(folder.path, name))
                if child is None:
                    continue
                if child.kind == "dir":
                    stack.append(child)
                else:
                    found[child.path] = child
        return found

    def read_bytes(self, node: Node) -> bytes:
        """The bytes of a file node (its data file, or the commit's blob)."""
        if node.data is not None:
            fd = self._overlay().open_data(node.data, os.O_RDONLY)
        else:
            fd = os.open(self._blob(node), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            chunks = []
            while chunk := os.read(fd, _COPY_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def advance(self, commit: str, plan: Plan) -> None:
        """After `plan` was committed as `commit`: show that commit, and clear the overlay but
        for files still open for writing and for empty folders (git stores neither an empty
        folder nor a write not yet made). Hold `_changes`.

        The manifest is rewritten for `commit`, without the commit intent, in one rename
        before any data file goes: a kill before it leaves the changes pending on the old base
        with the intent open, and finishing that gets this commit back (replayed)."""
        overlay = self._overlay()
        with self._lock:
            writing = set(self._writers.values())
            kept: dict[str, OverlayFile | OverlayDir] = {}
            adopted: list[tuple[str, str]] = []  # (blob id, data file) now in the commit
            for path, item in overlay.entries.items():
                if isinstance(item, OverlayFile) and item.data is not None:
                    if item.data in writing:
                        kept[path] = item
                        continue
                    blob_id = plan.data_ids.get(item.data)
                    if blob_id is not None:
                        adopted.append((blob_id, item.data))
                    else:
                        overlay.drop_data(item.data)
                elif isinstance(item, OverlayDir) and not any(
                    is_within(file, path) for file in plan.files
                ):
                    kept[path] = OverlayDir(base=None)
            changed = [planned.change.path for planned in plan.edits]
            self.snapshot = self.snapshot.advanced(commit, time.time_ns(), changed)
            overlay.clear()
            for path in sorted(kept):
                overlay.put(path, kept[path])
            overlay.info["base_sha"] = commit
            overlay.intent = None  # made: dropped by the same rename as the entries
            overlay.compact()
            for blob_id, name in adopted:
                self.snapshot.blobs.adopt(blob_id, overlay.data_path(name))

    def rebase(self, head: Snapshot) -> list[str]:
        """Puts the overlay on `head` (a later commit of the branch) if no path the overlay
        touches differs between the mounted commit and `head`; otherwise changes nothing and
        returns the paths that differ (changed on both sides)."""
        overlay = self._overlay()
        with self._changes:
            if overlay.intent is not None:
                raise MountError("a commit whose outcome is unknown is open: commit() first")
            conflicts: list[str] = []
            for root in overlay.roots():
                before = self.snapshot.files_under(root)
                after = head.files_under(root)
                conflicts.extend(
                    path
                    for path in sorted(before.keys() | after.keys())
                    if before.get(path) != after.get(path)
                )
            if not conflicts:
                with self._lock:
                    self.snapshot = head
                    overlay.info["base_sha"] = head.commit
                    overlay.compact()
            return conflicts


def _copy_file(source: str, fd: int) -> None:
    src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        offset = 0
        while True:
            chunk = os.pread(src, _COPY_CHUNK, offset)
            if not chunk:
                return
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fd, view, offset)
                view = view[written:]
                offset += written
    finally:
        os.close(src)
