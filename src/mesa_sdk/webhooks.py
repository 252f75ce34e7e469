"""Receiving webhooks: check that a delivery was signed with your webhook's secret, and read
its event.

    from mesa_sdk.webhooks import WebhookVerificationError, verify

    try:
        event = verify(request_body, request_headers, secret=WEBHOOK_SECRET)
    except WebhookVerificationError:
        return 400
    print(event.branch, event.before, "->", event.after)

A delivery is a POST of a JSON event with the headers ``X-Depot-Event`` (``push``),
``X-Depot-Delivery`` (its id, the same on every retry: use it to ignore a repeat) and
``X-Depot-Signature: t=<unix seconds>,sha256=<hex>``, where ``hex`` is
HMAC-SHA256(secret, ``f"{t}.{body}"``) over the exact bytes of the body.

(The webhooks of a repository are created, listed and deleted with ``client.webhooks``.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from datetime import datetime

from pydantic import ValidationError

from mesa_sdk._runtime.errors import MesaError
from mesa_sdk._runtime.models import ResponseModel

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "PushCommit",
    "PushCommitAuthor",
    "PushEvent",
    "PushRepository",
    "WebhookVerificationError",
    "verify",
]

DEFAULT_TOLERANCE_S = 300
SIGNATURE_HEADER = "x-depot-signature"
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
_DIGEST_RE = re.compile(r"[0-9a-fA-F]{64}")


class WebhookVerificationError(MesaError):
    """A delivery whose signature is missing, malformed, wrong or outside the time tolerance,
    or whose body is not an event.  Answer it 400 and do not act on it."""


class PushRepository(ResponseModel):
    id: str
    org: str
    name: str
    url: str
    """The repository's git URL."""


class PushCommitAuthor(ResponseModel):
    name: str
    email: str
    date: datetime


class PushCommit(ResponseModel):
    id: str
    sha: str
    message: str
    author: PushCommitAuthor | None


class PushEvent(ResponseModel):
    """A branch moved: created (``before`` is 40 zeros), moved, or deleted (``after`` is)."""

    event: str
    """``push``."""
    repository: PushRepository
    ref: str
    """``refs/heads/<branch>``."""
    branch: str
    before: str
    after: str
    commits: list[PushCommit]
    """The commits the move brought, oldest first (at most 20, the newest)."""
    pushed_at: datetime


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _parse_signature(value: str) -> tuple[int, list[str]]:
    """The timestamp and the digests of an ``X-Depot-Signature`` value."""
    timestamp: int | None = None
    digests: list[str] = []
    for part in value.split(","):
        name, sep, item = part.strip().partition("=")
        if not sep:
            continue
        if name == "t" and _TIMESTAMP_RE.fullmatch(item):
            timestamp = int(item)
        elif name == "sha256" and _DIGEST_RE.fullmatch(item):
            digests.append(item.lower())
    if timestamp is None or not digests:
        raise WebhookVerificationError(
            "The X-Depot-Signature header is malformed: expected 't=<unix seconds>,"
            "sha256=<64 hex digits>'."
        )
    return timestamp, digests


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> PushEvent:
    """The event of a webhook delivery, once its signature is checked.

    Args:
        payload: The request body exactly as received (bytes; a str is encoded as UTF-8).
        headers: The request headers, any letter case (a dict, httpx or Starlette headers...).
        secret: The webhook's secret, as returned when it was created.
        tolerance_s: How far (seconds) the signature's timestamp may be from this machine's
            clock, in the past or the future; older deliveries are refused as replays.

    Raises:
        WebhookVerificationError: The signature header is missing or malformed, no signature
            matches (a wrong secret, or a body changed on the way), the timestamp is outside
            the tolerance, or the body is not an event.  The message never holds the secret.
    """
    if not secret:
        raise WebhookVerificationError("No webhook secret was given to check the signature with.")
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    value = _header(headers, SIGNATURE_HEADER)
    if value is None:
        raise WebhookVerificationError("The X-Depot-Signature header is missing.")
    timestamp, digests = _parse_signature(value)
    now = time.time()
    if timestamp < now - tolerance_s:
        raise WebhookVerificationError(
            f"The signature's timestamp {timestamp} is {int(now - timestamp)} s old, more than "
            f"the {tolerance_s} s tolerance."
        )
    if timestamp > now + tolerance_s:
        raise WebhookVerificationError(
            f"The signature's timestamp {timestamp} is {int(timestamp - now)} s in the future, "
            f"more than the {tolerance_s} s tolerance."
        )
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    # Every candidate is compared, in constant time, so timing tells nothing of which failed.
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise WebhookVerificationError(
            "The signature does not match: the secret differs from the webhook's, or the body "
            "was changed (verify the raw bytes received, before any parsing)."
        )
    try:
        return PushEvent.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise WebhookVerificationError(
            f"The signed body is not a push event: {exc.error_count()} problem(s), first "
            f"'{where}': {first['msg']}."
        ) from None
