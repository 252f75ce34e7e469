"""The part of fusepy this package uses, typed (fusepy ships no type information).

fusepy is imported only when a mount starts: importing it looks for libfuse and fails on a
machine without it, and `import mesa_sdk.fs` should work everywhere.

A read-only mount is served through libfuse's low-level API where this package knows the
machine's structures (`_lowlevel`), which lets the kernel cache folder listings. Otherwise,
and for writable mounts, fusepy's `FUSE` serves it, with one method replaced: `readdir`.
fusepy builds a fresh stat structure per entry from a dict; here the operations return
`(encoded name, type bits)` pairs and the entries share one prebuilt structure per type,
which is all libfuse reads from it (it copies the mode into the entry's d_type, so `find`
and `grep -r` need not stat each entry).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["SYSTEM_FUSE", "FuseRunner", "load_fuse", "require_fusepy"]

SYSTEM_FUSE = (
    "the system's libfuse 2 and fusermount (Debian/Ubuntu: apt install fuse; "
    "Fedora: dnf install fuse fuse-libs; macOS: macFUSE)"
)
"""What FUSE needs from the system, which pip cannot install."""


class FuseRunner(Protocol):
    """`fuse.FUSE`: mounts `operations` at `mountpoint` and serves it until unmounted."""

    def __call__(
        self,
        operations: object,
        mountpoint: str,
        *,
        foreground: bool,
        nothreads: bool,
        **options: object,
    ) -> object: ...


def require_fusepy() -> None:
    """Raises `MissingExtraError`, naming the `fs` extra and the system's FUSE, without fusepy."""
    from mesa_sdk.extras import require_extra

    require_extra("fs", "mesa_sdk.fs", {"fuse": "fusepy"}, f"; FUSE also needs {SYSTEM_FUSE}")


def load_fuse(*, read_only: bool = False) -> FuseRunner:
    """What serves a mount: the low-level adapter for a read-only one where supported, else
    fusepy's `FUSE` with the faster `readdir`. Raises ImportError or OSError (no libfuse)
    when FUSE is unavailable."""
    import ctypes

    require_fusepy()
    try:
        import fuse  # type: ignore[import-untyped]
    except OSError as error:  # fusepy looks for libfuse as it is imported
        raise OSError(f"libfuse was not found ({error}): install {SYSTEM_FUSE}") from error

    from mesa_sdk.fs._lowlevel import lowlevel_supported, serve_read_only

    if read_only and lowlevel_supported():
        return serve_read_only

    stats: dict[int, Any] = {}  # mode -> pointer to a shared stat structure

    def stat_of(mode: int) -> Any:
        pointer = stats.get(mode)
        if pointer is None:
            st = fuse.c_stat()
            st.st_mode = mode
            pointer = stats[mode] = ctypes.pointer(st)
        return pointer

    class FUSE(fuse.FUSE):  # type: ignore[misc]
        def readdir(self, path: bytes, buf: Any, filler: Any, offset: int, fip: Any) -> int:
            entries = self.operations("readdir", self._decode_optional_path(path), fip.contents.fh)
            for name, mode in entries:
                if filler(buf, name, stat_of(mode), 0) != 0:
                    break
            return 0

    runner: FuseRunner = FUSE
    return runner
