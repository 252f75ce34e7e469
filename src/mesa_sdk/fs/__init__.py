"""Mount a repository at a ref as a local folder, with FUSE (the `fs` extra: fusepy).

    from mesa_sdk import Mesa
    from mesa_sdk.fs import mount

    with Mesa() as client, mount(client, org="acme", repo="app", ref="main") as m:
        print(open(f"{m.path}/README.md").read())
        print(m.exec("grep -rn TODO .").stdout_text)

    with mount(client, org="acme", repo="app", ref="main", writable=True) as m:
        with open(f"{m.path}/NOTES.md", "w") as notes:
            notes.write("hello\\n")
        m.commit("Add notes", author={"name": "Bot", "email": "bot@example.com"})

A read-only mount shows one commit (the ref resolved once, at mount) and caches everything
about it: listings, attributes (also in the kernel) and file bytes (on disk, by blob id). A
writable mount keeps changes in a local overlay and sends nothing until `commit()`, which
makes exactly one commit with compare-and-swap on the mounted head. Every change is
journalled in the overlay folder before it returns: after a crash or `kill -9`, a new mount
on the same `overlay_dir` shows the changes again, and `commit_overlay()` (or
`mesa-fs commit OVERLAY_DIR --message ...`) commits them without mounting.

Built on the public `mesa_sdk` client only.
"""

from __future__ import annotations

from mesa_sdk.fs.changes import PendingChange
from mesa_sdk.fs.committing import commit_overlay
from mesa_sdk.fs.errors import (
    FsError,
    MountError,
    PendingChangesError,
    RebaseConflictError,
    UnsupportedChangeError,
)
from mesa_sdk.fs.mounting import DEFAULT_AUTHOR, Mount, mount
from mesa_sdk.fs.progress import FetchStats
from mesa_sdk.fs.shell import DEFAULT_EXEC_TIMEOUT, ExecResult, ExecTimeoutError

UncommittedChangesError = PendingChangesError
"""Another name for PendingChangesError."""

__all__ = [
    "DEFAULT_AUTHOR",
    "DEFAULT_EXEC_TIMEOUT",
    "ExecResult",
    "ExecTimeoutError",
    "FetchStats",
    "FsError",
    "Mount",
    "MountError",
    "PendingChange",
    "PendingChangesError",
    "RebaseConflictError",
    "UncommittedChangesError",
    "UnsupportedChangeError",
    "commit_overlay",
    "mount",
]
