"""Merge: fast-forward, merge commit or up to date; conflicts write nothing."""

from __future__ import annotations

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.git.errors import GitOpsError
from mesa_emulator.git.merging import MergeOutcome
from mesa_emulator.operations.base import (
    OperationContext,
    load_repo,
    parse_body,
    to_git_signature,
)
from mesa_emulator.replies import json_reply
from mesa_emulator.store import utc_now
from mesa_emulator.validation import check_branch_name

__all__ = ["merge_branch"]


def merge_branch(ctx: OperationContext) -> Response:
    from mesa_sdk.models import MergeRequest, MergeResult

    base = ctx.params["base"]
    check_branch_name(base, "base")
    body = parse_body(MergeRequest, ctx.body)
    if body.message is not None and "\x00" in body.message:
        raise ApiError.invalid_request("message", "Field 'message' must not contain NUL.")
    author = to_git_signature(body.author, "author", utc_now())
    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    git.branch_sha(base)
    try:
        git.resolve(body.head)
    except GitOpsError:
        raise ApiError(
            "REF_NOT_FOUND",
            f"'head' names no branch, tag or commit: {body.head!r}.",
            {"field": "head", "ref": body.head},
        ) from None

    def reply(outcome: MergeOutcome) -> Response:
        return json_reply(
            200,
            MergeResult(
                merge_type=outcome.merge_type,
                sha=outcome.sha,
                base=base,
                head=body.head,
                branch_deleted=outcome.branch_deleted,
            ),
        )

    outcome = git.merge(
        base_branch=base,
        head=body.head,
        author=author,
        message=body.message,
        delete_branch=bool(body.delete_branch),
        journal=lambda updates, made: ctx.journal(record.id, updates, reply(made)),
    )
    return reply(outcome)
