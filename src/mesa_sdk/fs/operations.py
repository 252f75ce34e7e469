"""The FUSE operations fusepy calls: FUSE paths and file handles in, `MountedTree` calls out.

fusepy registers with libfuse exactly the operations this class has (it does not subclass
`fuse.Operations`, whose defaults would register everything), and calls them through
`__call__`, which turns every failure into an errno: an SDK `NotFoundError` is ENOENT (EIO
when the repository or the commit is gone), a missing credential or scope EACCES, anything
else the server or the network did EIO (logged once, without the key, which this package
never sees).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from typing import Any

from mesa_sdk.fs.paths import repo_path
from mesa_sdk.fs.remote import GONE_CODES
from mesa_sdk.fs.tree import MountedTree, Node

__all__ = [
    "OpenlessReadOperations",
    "ReadOperations",
    "WriteOperations",
    "kernel_skips_open",
    "operations_for",
]

log = logging.getLogger("mesa_sdk.fs")

_TYPE_BITS = {
    "dir": stat.S_IFDIR,
    "submodule": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "file": stat.S_IFREG,
}

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC


def operations_for(tree: MountedTree) -> ReadOperations:
    if tree.writable:
        return WriteOperations(tree)
    return ReadOperations(tree) if kernel_skips_open() else OpenlessReadOperations(tree)


def kernel_skips_open(release: str | None = None) -> bool:
    """Whether the kernel handles a filesystem without `open` (Linux 5.1 and later)."""
    release = release if release is not None else os.uname().release
    try:
        major, minor = (int(part) for part in release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 1)


def _as_errno(op: str, args: tuple[Any, ...], error: Exception) -> OSError:
    """The errno a failed operation answers with (logged unless it is a plain miss)."""
    from mesa_sdk import AuthenticationError, AuthorizationError, MesaError, NotFoundError

    if isinstance(error, OSError) and not isinstance(error, MesaError) and error.errno:
        return error  # already an errno (the SDK's connection errors are OSErrors too)
    if isinstance(error, NotFoundError) and error.code in GONE_CODES:
        # EIO, not ENOENT: glibc's readdir takes ENOENT for the end of a folder, so a folder
        # of a deleted repository would list as empty.
        log.warning("%s %s: the repository or commit is gone: %s", op, args[:1], error)
        return OSError(errno.EIO, "the repository or commit is gone")
    if isinstance(error, NotFoundError):
        return OSError(errno.ENOENT, "not found")
    if isinstance(error, (AuthenticationError, AuthorizationError)):
        log.warning("%s %s: the API refused: %s", op, args[:1], error)
        return OSError(errno.EACCES, "refused by the API")
    if isinstance(error, MesaError):
        log.warning("%s %s failed: %s", op, args[:1], error)
        return OSError(errno.EIO, "the API call failed")
    log.error("%s %s failed", op, args[:1], exc_info=error)
    return OSError(errno.EIO, "internal error")


class ReadOperations:
    """The operations of a read-only mount.

    Served through the low-level adapter (`_lowlevel`) where it runs, which answers OPEN
    and OPENDIR itself; otherwise by fusepy, for which the rest of this note holds.
    Deliberately few: libfuse answers everything not defined here in C, without entering
    Python. `open` answers ENOSYS once: a kernel that supports it (Linux >= 5.1) then stops
    sending OPEN, RELEASE and FLUSH for files altogether and keeps their pages cached (its
    no-open mode), so opening a cached file costs no round trip to this process at all;
    `read` finds the bytes by path, in the blob cache. On older kernels `open` is left to
    libfuse. Mutators are not defined: the mount is `ro`, the kernel answers them EROFS.
    """

    use_ns = True  # fusepy: times are integer nanoseconds

    def __init__(self, tree: MountedTree) -> None:
        self.tree = tree
        self.ready = threading.Event()
        """Set by `init`: libfuse is serving (under fusepy, with its signal handlers)."""
        self._listings: dict[str, list[tuple[bytes, int]]] = {}

    def __call__(self, op: str, *args: Any) -> Any:
        try:
            return getattr(self, op)(*args)
        except Exception as error:
            answer = _as_errno(op, args, error)
            if answer is error:
                raise
            raise answer from None

    # ---- lifecycle --------------------------------------------------------------------

    def init(self, path: str) -> None:
        self.ready.set()

    def destroy(self, path: str) -> None:
        pass

    # ---- reading ----------------------------------------------------------------------

    def _attrs(self, node: Node) -> dict[str, int]:
        if node.kind in ("dir", "submodule"):
            mode = stat.S_IFDIR | 0o755
        elif node.kind == "symlink":
            mode = stat.S_IFLNK | 0o777
        else:
            mode = stat.S_IFREG | (0o755 if node.executable else 0o644)
        return {
            "st_mode": mode,
            # 1 for folders: "unknown", so tools never guess subfolder counts from it.
            "st_nlink": 1,
            "st_size": node.size,
            "st_blocks": (node.size + 511) // 512,
            "st_uid": self.tree.uid,
            "st_gid": self.tree.gid,
            "st_atime": node.mtime_ns,
            "st_mtime": node.mtime_ns,
            "st_ctime": node.mtime_ns,
        }

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
        if fh is not None and self.tree.is_writer(fh):
            # A file open for writing: its size is the data file's, whatever its path now.
            info = os.fstat(fh)
            node = self.tree.resolve(repo_path(path)) if path is not None else None
            executable = node.executable if node is not None else False
            attrs = self._attrs(Node("", "file", info.st_size, executable, info.st_mtime_ns))
            return attrs
        return self._attrs(self.tree.getattr(repo_path(path)))

    def readdir(self, path: str, fh: int) -> list[tuple[bytes, int]]:
        """(encoded name, type bits) pairs, for `_fusepy`'s readdir; kept per folder on a
        read-only mount, whose folders never change."""
        cached = self._listings.get(path)
        if cached is not None:
            return cached
        entries = [(b".", stat.S_IFDIR), (b"..", stat.S_IFDIR)]
        for name, kind in self.tree.listdir_kinds(repo_path(path)):
            entries.append((name.encode("utf-8", "surrogateescape"), _TYPE_BITS[kind]))
        if not self.tree.writable:
            self._listings[path] = entries
        return entries

    def readlink(self, path: str) -> str:
        return self.tree.readlink(repo_path(path))

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return self.tree.read(repo_path(path), size, offset)

    def open(self, path: str, flags: int) -> int:
        raise OSError(errno.ENOSYS, "no open needed")

    def statfs(self, path: str) -> dict[str, int]:
        if self.tree.overlay is not None:
            info = os.statvfs(self.tree.overlay.root)
            return {
                "f_bsize": info.f_bsize,
                "f_frsize": info.f_frsize,
                "f_blocks": info.f_blocks,
                "f_bfree": info.f_bfree,
                "f_bavail": info.f_bavail,
                "f_files": info.f_files,
                "f_ffree": info.f_ffree,
                "f_favail": info.f_favail,
                "f_namemax": 255,
            }
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}


class OpenlessReadOperations(ReadOperations):
    """A read-only mount on an older kernel: libfuse answers OPEN itself (in C)."""

    open = None  # type: ignore[assignment]  # fusepy registers only operations that exist


class WriteOperations(ReadOperations):
    """The operations of a writable mount: reads through open descriptors, and changes."""

    def open(self, path: str, flags: int) -> int:
        if flags & _WRITE_FLAGS:
            return self.tree.open_write(repo_path(path), flags)
        return self.tree.open_read(repo_path(path))

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def release(self, path: str | None, fh: int) -> None:
        self.tree.release(fh)

    def flush(self, path: str | None, fh: int) -> None:
        # Every close(2) waits for this: what was written is durable once close returns
        # (a kill -9 or a power loss after it loses nothing). Writes themselves are not
        # fsync'd one by one: a large copy would pay for each.
        if self.tree.is_writer(fh):
            os.fsync(fh)

    def fsync(self, path: str | None, datasync: int, fh: int) -> None:
        # The overlay is local files: make them durable; the commit is what publishes.
        if self.tree.is_writer(fh):
            os.fsync(fh)

    # ---- changing ---------------------------------------------------------------------

    def create(self, path: str, mode: int) -> int:
        return self.tree.create(repo_path(path), mode)

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        return self.tree.write(fh, data, offset)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> None:
        self.tree.truncate(None if path is None else repo_path(path), length, fh)

    def unlink(self, path: str) -> None:
        self.tree.unlink(repo_path(path))

    def mkdir(self, path: str, mode: int) -> None:
        self.tree.mkdir(repo_path(path))

    def rmdir(self, path: str) -> None:
        self.tree.rmdir(repo_path(path))

    def rename(self, old: str, new: str) -> None:
        self.tree.rename(repo_path(old), repo_path(new))

    def chmod(self, path: str, mode: int) -> None:
        self.tree.chmod(repo_path(path), mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        # Git stores no owners: accept and keep (cp -p, tar and rsync call it).
        self.tree.getattr(repo_path(path))

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> None:
        # Git stores no times: accept (touch, cp -p) but keep none.
        self.tree.getattr(repo_path(path))

    def symlink(self, target: str, source: str) -> None:
        # The commits API makes regular files only.
        raise OSError(errno.ENOTSUP, "symlinks cannot be committed through the API")

    def link(self, target: str, source: str) -> None:
        raise OSError(errno.ENOTSUP, "hard links are not supported")

    def mknod(self, path: str, mode: int, dev: int) -> None:
        raise OSError(errno.ENOTSUP, "only regular files and folders can be made")
