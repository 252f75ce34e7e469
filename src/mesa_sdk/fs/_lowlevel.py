"""A read-only mount served through libfuse's low-level API, so the kernel caches everything.

fusepy binds libfuse's high-level API, which names files by path and must see every
`opendir`: it keeps a handle per open folder, so each folder listing costs four round trips
between the kernel and this process (OPENDIR, READDIR, READDIR at the end, RELEASEDIR),
however often the folder was listed before. That is most of what a warm `grep -r` costs.
The low-level API names files by inode, so it can answer OPENDIR and OPEN with ENOSYS: a
kernel that supports it (Linux 5.1 and later) then stops sending them, and keeps folder
listings as well as file pages in its cache (the default it gives a filesystem without
opendir). A warm mount then answers `ls`, `find` and `grep -r` without entering Python.

This module is only the adapter: paths and inode numbers in both directions, and the
replies. The operations themselves are `ReadOperations`, called through its `__call__`
exactly as fusepy calls it. It uses fusepy's loaded libfuse and its structures, adding the
few low-level declarations fusepy does not have. Writable mounts stay on fusepy: their
open files need the handles the high-level API keeps.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import platform
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

__all__ = ["lowlevel_supported", "serve_read_only"]

log = logging.getLogger("mesa_sdk.fs")

# `struct stat` as glibc lays it out; fusepy's `c_stat` stops before the reserved tail,
# which the kernel-facing code never reads but which `fuse_entry_param` must include.
_STAT_SIZES = {"x86_64": 144, "aarch64": 128}

# Kernel-facing options: the rest of the mount's options are libfuse high-level ones that
# this adapter carries out itself (the timeouts in its replies, the page cache by default).
_ADAPTER_OPTIONS = ("attr_timeout", "entry_timeout", "negative_timeout", "kernel_cache")


def lowlevel_supported(machine: str | None = None, system: str | None = None) -> bool:
    """Whether this adapter knows the machine's `struct stat` (Linux on x86_64 or aarch64)."""
    system = system if system is not None else platform.system()
    machine = machine if machine is not None else platform.machine()
    return system == "Linux" and machine in _STAT_SIZES


class _Library:
    """libfuse's low-level functions, declared on fusepy's loaded library."""

    def __init__(self) -> None:
        import fuse  # type: ignore[import-untyped]

        self.fuse = fuse
        lib = fuse._libfuse
        ino = ctypes.c_ulong  # fuse_ino_t
        req = ctypes.c_void_p  # fuse_req_t
        file_info = ctypes.POINTER(fuse.fuse_file_info)
        stat_size = _STAT_SIZES[platform.machine()]

        class Stat(ctypes.Structure):
            _fields_ = [
                ("st", fuse.c_stat),
                ("reserved", ctypes.c_char * (stat_size - ctypes.sizeof(fuse.c_stat))),
            ]

        class EntryParam(ctypes.Structure):
            _fields_ = [
                ("ino", ino),
                ("generation", ctypes.c_ulong),
                ("attr", Stat),
                ("attr_timeout", ctypes.c_double),
                ("entry_timeout", ctypes.c_double),
            ]

        class Args(ctypes.Structure):
            _fields_ = [
                ("argc", ctypes.c_int),
                ("argv", ctypes.POINTER(ctypes.c_char_p)),
                ("allocated", ctypes.c_int),
            ]

        callback = ctypes.CFUNCTYPE
        unused = ctypes.c_void_p  # left NULL

        class LowlevelOps(ctypes.Structure):
            # `struct fuse_lowlevel_ops` of libfuse 2.9, up to `readdir`; libfuse takes the
            # size it is given and leaves the rest unset (answered in C: ENOSYS or defaults).
            _fields_ = [
                ("init", callback(None, ctypes.c_void_p, ctypes.c_void_p)),
                ("destroy", callback(None, ctypes.c_void_p)),
                ("lookup", callback(None, req, ino, ctypes.c_char_p)),
                ("forget", unused),
                ("getattr", callback(None, req, ino, file_info)),
                ("setattr", unused),
                ("readlink", callback(None, req, ino)),
                ("mknod", unused),
                ("mkdir", unused),
                ("unlink", unused),
                ("rmdir", unused),
                ("symlink", unused),
                ("rename", unused),
                ("link", unused),
                ("open", callback(None, req, ino, file_info)),
                ("read", callback(None, req, ino, ctypes.c_size_t, fuse.c_off_t, file_info)),
                ("write", unused),
                ("flush", unused),
                ("release", unused),
                ("fsync", unused),
                ("opendir", callback(None, req, ino, file_info)),
                ("readdir", callback(None, req, ino, ctypes.c_size_t, fuse.c_off_t, file_info)),
            ]

        self.Stat, self.EntryParam = Stat, EntryParam
        self.Args, self.LowlevelOps = Args, LowlevelOps

        def declare(name: str, restype: Any, *argtypes: Any) -> Any:
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, list(argtypes)
            return function

        pointer = ctypes.c_void_p
        self.mount = declare("fuse_mount", pointer, ctypes.c_char_p, ctypes.POINTER(Args))
        self.unmount = declare("fuse_unmount", None, ctypes.c_char_p, pointer)
        self.session_new = declare(
            "fuse_lowlevel_new",
            pointer,
            ctypes.POINTER(Args),
            ctypes.POINTER(LowlevelOps),
            ctypes.c_size_t,
            pointer,
        )
        self.add_chan = declare("fuse_session_add_chan", None, pointer, pointer)
        self.remove_chan = declare("fuse_session_remove_chan", None, pointer)
        self.session_destroy = declare("fuse_session_destroy", None, pointer)
        self.loop = declare("fuse_session_loop", ctypes.c_int, pointer)
        self.loop_mt = declare("fuse_session_loop_mt", ctypes.c_int, pointer)
        self.reply_err = declare("fuse_reply_err", ctypes.c_int, req, ctypes.c_int)
        self.reply_entry = declare(
            "fuse_reply_entry", ctypes.c_int, req, ctypes.POINTER(EntryParam)
        )
        self.reply_attr = declare(
            "fuse_reply_attr", ctypes.c_int, req, ctypes.POINTER(Stat), ctypes.c_double
        )
        self.reply_readlink = declare("fuse_reply_readlink", ctypes.c_int, req, ctypes.c_char_p)
        self.reply_open = declare("fuse_reply_open", ctypes.c_int, req, file_info)
        self.reply_buf = declare(
            "fuse_reply_buf", ctypes.c_int, req, ctypes.c_char_p, ctypes.c_size_t
        )
        self.add_direntry = declare(
            "fuse_add_direntry",
            ctypes.c_size_t,
            req,
            pointer,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.POINTER(Stat),
            fuse.c_off_t,
        )


_library: _Library | None = None
_library_lock = threading.Lock()


def _load() -> _Library:
    global _library
    with _library_lock:
        if _library is None:
            _library = _Library()
        return _library


class _Inodes:
    """Inode numbers for FUSE paths, given out on first sight and never reused: the mounted
    tree is a fixed commit, so a path means one file for the life of the mount."""

    ROOT = 1

    def __init__(self) -> None:
        self._paths: list[str] = ["", "/"]  # index = inode number; 0 is "no inode"
        self._numbers: dict[str, int] = {"/": self.ROOT}
        self._lock = threading.Lock()

    def path(self, ino: int) -> str:
        return self._paths[ino]

    def number(self, path: str) -> int:
        number = self._numbers.get(path)
        if number is None:
            with self._lock:
                number = self._numbers.get(path)
                if number is None:
                    number = self._numbers[path] = len(self._paths)
                    self._paths.append(path)
        return number


def _child(parent: str, name: str) -> str:
    return parent + name if parent == "/" else f"{parent}/{name}"


P = ParamSpec("P")


def _answered(
    handler: Callable[Concatenate[_ReadOnlyAdapter, int, P], None],
) -> Callable[Concatenate[_ReadOnlyAdapter, int, P], None]:
    """A callback that answers its request exactly once: with an errno when `handler` raised
    (an exception cannot cross back into libfuse, which would leave the caller waiting)."""

    def answer(self: _ReadOnlyAdapter, req: int, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            handler(self, req, *args, **kwargs)
        except BaseException as error:
            if isinstance(error, OSError) and error.errno:
                code = error.errno
            else:  # ReadOperations maps every API failure to an errno: this is a bug
                log.error("%s failed", handler.__name__, exc_info=error)
                code = errno.EIO
            self.lib.reply_err(req, code)

    return answer


class _ReadOnlyAdapter:
    """The low-level callbacks, each answering its request exactly once."""

    def __init__(
        self,
        library: _Library,
        operations: Any,
        *,
        attr_timeout: float,
        entry_timeout: float,
        negative_timeout: float,
        skip_opens: bool,
    ) -> None:
        self.lib = library
        self.operations = operations
        self.inodes = _Inodes()
        self.attr_timeout = float(attr_timeout)
        self.entry_timeout = float(entry_timeout)
        self.negative_timeout = float(negative_timeout)
        self.skip_opens = skip_opens

    def callbacks(self) -> Any:
        """The `fuse_lowlevel_ops` structure: this object's methods, by field name."""
        ops = self.lib.LowlevelOps()
        for field in ops._fields_:
            name, prototype = field[0], field[1]
            handler = getattr(self, name, None)
            if handler is not None and prototype is not ctypes.c_void_p:
                setattr(ops, name, prototype(handler))
        return ops

    def _stat(self, target: Any, ino: int, attrs: dict[str, int]) -> None:
        self.lib.fuse.set_st_attrs(target.st, attrs, use_ns=True)
        target.st.st_ino = ino

    def _open(self, req: int, fi: Any, *, keep_cache: bool) -> None:
        if self.skip_opens:
            # Once: the kernel then opens without asking, and keeps pages and listings.
            self.lib.reply_err(req, errno.ENOSYS)
            return
        if keep_cache:
            fi.contents.keep_cache = 1  # a fixed commit: pages stay valid across opens
        self.lib.reply_open(req, fi)

    # ---- lifecycle --------------------------------------------------------------------

    def init(self, userdata: int, conn: int) -> None:
        self.operations("init", "/")

    def destroy(self, userdata: int) -> None:
        self.operations("destroy", "/")

    # ---- names and attributes ---------------------------------------------------------

    @_answered
    def lookup(self, req: int, parent: int, name: bytes) -> None:
        path = _child(self.inodes.path(parent), name.decode("utf-8", "surrogateescape"))
        entry = self.lib.EntryParam()
        try:
            attrs = self.operations("getattr", path)
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise
            # Inode 0: a miss the kernel remembers, so a probe for a file that is not
            # there (a .gitignore, an __init__.py) is asked once.
            entry.entry_timeout = self.negative_timeout
        else:
            entry.ino = self.inodes.number(path)
            entry.generation = 1
            self._stat(entry.attr, entry.ino, attrs)
            entry.attr_timeout = self.attr_timeout
            entry.entry_timeout = self.entry_timeout
        self.lib.reply_entry(req, ctypes.byref(entry))

    @_answered
    def getattr(self, req: int, ino: int, fi: Any) -> None:
        st = self.lib.Stat()
        self._stat(st, ino, self.operations("getattr", self.inodes.path(ino)))
        self.lib.reply_attr(req, ctypes.byref(st), self.attr_timeout)

    @_answered
    def readlink(self, req: int, ino: int) -> None:
        target = self.operations("readlink", self.inodes.path(ino))
        self.lib.reply_readlink(req, target.encode("utf-8", "surrogateescape"))

    # ---- files ------------------------------------------------------------------------

    def open(self, req: int, ino: int, fi: Any) -> None:
        self._open(req, fi, keep_cache=True)

    @_answered
    def read(self, req: int, ino: int, size: int, offset: int, fi: Any) -> None:
        data = self.operations("read", self.inodes.path(ino), size, offset, 0)
        self.lib.reply_buf(req, data, len(data))

    # ---- folders ----------------------------------------------------------------------

    def opendir(self, req: int, ino: int, fi: Any) -> None:
        self._open(req, fi, keep_cache=False)

    @_answered
    def readdir(self, req: int, ino: int, size: int, offset: int, fi: Any) -> None:
        path = self.inodes.path(ino)
        entries = self.operations("readdir", path, 0)  # kept per folder by ReadOperations
        buffer = ctypes.create_string_buffer(size)
        st = self.lib.Stat()
        used = 0
        for index in range(offset, len(entries)):
            name, mode = entries[index]
            if name == b".":
                number = ino
            elif name == b"..":
                number = self.inodes.number(os.path.dirname(path)) if path != "/" else ino
            else:
                number = self.inodes.number(_child(path, name.decode("utf-8", "surrogateescape")))
            st.st.st_ino, st.st.st_mode = number, mode
            # The offset stored with an entry is where the next READDIR resumes.
            length = self.lib.add_direntry(
                req, ctypes.byref(buffer, used), size - used, name, st, index + 1
            )
            if length > size - used:
                break
            used += length
        self.lib.reply_buf(req, buffer, used)


def serve_read_only(
    operations: object,
    mountpoint: str,
    *,
    foreground: bool,
    nothreads: bool,
    **options: object,
) -> None:
    """Mounts `operations` (a `ReadOperations`) read-only at `mountpoint` and serves it until
    it is unmounted. Takes the same arguments as fusepy's `FUSE`, so `Mount` can use either;
    raises RuntimeError when libfuse cannot mount (it prints why)."""
    from mesa_sdk.fs.operations import kernel_skips_open

    lib = _load()
    adapter = _ReadOnlyAdapter(
        lib,
        operations,
        attr_timeout=float(options.get("attr_timeout", 1.0)),  # type: ignore[arg-type]
        entry_timeout=float(options.get("entry_timeout", 1.0)),  # type: ignore[arg-type]
        negative_timeout=float(options.get("negative_timeout", 0.0)),  # type: ignore[arg-type]
        skip_opens=kernel_skips_open(),
    )
    callbacks = adapter.callbacks()  # kept alive by this frame until the loop ends
    mount_options = ["ro"]
    for key, value in options.items():
        if key in _ADAPTER_OPTIONS or key == "ro" or value is False:
            continue
        mount_options.append(key if value is True else f"{key}={value}")
    argv = [b"mesa-fs", b"-o", ",".join(mount_options).encode()]
    array = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
    args = lib.Args(len(argv), array, 0)
    path = os.fsencode(mountpoint)

    channel = lib.mount(path, ctypes.byref(args))
    if not channel:
        raise RuntimeError(f"libfuse could not mount {mountpoint}")
    try:
        session = lib.session_new(
            ctypes.byref(args), ctypes.byref(callbacks), ctypes.sizeof(callbacks), None
        )
        if not session:
            raise RuntimeError("libfuse rejected the mount options")
        lib.add_chan(session, channel)
        try:
            status = lib.loop(session) if nothreads else lib.loop_mt(session)
        finally:
            lib.remove_chan(channel)
            lib.session_destroy(session)
    finally:
        lib.unmount(path, channel)
    if status != 0:
        raise RuntimeError("libfuse stopped serving after an error (it printed why)")
