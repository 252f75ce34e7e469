"""The expected failures of git operations; the API maps each to its error envelope in
:mod:`mesa_emulator.git_errors`."""

from __future__ import annotations

__all__ = [
    "BranchExists",
    "BranchMoved",
    "BranchNotFound",
    "CommitNotFound",
    "GitOpsError",
    "InvalidPath",
    "InvalidRefName",
    "MergeConflict",
    "PathExists",
    "PathNotFound",
    "RefLocked",
    "RefNotFound",
]


class GitOpsError(Exception):
    """Base class of every error the git package raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RefNotFound(GitOpsError):
    """A ref, branch, tag or (abbreviated) sha does not resolve to a commit."""

    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__(message or f"ref {ref!r} not found")
        self.ref = ref


class BranchNotFound(GitOpsError):
    def __init__(self, branch: str, message: str | None = None) -> None:
        super().__init__(message or f"branch {branch!r} not found")
        self.branch = branch


class BranchExists(GitOpsError):
    def __init__(self, branch: str, message: str | None = None) -> None:
        super().__init__(message or f"branch {branch!r} already exists")
        self.branch = branch


class CommitNotFound(GitOpsError):
    def __init__(self, sha: str, message: str | None = None) -> None:
        super().__init__(message or f"commit {sha!r} not found")
        self.sha = sha


class InvalidRefName(GitOpsError):
    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or f"invalid branch name {name!r}")
        self.name = name


class InvalidPath(GitOpsError):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"invalid path {path!r}")
        self.path = path


class PathNotFound(GitOpsError):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"path {path!r} not found")
        self.path = path


class PathExists(GitOpsError):
    def __init__(self, path: str, message: str | None = None) -> None:
        super().__init__(message or f"path {path!r} already exists")
        self.path = path


class BranchMoved(GitOpsError):
    """Compare-and-swap failure: the branch head is not what the caller expected."""

    def __init__(self, branch: str, expected: str, actual: str | None) -> None:
        found = actual if actual is not None else "no such branch"
        super().__init__(f"branch {branch!r} moved: expected {expected}, found {found}")
        self.branch = branch
        self.expected = expected
        self.actual = actual


class RefLocked(GitOpsError):
    """Another writer holds the branch's lock file (for longer than a brief wait)."""

    def __init__(self, branch: str) -> None:
        super().__init__(f"branch {branch!r} is locked by another update")
        self.branch = branch


class MergeConflict(GitOpsError):
    def __init__(self, paths: list[str]) -> None:
        super().__init__("merge conflict in: " + ", ".join(paths))
        self.paths = paths
