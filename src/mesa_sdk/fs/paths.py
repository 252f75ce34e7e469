"""Paths: FUSE paths in, repository paths out.

FUSE hands every operation an absolute path (`/src/main.py`); the filesystem works on
repository paths, relative and `/`-separated (`src/main.py`, `""` for the root). Every FUSE
path is checked here before anything else sees it: an empty, `.` or `..` segment, a NUL or a
path not starting with `/` is refused, so no path can name anything outside the mount.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "ancestors",
    "check_storable_name",
    "inside",
    "is_within",
    "join",
    "parent_of",
    "relative_to",
    "repo_path",
]


def repo_path(fuse_path: str | None) -> str:
    """The repository path of a FUSE path: `/a/b` -> `a/b`, `/` -> `""`.

    Raises OSError(EINVAL) for a path that is not absolute or has an empty, `.` or `..`
    segment or a NUL (the kernel never sends one; nothing else may).
    """
    if fuse_path is None or not fuse_path.startswith("/") or "\x00" in fuse_path:
        raise OSError(errno.EINVAL, "not a path inside the mount", fuse_path)
    if fuse_path == "/":
        return ""
    parts = fuse_path[1:].split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise OSError(errno.EINVAL, "not a path inside the mount", fuse_path)
    return "/".join(parts)


def check_storable_name(path: str) -> None:
    """Refuses (EINVAL) a new path the repository could not store: a `.git` segment (in any
    case) or a backslash, which the API rejects. Raised when the file is made, not at commit."""
    for part in path.split("/"):
        if part.lower() == ".git" or "\\" in part:
            raise OSError(errno.EINVAL, "a repository cannot store this name", path)


def join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def ancestors(path: str) -> list[str]:
    """The folders holding `path`, nearest first, ending with the root `""`."""
    result: list[str] = []
    while path:
        path = parent_of(path)
        result.append(path)
    return result


def is_within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or below it (the root holds everything)."""
    return not folder or path == folder or path.startswith(folder + "/")


def relative_to(path: str, folder: str) -> str:
    """`path` below `folder`, relative to it (`""` when they are equal)."""
    if not folder:
        return path
    return "" if path == folder else path[len(folder) + 1 :]


def inside(root: str, relative: str | None) -> str:
    """`root` joined with a relative path that must stay inside it (for `exec(cwd=...)`)."""
    if not relative:
        return root
    normal = os.path.normpath(relative)
    if os.path.isabs(normal) or normal == ".." or normal.startswith("../"):
        raise ValueError(f"{relative!r} is not a path inside the mount")
    return os.path.join(root, normal)
