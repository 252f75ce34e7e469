"""The API's error: one exception type that every layer raises and one envelope it renders to.

Every error the emulator answers is an :class:`ApiError`, rendered as the contract's envelope
``{"error": {"code", "message", "details"}}`` with the status that ``ErrorCode`` assigns to
the code.  Codes outside the contract (the emulator's own control plane and pre-signed LFS
URLs) pass an explicit ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mesa_sdk.models.error_code import ERROR_CODE_STATUS

__all__ = ["ApiError", "code_for_status", "status_for_code"]

# The contract's table, from the generated models: one source for both sides.
_STATUS: dict[str, int] = {code.value: status for code, status in ERROR_CODE_STATUS.items()}

# The code a bare status is answered with (scripted faults): the first code of that status.
_CODE_FOR_STATUS: dict[int, str] = {}
for _code, _status in _STATUS.items():
    _CODE_FOR_STATUS.setdefault(_status, _code)


def status_for_code(code: str) -> int:
    """The HTTP status the contract sends ``code`` with (500 for an unknown code)."""
    return _STATUS.get(code, 500)


def code_for_status(status: int) -> str:
    """A plausible error code for a bare HTTP status (used by scripted faults)."""
    if status in _CODE_FOR_STATUS:
        return _CODE_FOR_STATUS[status]
    if status >= 500:
        return "INTERNAL_ERROR"
    return "INVALID_REQUEST"


class ApiError(Exception):
    """An error answered to the client with the envelope and its status."""

    def __init__(
        self,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.status = status if status is not None else status_for_code(code)
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"ApiError({self.code!r}, {self.message!r}, status={self.status})"

    # Shorthands for the errors raised in many places.

    @classmethod
    def invalid_request(cls, field: str, message: str, **details: Any) -> ApiError:
        return cls("INVALID_REQUEST", message, {"field": field, **details})

    @classmethod
    def invalid_parameter(cls, parameter: str, message: str) -> ApiError:
        return cls("INVALID_PARAMETER", message, {"parameter": parameter})
