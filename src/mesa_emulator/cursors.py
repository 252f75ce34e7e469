"""Opaque, tamper-proof pagination cursors.

A cursor is ``base64url(JSON payload) "." base64url(HMAC-SHA256(secret, payload)[:16])``.  The
payload names the list it was issued for (``k``) and a digest of what binds it (``b``: the
organization, repository, ref, path...), so a forged, garbled or foreign cursor is refused
with ``400 INVALID_CURSOR`` rather than misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from mesa_emulator.errors import ApiError

__all__ = ["CursorCodec"]

_MAC_BYTES = 16
_MAX_LENGTH = 512


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bind_digest(kind: str, bind: tuple[object, ...]) -> str:
    text = json.dumps([kind, *bind], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, kind: str, bind: tuple[object, ...], **state: Any) -> str:
        payload = json.dumps(
            {"k": kind, "b": _bind_digest(kind, bind), **state},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def decode(self, token: str, kind: str, bind: tuple[object, ...]) -> dict[str, Any]:
        """The state of a cursor issued by :meth:`encode` for the same ``kind`` and ``bind``."""
        invalid = ApiError("INVALID_CURSOR", "The cursor was not issued for this list.")
        if not token or len(token) > _MAX_LENGTH or token.count(".") != 1:
            raise invalid
        body, _, mac = token.partition(".")
        try:
            payload = _b64decode(body)
            given = _b64decode(mac)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(given, self._mac(payload)):
            raise invalid
        try:
            state = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise invalid from None
        if not isinstance(state, dict) or state.get("k") != kind:
            raise invalid
        if state.get("b") != _bind_digest(kind, bind):
            raise invalid
        return state
