"""Repositories' upstreams: the configuration a create or update gives, how it is answered,
and the sync operations (``repos.sync``, ``repos.get_sync_status``).  The syncing itself is
:mod:`mesa_emulator.upstream`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.operations.base import OperationContext, load_repo
from mesa_emulator.replies import json_reply
from mesa_emulator.store import RepoRecord, UpstreamRecord, utc_now
from mesa_emulator.upstream import NoUpstream, credential_host, uri_problem

if TYPE_CHECKING:
    from mesa_sdk.models import Upstream, UpstreamConfig

__all__ = [
    "get_sync_status",
    "importing",
    "new_upstream",
    "sync_repo",
    "upstream_model",
]

# The contract's default `token_username`: a user name, not a secret.
DEFAULT_TOKEN_USERNAME = "x-access-token"  # noqa: S105


def new_upstream(
    repo_id: str, config: UpstreamConfig, previous: UpstreamRecord | None
) -> UpstreamRecord:
    """The upstream ``config`` sets, its sync due: ``token`` left out keeps the ``previous``
    one (with its user name and host), null removes it."""
    problem = uri_problem(config.uri)
    if problem is not None:
        raise ApiError.invalid_request("upstream.uri", f"Field 'upstream.uri' {problem}.")
    if "token" in config.model_fields_set:
        token = config.token
        username = config.token_username or DEFAULT_TOKEN_USERNAME
        host = credential_host(config.uri) if token else None
    elif previous is not None and previous.token:
        token = previous.token
        username = config.token_username or previous.token_username
        host = previous.credential_host
    else:
        token, username, host = None, config.token_username or DEFAULT_TOKEN_USERNAME, None
    return UpstreamRecord(
        repo_id=repo_id,
        uri=config.uri,
        autosync_period=None if config.autosync is None else config.autosync.period,
        token=token,
        token_username=username,
        credential_host=host,
        generation=1 if previous is None else previous.generation + 1,
        state="syncing",
        last_sync_attempt=utc_now(),
        last_sync_success=None if previous is None else previous.last_sync_success,
        last_sync_error=None,
    )


def importing(upstream: UpstreamRecord | None) -> bool:
    """Whether the repository's first import is running (``repos.get`` answers 202)."""
    return (
        upstream is not None and upstream.state == "syncing" and upstream.last_sync_success is None
    )


def upstream_model(upstream: UpstreamRecord | None) -> Upstream | None:
    from mesa_sdk.models import Autosync, Upstream

    if upstream is None:
        return None
    autosync = (
        None
        if upstream.autosync_period is None
        else Autosync(type="poll", period=upstream.autosync_period, resolution_strategy="none")
    )
    return Upstream(
        uri=upstream.uri,
        autosync=autosync,
        last_sync_attempt=upstream.last_sync_attempt,
        last_sync_success=upstream.last_sync_success,
        last_sync_error=upstream.last_sync_error,
        has_credential=bool(upstream.token),
        credential_host=upstream.credential_host if upstream.token else None,
    )


def _upstream_of(ctx: OperationContext, record: RepoRecord) -> UpstreamRecord:
    upstream = ctx.state.store.get_upstream(record.id)
    if upstream is None:
        raise _no_upstream(ctx, record)
    return upstream


def _no_upstream(ctx: OperationContext, record: RepoRecord) -> ApiError:
    return ApiError(
        "UPSTREAM_NOT_FOUND",
        f"Repository '{ctx.org}/{record.name}' has no upstream to sync from.",
        {"org": ctx.org, "repo": record.name},
    )


def get_sync_status(ctx: OperationContext) -> Response:
    from mesa_sdk.models import SyncError, SyncOk, SyncRunning, SyncStatus

    upstream = _upstream_of(ctx, load_repo(ctx))
    status: SyncOk | SyncRunning | SyncError
    if upstream.state == "syncing":
        status = SyncRunning(type="syncing")
    elif upstream.state == "error":
        status = SyncError(type="error", message=upstream.last_sync_error or "")
    else:
        status = SyncOk(type="ok")
    return json_reply(
        200,
        SyncStatus(
            last_sync_attempt=upstream.last_sync_attempt,
            last_sync_success=upstream.last_sync_success,
            status=status,
        ),
    )


def sync_repo(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Success

    record = load_repo(ctx)
    _upstream_of(ctx, record)
    try:
        error = ctx.state.upstreams.sync(record.id)
    except NoUpstream:
        raise _no_upstream(ctx, record) from None
    if error is not None:
        raise ApiError("SYNC_FAILED", error, {"org": ctx.org, "repo": record.name})
    return json_reply(200, Success(success=True))
