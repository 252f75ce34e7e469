"""Every exception the SDK raises, and the map from error responses to exception classes."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx

from mesa_sdk._runtime.retry_after import parse_retry_after

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError


class MesaError(Exception):
    """The base of every exception the SDK raises."""

    # Attributes that cannot cross a process boundary; dropped when pickling.
    _unpicklable: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling calls `cls(*args)`, which keyword-only arguments break.
        state = {
            name: (None if name in self._unpicklable else value)
            for name, value in self.__dict__.items()
        }
        return (_restore_error, (type(self), self.args, state))


def _restore_error(cls: type[MesaError], args: tuple[Any, ...], state: dict[str, Any]) -> MesaError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class APIError(MesaError):
    """The server answered with an error status."""

    _unpicklable = ("response",)

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        headers: httpx.Headers | None = None,
        body: str = "",
        response: httpx.Response | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id
        self.headers = headers if headers is not None else httpx.Headers()
        self.body = body
        """The raw response body, as text."""
        self.response = response
        self.attempts = attempts
        """How many attempts the call made, retries included."""

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (`Retry-After`), or None when it did not say."""
        return parse_retry_after(self.headers, now=time.time())

    def __str__(self) -> str:
        facts = [f"{self.status_code} {self.code}" if self.code else str(self.status_code)]
        if self.request_id:
            facts.append(f"request id {self.request_id}")
        if self.attempts > 1:
            facts.append(f"after {self.attempts} attempts")
        return f"{self.message} ({', '.join(facts)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class APIConnectionError(MesaError, ConnectionError):
    """No answer came from the server: connection refused or dropped, protocol error."""

    def __init__(self, message: str, *, url: str | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        """The URL that failed, without its query."""
        self.attempts = attempts
        """How many attempts the call made, retries included."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """An attempt took longer than its timeout."""


class ResponseValidationError(MesaError):
    """A success response whose body does not match the documented type."""

    _unpicklable = ("response", "cause")

    def __init__(
        self,
        message: str,
        *,
        cause: PydanticValidationError | None,
        status_code: int,
        body: str,
        request_id: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        self.response = response


class FieldError(NamedTuple):
    """One invalid input: where it is (`body.edits.0.action`) and what is wrong with it."""

    location: str
    message: str


class InvalidRequestError(MesaError, ValueError):
    """The call's arguments are invalid; nothing was sent."""

    def __init__(self, operation: str, errors: list[FieldError]) -> None:
        details = "; ".join(
            f"{error.location}: {error.message}" if error.location else error.message
            for error in errors
        )
        super().__init__(f"{operation}: {details}")
        self.operation = operation
        """The method that was called, such as `repos.create`."""
        self.errors = errors


class MissingCredentialError(MesaError):
    """No API key was given, neither as an argument nor in the environment."""


class InvalidApiUrlError(MesaError, ValueError):
    """The server URL is not an absolute http(s) URL the SDK can use."""


class InvalidOptionsError(MesaError, ValueError):
    """Client or request options are malformed: retry config, request options, timeout."""


@dataclass(frozen=True)
class ErrorMap:
    """Which `APIError` subclass an error response raises.

    A class in `by_code` is used only when it subclasses the class its status maps to, so that
    `except ConflictError` still catches `MergeConflictError` and a code sent with an unexpected
    status never escapes its status's class.
    """

    by_status: Mapping[int, type[APIError]]
    by_code: Mapping[str, type[APIError]]
    client_error: type[APIError]
    """Any other status below 500."""
    server_error: type[APIError]
    """Any other status from 500."""

    def error_class(self, status_code: int, code: str | None) -> type[APIError]:
        status_class = self.by_status.get(status_code)
        if status_class is None:
            status_class = self.server_error if status_code >= 500 else self.client_error
        code_class = self.by_code.get(code) if code is not None else None
        if code_class is not None and issubclass(code_class, status_class):
            return code_class
        return status_class


# Tracebacks and reprs name the module users import these from, where the generated errors
# join them, not this private one: `mesa_sdk.errors.APIConnectionError`. (A package generated
# for another spec re-exports these same classes; mesa_sdk.errors still holds them.)
for _public in (
    MesaError,
    APIError,
    APIConnectionError,
    APITimeoutError,
    ResponseValidationError,
    InvalidRequestError,
    MissingCredentialError,
    InvalidApiUrlError,
    InvalidOptionsError,
):
    _public.__module__ = "mesa_sdk.errors"
del _public
