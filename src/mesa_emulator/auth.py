"""API keys: who is calling, and may they?

Keys are ``mesa_`` + random, stored only as their SHA-256.  The bootstrap key (from the
command line, ``MESA_API_KEY`` or generated) holds every scope on every organization and is
kept in memory only; keys made through the admin API belong to one organization and hold only
their scopes, ``admin`` implying all of them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from mesa_emulator.contract import ALL_SCOPES
from mesa_emulator.errors import ApiError
from mesa_emulator.store import MetadataStore, utc_now

__all__ = [
    "Principal",
    "authenticate",
    "authorize",
    "generate_key",
    "hash_key",
    "principal_for_key",
]


BOOTSTRAP_ID = "bootstrap"


@dataclass(frozen=True)
class Principal:
    key_id: str
    org: str | None  # None: every organization (the bootstrap key)
    scopes: frozenset[str]

    def may(self, org: str, scope: str) -> bool:
        if self.org is not None and self.org != org:
            return False
        return scope in self.scopes or "admin" in self.scopes


def generate_key() -> str:
    return "mesa_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def authenticate(header: str | None, store: MetadataStore, bootstrap_hash: str) -> Principal:
    """The principal behind an ``Authorization`` header, or 401 ``UNAUTHENTICATED``."""
    token = _bearer(header)
    if token is None:
        raise ApiError(
            "UNAUTHENTICATED", "An API key is required: send 'Authorization: Bearer <key>'."
        )
    return principal_for_key(token, store, bootstrap_hash)


def principal_for_key(key: str, store: MetadataStore, bootstrap_hash: str) -> Principal:
    """The principal holding API key ``key`` (however it was sent), or 401 ``UNAUTHENTICATED``."""
    digest = hash_key(key)
    if secrets.compare_digest(digest, bootstrap_hash):
        return Principal(BOOTSTRAP_ID, None, frozenset(ALL_SCOPES))
    record = store.find_key(digest)
    if record is None or record.revoked_at is not None:
        raise ApiError("UNAUTHENTICATED", "The API key is unknown or revoked.")
    now = utc_now()
    if record.last_used_at is None or (now - record.last_used_at).total_seconds() >= 1:
        store.touch_key(record.id, now)
    return Principal(record.id, record.org, frozenset(record.scopes))


def authorize(principal: Principal, org: str, scope: str) -> None:
    """403 ``FORBIDDEN`` unless the principal holds ``scope`` on ``org``."""
    if principal.org is not None and principal.org != org:
        raise ApiError(
            "FORBIDDEN",
            f"This API key belongs to another organization than '{org}'.",
            {"organization": org},
        )
    if not principal.may(org, scope):
        raise ApiError(
            "FORBIDDEN",
            f"This API key lacks the '{scope}' scope.",
            {"required_scope": scope},
        )
