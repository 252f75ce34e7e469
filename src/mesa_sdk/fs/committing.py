"""Turning an overlay's pending changes into one commit: for a mount, and for an overlay
folder a mount left behind (`commit_overlay`, `mesa-fs commit`), which needs no FUSE."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesa_sdk.fs.blobs import BlobCache
from mesa_sdk.fs.changes import file_edit
from mesa_sdk.fs.errors import MountError, UnsupportedChangeError
from mesa_sdk.fs.overlay import MANIFEST, Overlay, OverlayError, overlay_info, read_manifest
from mesa_sdk.fs.remote import DEFAULT_READ_TIMEOUT, Remote, ResolvedRef
from mesa_sdk.fs.snapshot import Snapshot
from mesa_sdk.fs.tree import MAX_EDITS, MountedTree

if TYPE_CHECKING:
    from mesa_sdk import Mesa, RequestOptions
    from mesa_sdk.models import AuthorTypedDict, CommitResult, CreateCommitTypedDict

__all__ = [
    "DEFAULT_AUTHOR",
    "commit_changes",
    "commit_overlay",
    "recorded_manifest",
    "signature",
]

log = logging.getLogger("mesa_sdk.fs")

DEFAULT_AUTHOR: AuthorTypedDict = {"name": "mesa-fs", "email": "mesa-fs@localhost"}
"""The commit author when neither `commit(author=...)` nor `mount(author=...)` gives one."""


def signature(author: AuthorTypedDict | Mapping[str, str]) -> AuthorTypedDict:
    try:
        return {"name": str(author["name"]), "email": str(author["email"])}
    except KeyError as missing:
        raise ValueError(f"an author needs a name and an email, {missing} is missing") from None


def recorded_manifest(
    root: Path, org: str | None, repo: str, branch: str | None
) -> dict[str, Any] | None:
    """The manifest an earlier mount left in overlay folder `root` (None: none), checked to
    be for `org/repo` on `branch`. Raises MountError when it is for another repository or
    branch, or cannot be read."""
    try:
        manifest = read_manifest(root)
    except OverlayError as error:
        raise MountError(str(error)) from None
    if manifest is None:
        return None
    recorded = (manifest.get("org"), manifest.get("repo"), manifest.get("branch"))
    if recorded != (org, repo, branch):
        raise MountError(
            f"the overlay {root} holds changes to {recorded[0]}/{recorded[1]} on branch "
            f"{recorded[2]!r}, not {org}/{repo} on {branch!r}: commit them "
            f"(`mesa-fs commit {root} --message ...`) or give another overlay_dir"
        )
    return manifest


def commit_changes(
    tree: MountedTree,
    remote: Remote,
    branch: str,
    message: str,
    author: AuthorTypedDict,
) -> CommitResult | None:
    """Sends every pending change of `tree` as exactly one commit on `branch`, made only if
    the branch is still at the tree's base commit, and moves the tree onto it; None (nothing
    sent) when nothing is pending.

    Raises:
        ConflictError: The branch moved (`BRANCH_MOVED`): nothing was written, the changes
            stay pending.
        UnsupportedChangeError: More than 10,000 edits, or a symlink at a new path.
    """
    with tree._changes:
        plan = tree.plan()
        if not plan.edits:
            return None
        if len(plan.edits) > MAX_EDITS:
            raise UnsupportedChangeError(
                f"{len(plan.edits)} edits: one commit carries at most {MAX_EDITS}"
            )
        edits = [
            file_edit(p.change, tree.read_bytes(p.node) if p.node is not None else None)
            for p in plan.edits
        ]
        body: CreateCommitTypedDict = {
            "branch": branch,
            "message": message,
            "author": author,
            "edits": edits,
        }
        if tree.snapshot.commit is not None:
            body["base_sha"] = tree.snapshot.commit
        del edits
        try:
            result = remote.create_commit(body)
        except Exception as error:
            log.warning("commit to %s/%s failed: %s", remote.org, remote.repo, error)
            raise
        tree.advance(result.sha, plan)
    log.info(
        "committed %d edit(s) to %s/%s %s: %s",
        len(plan.edits),
        remote.org,
        remote.repo,
        branch,
        result.sha,
    )
    return result


def commit_overlay(
    client: Mesa,
    overlay_dir: str | os.PathLike[str],
    message: str,
    *,
    author: AuthorTypedDict | Mapping[str, str] | None = None,
    request_options: RequestOptions | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> CommitResult | None:
    """Commits the changes a writable mount left in `overlay_dir` (after `kill -9`, a crash,
    or a `PendingChangesError`) without mounting: one commit on the recorded branch, made
    only if the branch is still at the recorded base commit. Afterwards the overlay's own
    files are removed; the folder and anything else in it stay. Returns the commit, or None
    when nothing was pending (the overlay's files are removed then too).

    Raises:
        MountError: `overlay_dir` holds no overlay manifest, or one that cannot be read.
        ConflictError: The branch moved since the base commit (`BRANCH_MOVED`): nothing was
            written, the overlay is kept. Mount it and `rebase()`, or commit elsewhere.
    """
    root = Path(overlay_dir)
    try:
        manifest = read_manifest(root)
    except OverlayError as error:
        raise MountError(str(error)) from None
    if manifest is None:
        raise MountError(f"{root} holds no overlay ({MANIFEST} is missing)")
    branch = manifest.get("branch")
    if not isinstance(branch, str):
        raise MountError(f"{root / MANIFEST} names no branch")
    remote = Remote(
        client, manifest.get("org"), str(manifest["repo"]), request_options, read_timeout
    )
    base = manifest.get("base_sha")
    resolved = remote.resolve(base) if base else ResolvedRef(None, 0)
    cache = Path(tempfile.mkdtemp(prefix="mesa-fs-cache-"))
    try:
        overlay = Overlay(root, overlay_info(remote.org, remote.repo, branch, resolved.sha))
        snapshot = Snapshot(remote, BlobCache(cache), resolved.sha, resolved.time_ns)
        tree = MountedTree(snapshot, overlay)
        try:
            result = commit_changes(
                tree, remote, branch, message, signature(author or DEFAULT_AUTHOR)
            )
        except BaseException:
            overlay.close()
            raise
        overlay.destroy()
        return result
    finally:
        shutil.rmtree(cache, ignore_errors=True)
