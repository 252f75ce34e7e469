"""API keys of an organization: create (secret shown once), list, revoke."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from starlette.responses import Response

from mesa_emulator.auth import generate_key, hash_key
from mesa_emulator.errors import ApiError
from mesa_emulator.idempotency import stored_answer
from mesa_emulator.operations.base import OperationContext, parse_body, path_str
from mesa_emulator.replies import error_reply, json_reply
from mesa_emulator.store import ApiKeyRecord, HeldSecret, utc_now

if TYPE_CHECKING:
    from mesa_sdk.models import ApiKey

__all__ = ["create_api_key", "list_api_keys", "revoke_api_key"]

DEFAULT_SCOPES = ("repo:read", "git:read")


def _key_model(record: ApiKeyRecord) -> ApiKey:
    from mesa_sdk.models import ApiKey

    return ApiKey(
        id=record.id,
        name=record.name,
        scopes=list(record.scopes),
        created_at=record.created_at,
        last_used_at=record.last_used_at,
        expires_at=None,  # keys made here never expire
        revoked_at=record.revoked_at,
    )


def create_api_key(ctx: OperationContext) -> Response:
    from mesa_sdk.models import ApiKeyCreated, CreateApiKey

    body = parse_body(CreateApiKey, ctx.body)
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    if body.scopes is not None:
        scopes = tuple(str(scope) for scope in body.scopes)
        if len(set(scopes)) != len(scopes):
            raise ApiError.invalid_request("scopes", "Field 'scopes' must not repeat a scope.")
    secret = generate_key()
    record = ApiKeyRecord(
        id="key_" + secrets.token_hex(8),
        org=ctx.org,
        name=body.name,
        scopes=scopes,
        created_at=utc_now(),
        last_used_at=None,
        revoked_at=None,
    )
    reply = json_reply(
        201,
        ApiKeyCreated(
            id=record.id,
            key=secret,
            name=record.name,
            scopes=list(record.scopes),
            created_at=record.created_at,
        ),
    )
    window = ctx.state.key_secret_window
    held = HeldSecret(record.id, time.time() + window, stored_answer(_secret_gone(record, window)))
    ctx.state.store.insert_key(record, hash_key(secret), ctx.answer(reply, held))
    return reply


def _secret_gone(record: ApiKeyRecord, window: float) -> Response:
    """The answer a retry of a key's creation gets once its secret is no longer kept."""
    return error_reply(
        ApiError(
            "API_KEY_ALREADY_CREATED",
            f"This request already created API key {record.id!r}. Its secret is no longer "
            f"kept: it is replayed for {window:g} s after creation and not after revocation. "
            "Revoke the key if its secret was lost, and create a new one.",
            {"id": record.id},
        )
    )


def list_api_keys(ctx: OperationContext) -> Response:
    from mesa_sdk.models import ApiKeyList

    records = ctx.state.store.list_keys(ctx.org)
    return json_reply(200, ApiKeyList(api_keys=[_key_model(r) for r in records]))


def revoke_api_key(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Success

    key_id = path_str(ctx, "id")
    reply = json_reply(200, Success(success=True))
    record = ctx.state.store.revoke_key(ctx.org, key_id, utc_now(), ctx.answer(reply))
    if record is None:
        raise ApiError(
            "API_KEY_NOT_FOUND",
            f"API key {key_id!r} not found in organization '{ctx.org}'.",
            {"id": key_id},
        )
    return reply
