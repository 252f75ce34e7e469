"""A repository's webhooks: create (secret shown once), list, delete.  What is delivered to
them, and when, is :mod:`mesa_emulator.webhooks` and :mod:`mesa_emulator.deliveries`."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.operations.base import OperationContext, load_repo, parse_body, path_str
from mesa_emulator.replies import json_reply
from mesa_emulator.store import WebhookRecord, utc_now
from mesa_emulator.webhooks import PUSH, generate_secret

if TYPE_CHECKING:
    from mesa_sdk.models import Webhook

__all__ = ["create_webhook", "delete_webhook", "list_webhooks"]


def _webhook_model(record: WebhookRecord) -> Webhook:
    from mesa_sdk.models import Webhook

    return Webhook(
        id=record.id,
        url=record.url,
        events=list(record.events),
        branches=None if record.branches is None else list(record.branches),
        globs=None if record.globs is None else list(record.globs),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        usable = False
    if not usable or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ApiError.invalid_request(
            "url", f"Field 'url' must be an absolute http or https URL, got {url[:100]!r}."
        )


def _names(values: list[str] | None, field: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    if any("\x00" in value for value in values):
        raise ApiError.invalid_request(field, f"Field '{field}' must not contain NUL.")
    return tuple(dict.fromkeys(values))


def create_webhook(ctx: OperationContext) -> Response:
    from mesa_sdk.models import CreateWebhook, WebhookCreated

    body = parse_body(CreateWebhook, ctx.body)
    _check_url(body.url)
    events = tuple(str(e) for e in body.events) if body.events is not None else (PUSH,)
    if len(set(events)) != len(events):
        raise ApiError.invalid_request("events", "Field 'events' must not repeat an event.")
    branches = _names(body.branches, "branches")
    globs = _names(body.globs, "globs")
    record = load_repo(ctx)
    now = utc_now()
    hook = WebhookRecord(
        id="wh_" + secrets.token_hex(8),
        repo_id=record.id,
        url=body.url,
        events=events,
        branches=branches,
        globs=globs,
        secret=body.secret if body.secret is not None else generate_secret(),
        created_at=now,
        updated_at=now,
    )
    shown = _webhook_model(hook)
    reply = json_reply(201, WebhookCreated(**shown.model_dump(), secret=hook.secret))
    ctx.state.store.insert_webhook(hook, ctx.answer(reply))
    return reply


def list_webhooks(ctx: OperationContext) -> Response:
    from mesa_sdk.models import WebhookList

    record = load_repo(ctx)
    hooks = ctx.state.store.list_webhooks(record.id)
    return json_reply(200, WebhookList(webhooks=[_webhook_model(h) for h in hooks]))


def delete_webhook(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Success

    webhook_id = path_str(ctx, "webhook_id")
    record = load_repo(ctx)
    reply = json_reply(200, Success(success=True))
    if not ctx.state.store.delete_webhook(record.id, webhook_id, ctx.answer(reply)):
        raise ApiError(
            "WEBHOOK_NOT_FOUND",
            f"Webhook {webhook_id!r} not found in repository '{ctx.org}/{record.name}'.",
            {"webhook_id": webhook_id},
        )
    return reply
