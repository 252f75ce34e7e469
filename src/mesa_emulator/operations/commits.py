"""Commits: history of a ref (newest first), one commit, and commits made from file edits."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.git.objects import CommitInfo
from mesa_emulator.git.objects import Signature as GitSignature
from mesa_emulator.git.paths import file_content_problem
from mesa_emulator.git.trees import Edit
from mesa_emulator.lfs import pointer_text
from mesa_emulator.operations.base import (
    OperationContext,
    check_sha,
    head_sha,
    load_repo,
    parse_body,
    query_int,
    query_str,
    resolve_ref,
    signature_model,
    to_git_signature,
)
from mesa_emulator.replies import json_reply
from mesa_emulator.store import utc_now
from mesa_emulator.validation import check_branch_name, check_repo_path

if TYPE_CHECKING:
    from mesa_sdk.models import Commit, CreateCommit, LfsPointer

__all__ = ["create_commit", "get_commit", "list_commits"]


def _commit_model(info: CommitInfo) -> Commit:
    from mesa_sdk.models import Commit

    return Commit(
        sha=info.sha,
        message=info.message,
        author=signature_model(info.author),
        committer=signature_model(info.committer),
        parents=list(info.parents),
    )


def _cursor_state(state: dict[str, Any]) -> tuple[str, int]:
    start, offset = state.get("s"), state.get("n")
    if not isinstance(start, str) or not isinstance(offset, int) or offset < 0:
        raise ApiError("INVALID_CURSOR", "The cursor was not issued for this list.")
    return start, offset


def list_commits(ctx: OperationContext) -> Response:
    from mesa_sdk.models import CommitList

    limit = query_int(ctx, "limit")
    ref = query_str(ctx, "ref")
    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    bind = (record.id, ref)
    cursor = ctx.query.get("cursor")
    start: str | None
    if cursor is not None:
        start, offset = _cursor_state(ctx.state.cursors.decode(cursor, "commits", bind))
    else:
        offset = 0
        start = head_sha(ctx.state, record) if ref is None else resolve_ref(git, ref, "ref")
    if start is None:  # an empty repository: no history yet
        return json_reply(200, CommitList(commits=[], next_cursor=None, has_more=False))
    infos = git.log(start, skip=offset, limit=limit + 1)
    has_more = len(infos) > limit
    page = infos[:limit]
    next_cursor = (
        ctx.state.cursors.encode("commits", bind, s=start, n=offset + len(page))
        if has_more
        else None
    )
    return json_reply(
        200,
        CommitList(
            commits=[_commit_model(info) for info in page],
            next_cursor=next_cursor,
            has_more=has_more,
        ),
    )


def get_commit(ctx: OperationContext) -> Response:
    sha = ctx.params["sha"]
    check_sha(sha, "sha")
    record = load_repo(ctx)
    info = ctx.state.git(record.id).commit(sha)
    return json_reply(200, _commit_model(info))


@dataclass(frozen=True)
class _Change:
    """One file change of either body form: ``files`` (the real Depot form, whose upsert
    writes whatever the path holds) or ``edits`` (create / update / delete, checked)."""

    where: str
    path: str
    action: Literal["create", "update", "upsert", "delete"]
    content: str | None
    encoding: str | None
    executable: bool | None
    lfs: LfsPointer | None


def _changes(body: CreateCommit) -> list[_Change]:
    """The body's changes; exactly one of ``files`` and ``edits`` is given, or 400."""
    if body.files is not None and body.edits is not None:
        raise ApiError.invalid_request(
            "edits", "Give either 'files' or 'edits', not both ('edits' is the second)."
        )
    if body.files is not None:
        return [
            _Change(f"files.{i}", f.path, f.action or "upsert", f.content, f.encoding, None, f.lfs)
            for i, f in enumerate(body.files)
        ]
    if body.edits is not None:
        return [
            _Change(f"edits.{i}", e.path, e.action, e.content, e.encoding, e.executable, e.lfs)
            for i, e in enumerate(body.edits)
        ]
    raise ApiError.invalid_request("files", "Field 'files' (or 'edits') is required.")


def _decode_content(edit: _Change) -> bytes:
    where = edit.where
    assert edit.content is not None
    if edit.encoding == "base64":
        compact = "".join(edit.content.split())
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError.invalid_request(
                f"{where}.content", f"Field '{where}.content' is not valid base64."
            ) from None
    return edit.content.encode("utf-8")


def create_commit(ctx: OperationContext) -> Response:
    from mesa_sdk.models import CommitResult, CreateCommit

    body = parse_body(CreateCommit, ctx.body)
    check_branch_name(body.branch, "branch")
    if "\x00" in body.message:
        raise ApiError.invalid_request("message", "Field 'message' must not contain NUL.")
    now = utc_now()
    author = to_git_signature(body.author, "author", now)
    committer = (
        to_git_signature(body.committer, "committer", now)
        if body.committer is not None
        else GitSignature(author.name, author.email, now)
    )

    # Check every change's shape before touching anything.
    changes = _changes(body)
    for edit in changes:
        where = edit.where
        check_repo_path(edit.path, f"{where}.path")
        has_content, has_lfs = edit.content is not None, edit.lfs is not None
        if edit.action == "delete":
            if has_content or has_lfs:
                field = f"{where}.content" if has_content else f"{where}.lfs"
                raise ApiError.invalid_request(
                    field, f"A 'delete' takes neither 'content' nor 'lfs' ('{field}')."
                )
        elif has_content == has_lfs:
            raise ApiError.invalid_request(
                f"{where}.content",
                f"A '{edit.action}' needs exactly one of '{where}.content' and '{where}.lfs'.",
            )
    datas = [_decode_content(edit) if edit.content is not None else None for edit in changes]

    record = load_repo(ctx)
    state = ctx.state
    edits: list[Edit] = []
    for edit, data in zip(changes, datas, strict=True):
        if edit.action == "delete":
            edits.append(Edit(edit.path, "delete"))
            continue
        if edit.lfs is not None:
            oid, size = edit.lfs.oid, edit.lfs.size
            if state.store.lfs_size(record.id, oid) != size or not state.lfs.has(record.id, oid):
                raise ApiError(
                    "LFS_OBJECT_NOT_FOUND",
                    f"No LFS object {oid} of {size} bytes in this repository "
                    f"('{edit.where}.lfs'); upload it first.",
                    {"field": f"{edit.where}.lfs", "oid": oid, "size": size},
                )
            data = pointer_text(oid, size)
        assert data is not None
        problem = file_content_problem(edit.path, data)
        if problem is not None:
            field = f"{edit.where}.lfs" if edit.lfs is not None else f"{edit.where}.content"
            raise ApiError.invalid_request(
                field, f"Field '{field}' cannot be the content of {edit.path!r}: it {problem}."
            )
        edits.append(Edit(edit.path, edit.action, data, edit.executable))

    def reply(info: CommitInfo) -> Response:
        return json_reply(
            201,
            CommitResult(
                sha=info.sha, branch=body.branch, message=info.message, parents=list(info.parents)
            ),
        )

    info = state.git(record.id).commit_edits(
        branch=body.branch,
        message=body.message,
        author=author,
        committer=committer,
        edits=edits,
        base_sha=body.base_sha,
        journal=lambda updates, made: ctx.journal(record.id, updates, reply(made)),
    )
    return reply(info)
