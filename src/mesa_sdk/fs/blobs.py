"""The on-disk blob cache: file bytes by git object id, fetched once, checked, kept on disk.

A blob's id is the hash of its bytes, so a cached blob never goes stale: the same file at
another commit, path or mount is the same cache entry. A blob is streamed to a temporary file
(never held whole in memory), its git object id recomputed from the bytes that arrived and
compared with the expected one, and only then renamed into place; a short or corrupt download
is an error, never a wrong file. Concurrent requests for one blob make one download.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from mesa_sdk.fs.singleflight import SingleFlight

__all__ = ["BlobCache", "BlobFetch", "git_blob_id", "git_blob_id_of_file"]

_CHUNK = 1 << 20


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


BlobFetch = Callable[[], Iterator[bytes]]
"""Yields a blob's raw bytes (closing whatever it opened when closed early)."""


def _hasher(object_id: str, size: int) -> _Hasher | None:
    """A hasher primed with git's `blob <size>\\0` header, for a SHA-1 or SHA-256 id."""
    if len(object_id) == 40:
        hasher: _Hasher = hashlib.sha1(usedforsecurity=False)
    elif len(object_id) == 64:
        hasher = hashlib.sha256()
    else:
        return None
    hasher.update(b"blob %d\x00" % size)
    return hasher


def git_blob_id(data: bytes, like: str | None = None) -> str:
    """The git object id of a blob holding `data` (SHA-256 when `like` is a SHA-256 id)."""
    hasher = _hasher(like or "0" * 40, len(data))
    assert hasher is not None
    hasher.update(data)
    return hasher.hexdigest()


def git_blob_id_of_file(fd: int, like: str | None = None) -> str:
    """The git object id of the bytes of the open file `fd` (read with pread; fd untouched)."""
    size = os.fstat(fd).st_size
    hasher = _hasher(like or "0" * 40, size)
    assert hasher is not None
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
        if not chunk:
            break
        hasher.update(chunk)
        offset += len(chunk)
    return hasher.hexdigest()


def _owner_alive(name: str) -> bool:
    """Whether the process whose id starts `name` (`<pid>-...`) still runs; a name of no
    process (from an older version) counts as dead."""
    pid_text, _, _ = name.partition("-")
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class BlobCache:
    """Blobs by object id under `root` (`root/ab/cdef...`), downloaded on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / "incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)
        self._flight: SingleFlight[str] = SingleFlight()
        self._lock = threading.Lock()
        self._closed = False
        self._remove_dead_leftovers()

    def temporary_folder(self, kind: str) -> Path:
        """A new folder under the cache root, on its file system (so its files can be renamed
        in), named for this process: a process killed while using it leaves it to the next
        cache opened on this root to remove."""
        return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=self.root))

    def _remove_dead_leftovers(self) -> None:
        # Several mounts may share a cache folder: only what a dead process left is removed.
        places = [(self.root, "trees-"), (self._incoming, "")]
        for folder, prefix in places:
            for entry in os.scandir(folder):
                if entry.name.startswith(prefix) and not _owner_alive(entry.name[len(prefix) :]):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)

    def close(self) -> None:
        """No file is added after this (a download still under way is dropped, none starts),
        so the folder can be removed without a late download bringing part of it back."""
        with self._lock:
            self._closed = True

    def _place(self, source: str, target: str) -> None:
        with self._lock:
            if self._closed:
                raise OSError(errno.ESHUTDOWN, "the mount is closed")
            try:
                os.replace(source, target)
            except FileNotFoundError:  # the blob's folder is not made yet (an mkdir each costs)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(source, target)

    def path(self, object_id: str) -> str:
        if not object_id.isalnum() or len(object_id) < 4:
            raise OSError(errno.EIO, "not a blob id", object_id)
        return os.path.join(self.root, object_id[:2], object_id[2:])

    def get(self, object_id: str, size: int, fetch: BlobFetch) -> str:
        """The cached file holding blob `object_id` (`size` bytes), downloading it first if
        needed; one download however many threads ask at once."""
        target = self.path(object_id)
        if os.path.exists(target):
            return target
        return self._flight.do(object_id, lambda: self._download(object_id, size, fetch))

    def _download(self, object_id: str, size: int, fetch: BlobFetch) -> str:
        target = self.path(object_id)
        if os.path.exists(target):  # another thread finished just before we started
            return target
        hasher = _hasher(object_id, size)
        with self._lock:
            if self._closed:
                raise OSError(errno.ESHUTDOWN, "the mount is closed")
            fd, incoming = tempfile.mkstemp(prefix=f"{os.getpid()}-", dir=self._incoming)
        try:
            received = 0
            chunks: Iterator[bytes] = iter(()) if size == 0 else fetch()  # no request for b""
            try:
                for chunk in chunks:
                    received += len(chunk)
                    if received > size:
                        break
                    if hasher is not None:
                        hasher.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            if received != size:
                raise OSError(
                    errno.EIO,
                    f"blob {object_id} came with {received} bytes, expected {size}",
                )
            if hasher is not None and hasher.hexdigest() != object_id:
                raise OSError(errno.EIO, f"blob {object_id} came with different bytes")
            os.close(fd)
            fd = -1
            self._place(incoming, target)
            return target
        finally:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(incoming)

    def adopt_folder(self, staged: Path) -> set[str]:
        """Moves the blob files of `staged`, laid out as the cache is (`ab/cdef...`) and each
        known to hold its blob, into the cache (on the same file system): a whole `ab`
        folder the cache lacks in one rename, the others file by file (a blob already
        cached is left where it is). Returns the ids of the blobs now cached."""
        cached: set[str] = set()
        for shard in os.scandir(staged):
            names = os.listdir(shard.path)
            target = os.path.join(self.root, shard.name)
            with self._lock:
                if self._closed:
                    raise OSError(errno.ESHUTDOWN, "the mount is closed")
                try:
                    os.rename(shard.path, target)  # fails when the cache has that folder
                    cached.update(shard.name + name for name in names)
                    continue
                except OSError as error:
                    if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                        raise
                for name in names:
                    if not os.path.exists(os.path.join(target, name)):
                        os.replace(os.path.join(shard.path, name), os.path.join(target, name))
                    cached.add(shard.name + name)
        return cached

    def adopt(self, object_id: str, source: str) -> None:
        """Moves a local file known to hold blob `object_id` into the cache (or drops it if
        the cache has that blob already), so a file just committed is not downloaded again."""
        target = self.path(object_id)
        if os.path.exists(target):
            os.unlink(source)
            return
        try:
            self._place(source, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            fd, incoming = tempfile.mkstemp(prefix=f"{os.getpid()}-", dir=self._incoming)
            os.close(fd)
            shutil.copyfile(source, incoming)
            self._place(incoming, target)
            os.unlink(source)
