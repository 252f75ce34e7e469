"""Turning an overlay's pending changes into one commit: for a mount, and for an overlay
folder a mount left behind (`commit_overlay`, `mesa-fs commit`), which needs no FUSE."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesa_sdk.errors import APIError, InvalidRequestError
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
    "finish_open_commit",
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

    Exactly once across a kill: before sending, a commit intent (a fresh idempotency key,
    `message`, `author`, `branch`, base commit) is journalled; the commit is sent under that
    key, and the intent is dropped in the same manifest rewrite that moves the tree onto the
    new commit. An intent a killed process left open is finished first, with its own message
    and author (the ones given here are not used; a warning says so): the same body goes
    again under the same key, and the API answers with the commit already made (a replay),
    or makes it now. While an intent is open, changes are refused (EBUSY).

    Raises:
        ConflictError: The branch moved (`BRANCH_MOVED`): nothing was written, the changes
            stay pending (the intent is dropped).
        UnsupportedChangeError: More than 10,000 edits, or a symlink at a new path.
        Any other error of the SDK: the intent is dropped when the API answered that it did
        not make the commit (a 4xx other than 401, 403, 408, 429 or
        `IDEMPOTENCY_KEY_IN_USE`), and kept otherwise: the outcome is unknown, and the
        next commit finishes it.
    """
    assert tree.overlay is not None
    with tree._changes:
        intent = tree.overlay.intent
        if intent is not None:
            if (intent["message"], intent["branch"]) != (message, branch):
                log.warning(
                    "finishing the commit begun earlier (key %s) with its own message %r: "
                    "%r is not used",
                    intent["key"],
                    intent["message"],
                    message,
                )
            branch, message = intent["branch"], intent["message"]
            author = signature(intent["author"])
        plan = tree.plan()
        if not plan.edits:
            if intent is not None:
                tree.set_intent(None)
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
        finishing = intent is not None
        if intent is None:
            intent = {
                "key": f"mesa-fs-{uuid.uuid4().hex}",
                "message": message,
                "author": dict(author),
                "branch": branch,
                "base_sha": tree.snapshot.commit,
            }
            tree.set_intent(intent)  # durable before anything is sent
        try:
            result, replayed = remote.create_commit(body, intent["key"])
        except Exception as error:
            if _not_made(error):
                tree.set_intent(None)
                log.warning("commit to %s/%s failed: %s", remote.org, remote.repo, error)
            else:
                log.warning(
                    "commit to %s/%s failed, maybe after the API made it: %s; the next "
                    "commit sends it again under the same key (changes are refused until then)",
                    remote.org,
                    remote.repo,
                    error,
                )
            raise
        tree.advance(result.sha, plan)
    log.log(
        logging.WARNING if finishing else logging.INFO,
        "committed %d edit(s) to %s/%s %s: %s%s",
        len(plan.edits),
        remote.org,
        remote.repo,
        branch,
        result.sha,
        (
            " (the commit begun earlier; "
            + (
                "the API had made it and replayed its answer: Idempotent-Replayed)"
                if replayed
                else "the API had not made it before, and made it now)"
            )
        )
        if finishing
        else "",
    )
    return result


def _not_made(error: Exception) -> bool:
    """Whether `error` says that this body under this key will not be made, now or later:
    a final 4xx answer, or a body refused before sending."""
    if isinstance(error, InvalidRequestError):
        return True
    return (
        isinstance(error, APIError)
        and 400 <= error.status_code < 500
        and error.status_code not in (401, 403, 408, 429)
        and error.code != "IDEMPOTENCY_KEY_IN_USE"
    )


def finish_open_commit(tree: MountedTree, remote: Remote) -> CommitResult | None:
    """Finishes the commit intent a stopped process left in the tree's overlay (see
    `commit_changes`) and returns the commit; None when none was open, or when the API
    answered that it did not make it (the changes stay pending; logged). Raises when the
    outcome stays unknown (the server did not answer)."""
    intent = tree.overlay.intent if tree.overlay is not None else None
    if intent is None:
        return None
    try:
        return commit_changes(
            tree, remote, intent["branch"], intent["message"], signature(intent["author"])
        )
    except Exception as error:
        if _not_made(error):
            return None  # pending, as before the commit began
        raise


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

    When the mount was killed while committing, its commit intent is finished instead, with
    the message and author it journalled (`message` and `author` are then not used; a
    warning says so): the API answers with the commit it made then, or makes it now.

    Raises:
        MountError: `overlay_dir` holds no overlay manifest, or one that cannot be read.
        ConflictError: The branch moved since the base commit (`BRANCH_MOVED`): nothing was
            written, the overlay is kept. Mount it and `rebase()`, or commit elsewhere.
        APIConnectionError, ServerError, ...: The outcome is unknown; the overlay (and its
            commit intent) is kept, and the next try finishes it.
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
