"""The filesystem's own errors. API failures stay the SDK's (`ConflictError`, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesa_sdk.fs.changes import PendingChange

__all__ = [
    "FsError",
    "MountError",
    "PendingChangesError",
    "RebaseConflictError",
    "UnsupportedChangeError",
]


class FsError(Exception):
    """Base of the errors of `mesa_sdk.fs`."""


class MountError(FsError):
    """The mount could not be made (no FUSE, a bad mount point, the ref is not a branch for
    a writable mount, ...) or did not become ready in time."""


class UnsupportedChangeError(FsError):
    """The pending changes hold something one commit through the API cannot carry (a
    symlink at a new path, more than 10,000 edits). Nothing was sent."""


class RebaseConflictError(FsError):
    """`rebase()` found paths changed both by the pending changes and on the branch since
    the mounted commit; nothing was moved (`paths` lists them)."""

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


class PendingChangesError(FsError):
    """A writable mount was left with changes that are not committed: no message was given
    at mount, the commit failed (see `__cause__`, e.g. `ConflictError` `BRANCH_MOVED`) or the
    body of the `with` raised.

    Nothing is lost: the overlay folder is kept at `overlay_path`, with `changes.json`
    (`manifest_path`) naming each changed path and the file holding its bytes.
    """

    def __init__(
        self,
        message: str,
        *,
        paths: list[str],
        overlay_path: Path,
        manifest_path: Path | None,
        changes: list[PendingChange] | None = None,
    ) -> None:
        super().__init__(message)
        self.paths = paths
        """The repository paths with pending changes."""
        self.overlay_path = overlay_path
        """The kept overlay folder: `changes.json` and `files/`."""
        self.manifest_path = manifest_path
        self.changes = changes
        """The pending changes, when they could be computed."""
