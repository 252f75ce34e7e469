"""Content: a file, symlink or directory at a ref, as JSON or (files, symlinks) raw bytes."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.git.reading import Directory, FileBlob, TreeEntry
from mesa_emulator.negotiation import negotiate
from mesa_emulator.operations.base import (
    OperationContext,
    head_sha,
    load_repo,
    query_int,
    query_str,
    resolve_ref,
)
from mesa_emulator.replies import json_reply, raw_reply
from mesa_emulator.validation import check_repo_path

if TYPE_CHECKING:
    from mesa_sdk.models import DirEntry

__all__ = ["get_content"]

JSON = "application/json"
OCTET = "application/octet-stream"
EMPTY_TREE_SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def _entry_model(entry: TreeEntry, last_commit_at: datetime | None) -> DirEntry:
    from mesa_sdk.models import DirEntry

    if entry.type in ("file", "symlink"):
        return DirEntry(
            type=entry.type,
            name=entry.name,
            path=entry.path,
            sha=entry.sha,
            size=entry.size,
            executable=entry.executable,
            last_commit_at=last_commit_at,
        )
    # A directory or submodule entry has no size, mode bit or date, as the real service sends.
    return DirEntry(type=entry.type, name=entry.name, path=entry.path, sha=entry.sha)


def _not_acceptable(accept: str | None) -> ApiError:
    return ApiError(
        "NOT_ACCEPTABLE",
        f"Content is available as {JSON} or (files and symlinks) {OCTET}; "
        f"the request accepts neither: {accept!r}.",
        {"accept": accept, "available": [JSON, OCTET]},
    )


def get_content(ctx: OperationContext) -> Response:
    from mesa_sdk.models import DirContent, FileContent, SymlinkContent

    ref = query_str(ctx, "ref")
    path = query_str(ctx, "path") or ""
    parts = check_repo_path(path, "path") if path else []
    depth = query_int(ctx, "depth")
    limit = query_int(ctx, "limit")
    cursor = ctx.query.get("cursor")
    norm = "/".join(parts)
    media = negotiate(ctx.accept, (JSON, OCTET))
    if media is None:
        raise _not_acceptable(ctx.accept)

    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    bind = (record.id, ref, norm, depth)
    offset = 0
    commit: str | None
    if cursor is not None:
        # Later pages read the commit the first page read, so the listing cannot shift.
        state = ctx.state.cursors.decode(cursor, "content", bind)
        commit, offset_value = state.get("c"), state.get("n")
        if not isinstance(commit, str) or not isinstance(offset_value, int) or offset_value < 0:
            raise ApiError("INVALID_CURSOR", "The cursor was not issued for this list.")
        offset = offset_value
    else:
        commit = head_sha(ctx.state, record) if ref is None else resolve_ref(git, ref, "ref")

    entry: FileBlob | Directory
    if commit is None:  # empty repository: an empty root, nothing else
        if parts:
            raise ApiError("PATH_NOT_FOUND", f"Path {path!r} not found.", {"path": path})
        entry = Directory(name="", path="", sha=EMPTY_TREE_SHA, entries=[], child_count=0)
    else:
        entry = git.read_path(commit, norm, depth=depth, offset=offset, limit=limit)

    if isinstance(entry, FileBlob):
        if media == OCTET:
            return raw_reply(entry.data, OCTET)
        assert commit is not None
        last_commit_at = git.last_commit_times(commit, [entry.path]).get(entry.path)
        encoded = base64.b64encode(entry.data).decode("ascii")
        if entry.type == "symlink":
            return json_reply(
                200,
                SymlinkContent(
                    type="symlink",
                    name=entry.name,
                    path=entry.path,
                    sha=entry.sha,
                    size=entry.size,
                    encoding="base64",
                    content=encoded,
                    executable=entry.executable,
                    last_commit_at=last_commit_at,
                    target=entry.data.decode("utf-8", "replace"),
                ),
            )
        return json_reply(
            200,
            FileContent(
                type="file",
                name=entry.name,
                path=entry.path,
                sha=entry.sha,
                size=entry.size,
                encoding="base64",
                content=encoded,
                executable=entry.executable,
                last_commit_at=last_commit_at,
            ),
        )

    if media != JSON:
        raise ApiError(
            "NOT_ACCEPTABLE",
            f"{repr(path) if path else 'The root'} is a directory, which has no raw bytes; "
            f"ask for {JSON}.",
            {"accept": ctx.accept, "available": [JSON]},
        )
    has_more = entry.has_more
    next_cursor = (
        ctx.state.cursors.encode("content", bind, c=commit, n=offset + limit)
        if has_more and commit is not None
        else None
    )
    dated = [e.path for e in entry.entries if e.type in ("file", "symlink")]
    last_commit_at_of = git.last_commit_times(commit, dated) if commit is not None else {}
    return json_reply(
        200,
        DirContent(
            type="dir",
            name=entry.name,
            path=entry.path,
            sha=entry.sha,
            child_count=entry.child_count,
            entries=[_entry_model(e, last_commit_at_of.get(e.path)) for e in entry.entries],
            next_cursor=next_cursor,
            has_more=has_more,
        ),
    )
