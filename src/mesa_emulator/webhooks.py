"""Webhook push events: which webhooks a branch move reaches, the event each is sent, and the
signature that proves a delivery came from this emulator.

A move reaches a webhook when the webhook wants ``push`` events, lists the branch in its
``branches`` (or has none), and, when it has ``globs``, when the move changes a path matching
one of them (``*`` and ``?`` within a path segment, ``**`` across segments).  The paths a
move changes are those that differ between the trees of ``before`` and ``after``; for a new
branch, those its new commits change; a deleted branch changes none (so a webhook with
``globs`` is not sent its deletion).

The event is the real service's push payload::

    {"event": "push",
     "repository": {"id", "org", "name", "url"},
     "ref": "refs/heads/<branch>", "branch": "<branch>",
     "before": "<sha>", "after": "<sha>",        # 40 zeros for an absent branch
     "commits": [{"id", "sha", "message", "author": {"name", "email", "date"}}],
     "pushed_at": "<RFC 3339 UTC>"}

``commits`` are those reachable from ``after`` and not from ``before`` (for a new branch: from
no other branch, so a branch made from another's head has none), oldest first, at most
:data:`MAX_COMMITS` (the newest).  Each delivery is signed at every attempt:
``X-Depot-Signature: t=<unix>,sha256=<hex>``, hex = HMAC-SHA256(secret, f"{t}.{body}").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mesa_emulator.faults import glob_pattern
from mesa_emulator.git.objects import CommitInfo
from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.store import WebhookRecord

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = [
    "MAX_COMMITS",
    "PUSH",
    "ZERO_SHA",
    "NewDelivery",
    "generate_secret",
    "push_deliveries",
    "signature_header",
]

PUSH = "push"
ZERO_SHA = "0" * 40
MAX_COMMITS = 20


class NewDelivery(NamedTuple):
    id: str
    webhook_id: str
    event: str
    body: bytes


def generate_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},sha256={digest}"


_glob = lru_cache(maxsize=1024)(glob_pattern)


def _wants(hook: WebhookRecord, branch: str, paths: Sequence[str]) -> bool:
    if PUSH not in hook.events:
        return False
    if hook.branches is not None and branch not in hook.branches:
        return False
    if hook.globs is None:
        return True
    return any(_glob(g).fullmatch(p) for g in hook.globs for p in paths)


def _utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _commit(info: CommitInfo) -> dict[str, Any]:
    author = info.author
    return {
        "id": info.sha,
        "sha": info.sha,
        "message": info.message,
        "author": {"name": author.name, "email": author.email, "date": _utc(author.time)},
    }


def push_deliveries(
    state: EmulatorState,
    repo_id: str,
    updates: Sequence[RefUpdate],
    pushed_at: datetime,
    quarantine: Path | None = None,
) -> list[NewDelivery]:
    """One delivery per branch move of ``updates`` and webhook of ``repo_id`` it reaches (the
    new commits must exist in the repository, or in a push's ``quarantine``; the refs need
    not have moved yet)."""
    hooks = state.store.list_webhooks(repo_id)
    record = state.store.get_repo_by_id(repo_id) if hooks else None
    if record is None:
        return []
    git = state.git(repo_id, quarantine)
    base = state.public_url or ""
    repository = {
        "id": record.id,
        "org": record.org,
        "name": record.name,
        "url": f"{base}/{record.org}/{record.name}.git",
    }
    out: list[NewDelivery] = []
    for update in updates:
        commits: list[CommitInfo] = []
        paths: list[str] = []
        if update.new is not None:
            commits, paths = git.moved_between(update.branch, update.old, update.new, MAX_COMMITS)
        wanted = [hook for hook in hooks if _wants(hook, update.branch, paths)]
        if not wanted:
            continue
        event = {
            "event": PUSH,
            "repository": repository,
            "ref": f"refs/heads/{update.branch}",
            "branch": update.branch,
            "before": update.old or ZERO_SHA,
            "after": update.new or ZERO_SHA,
            "commits": [_commit(info) for info in commits],
            "pushed_at": _utc(pushed_at),
        }
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        out += [NewDelivery("dlv_" + secrets.token_hex(12), h.id, PUSH, body) for h in wanted]
    return out
