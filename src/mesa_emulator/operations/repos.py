"""Repositories: create, list, get, update (rename, default branch) and delete."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import shutil

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.git.errors import BranchNotFound, GitOpsError
from mesa_emulator.git.repository import init_repository
from mesa_emulator.operations.base import (
    OperationContext,
    load_repo,
    parse_body,
    query_int,
    repo_model,
)
from mesa_emulator.replies import json_reply
from mesa_emulator.store import RepoNameTaken, RepoRecord, utc_now
from mesa_emulator.validation import check_branch_name, repo_name_problem

__all__ = ["create_repo", "delete_repo", "get_repo", "list_repos", "update_repo"]

logger = logging.getLogger("mesa_emulator")


def _check_name(name: str) -> None:
    problem = repo_name_problem(name)
    if problem is not None:
        raise ApiError.invalid_request("name", f"Field 'name' {problem}, got {name!r}.")


def _taken(org: str, name: str) -> ApiError:
    return ApiError(
        "REPO_EXISTS",
        f"Repository '{org}/{name}' already exists.",
        {"org": org, "repo": name},
    )


def create_repo(ctx: OperationContext) -> Response:
    from mesa_sdk.models import CreateRepo

    body = parse_body(CreateRepo, ctx.body)
    _check_name(body.name)
    default_branch = body.default_branch if body.default_branch is not None else "main"
    check_branch_name(default_branch, "default_branch")
    state = ctx.state
    if state.store.get_repo(ctx.org, body.name) is not None:
        raise _taken(ctx.org, body.name)
    record = RepoRecord(
        id="repo_" + secrets.token_hex(10),
        org=ctx.org,
        name=body.name,
        default_branch=default_branch,
        created_at=utc_now(),
    )
    # The git folder exists before the record does, so no reader finds a record without it;
    # a crash in between leaves a folder without a record, which the next start removes.
    init_repository(state.repo_path(record.id), default_branch)
    reply = json_reply(201, repo_model(state, record))
    try:
        state.store.insert_repo(record, ctx.answer(reply))
    except RepoNameTaken:
        shutil.rmtree(state.repo_path(record.id), ignore_errors=True)
        raise _taken(ctx.org, body.name) from None
    return reply


def list_repos(ctx: OperationContext) -> Response:
    from mesa_sdk.models import RepoList

    limit = query_int(ctx, "limit")
    after: str | None = None
    bind = (ctx.org,)
    cursor = ctx.query.get("cursor")
    if cursor is not None:
        after = str(ctx.state.cursors.decode(cursor, "repos", bind).get("a", ""))
    records = ctx.state.store.list_repos(ctx.org, after, limit + 1)
    has_more = len(records) > limit
    page = records[:limit]
    next_cursor = (
        ctx.state.cursors.encode("repos", bind, a=page[-1].name) if has_more and page else None
    )
    return json_reply(
        200,
        RepoList(
            repos=[repo_model(ctx.state, record) for record in page],
            next_cursor=next_cursor,
            has_more=has_more,
        ),
    )


def get_repo(ctx: OperationContext) -> Response:
    return json_reply(200, repo_model(ctx.state, load_repo(ctx)))


def update_repo(ctx: OperationContext) -> Response:
    from mesa_sdk.models import UpdateRepo

    body = parse_body(UpdateRepo, ctx.body)
    if not body.model_fields_set:
        raise ApiError.invalid_request(
            "body", "The body must set at least one of 'name' and 'default_branch'."
        )
    if body.name is not None:
        _check_name(body.name)
    if body.default_branch is not None:
        check_branch_name(body.default_branch, "default_branch")
    record = load_repo(ctx)
    state = ctx.state
    git = state.git(record.id)
    new_name = body.name if body.name is not None and body.name != record.name else None
    new_default = body.default_branch
    if new_default is not None and new_default != record.default_branch and not git.is_empty():
        try:
            git.branch_sha(new_default)
        except BranchNotFound:
            raise ApiError(
                "BRANCH_NOT_FOUND",
                f"Branch {new_default!r} not found; the default branch must exist.",
                {"branch": new_default},
            ) from None
    if new_name is not None and state.store.get_repo(ctx.org, new_name) is not None:
        raise _taken(ctx.org, new_name)
    expected = dataclasses.replace(
        record,
        name=new_name if new_name is not None else record.name,
        default_branch=new_default if new_default is not None else record.default_branch,
    )
    reply = json_reply(200, repo_model(state, expected))
    try:
        updated = state.store.update_repo(
            record.id, name=new_name, default_branch=new_default, answer=ctx.answer(reply)
        )
    except RepoNameTaken:
        raise _taken(ctx.org, new_name or "") from None
    if updated is None:
        raise ApiError("REPO_NOT_FOUND", f"Repository '{ctx.org}/{record.name}' not found.")
    if new_default is not None:
        # HEAD follows the record, which is updated: the next start sets HEAD if this fails.
        try:
            git.set_default_branch(new_default)
        except GitOpsError as exc:
            logger.warning("repository %s: %s; the next start sets it", record.id, exc.message)
    return reply


def delete_repo(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Success

    record = load_repo(ctx)
    reply = json_reply(200, Success(success=True))
    # The record goes first; a crash before the folder is gone leaves a folder without a
    # record, which the next start removes.
    if ctx.state.store.delete_repo(record.id, ctx.answer(reply)):
        ctx.state.remove_repo_data(record.id)
    return reply
