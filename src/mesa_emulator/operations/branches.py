"""Branches: list (by name, cursor = last name seen), create from a ref, delete."""

from __future__ import annotations

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.operations.base import (
    OperationContext,
    load_repo,
    parse_body,
    query_int,
    resolve_ref,
)
from mesa_emulator.replies import json_reply
from mesa_emulator.validation import check_branch_name

__all__ = ["create_branch", "delete_branch", "list_branches"]


def _key(name: str) -> bytes:
    return name.encode("utf-8")


def list_branches(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Branch, BranchList

    limit = query_int(ctx, "limit")
    record = load_repo(ctx)
    bind = (record.id,)
    after: str | None = None
    cursor = ctx.query.get("cursor")
    if cursor is not None:
        after = str(ctx.state.cursors.decode(cursor, "branches", bind).get("a", ""))
    branches = ctx.state.git(record.id).branches()  # sorted by name, bytewise
    if after is not None:
        after_key = _key(after)
        branches = [item for item in branches if _key(item[0]) > after_key]
    page = branches[:limit]
    has_more = len(branches) > limit
    next_cursor = (
        ctx.state.cursors.encode("branches", bind, a=page[-1][0]) if has_more and page else None
    )
    return json_reply(
        200,
        BranchList(
            branches=[
                Branch(name=name, head_sha=sha, is_default=name == record.default_branch)
                for name, sha in page
            ],
            next_cursor=next_cursor,
            has_more=has_more,
        ),
    )


def create_branch(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Branch, CreateBranch

    body = parse_body(CreateBranch, ctx.body)
    if body.from_ is not None and body.head_sha is not None:
        raise ApiError.invalid_request(
            "head_sha", "Give either 'from' or 'head_sha', not both ('head_sha' is the second)."
        )
    if body.from_ is None and body.head_sha is None:
        raise ApiError.invalid_request("from", "Field 'from' (or 'head_sha') is required.")
    check_branch_name(body.name, "name")
    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    # `from` is a branch name or a commit SHA, resolved here; `head_sha` is taken as given.
    start = resolve_ref(git, body.from_, "from") if body.from_ is not None else body.head_sha
    assert start is not None
    reply = json_reply(
        201,
        Branch(
            name=body.name,
            head_sha=start,
            is_default=body.name == record.default_branch,
        ),
    )
    git.create_branch(body.name, start, lambda updates: ctx.journal(record.id, updates, reply))
    return reply


def delete_branch(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Success

    name = ctx.params["branch"]
    check_branch_name(name, "branch")
    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    git.branch_sha(name)
    if name == record.default_branch:
        raise ApiError(
            "DEFAULT_BRANCH",
            f"Branch {name!r} is the default branch and cannot be deleted.",
            {"branch": name},
        )
    reply = json_reply(200, Success(success=True))
    git.delete_branch(name, lambda updates: ctx.journal(record.id, updates, reply))
    return reply
