"""The API key: held so that no repr, str or log line ever shows it."""

from __future__ import annotations

from collections.abc import Callable

from mesa_sdk._runtime import logs
from mesa_sdk._runtime.errors import InvalidOptionsError, MissingCredentialError

ApiKeyInput = str | Callable[[], str]

# A header whose lower-cased name contains one of these is treated as a credential.
_CREDENTIAL_NAME_PARTS = ("auth", "key", "token", "secret", "cookie")


def is_credential_header(name: str) -> bool:
    """Whether a header may carry a credential: `Authorization`, `X-Api-Key`, `Cookie`..."""
    lowered = name.lower()
    return any(part in lowered for part in _CREDENTIAL_NAME_PARTS)


class ApiKey:
    """An API key, or a function returning one, resolved for each request.

    A function lets a long-lived client pick up a rotated key without being rebuilt.
    """

    __slots__ = ("_source",)

    def __init__(self, source: ApiKeyInput) -> None:
        if isinstance(source, str):
            if not source:
                raise MissingCredentialError("api_key is empty")
            logs.redact_secret(source)
        elif not callable(source):
            raise InvalidOptionsError(
                f"api_key: expected a str or a function returning one, got {type(source).__name__}"
            )
        self._source = source

    def resolve(self) -> str:
        """The key to send now."""
        if isinstance(self._source, str):
            return self._source
        key = self._source()
        if not isinstance(key, str) or not key:
            got = "an empty str" if key == "" else type(key).__name__
            raise MissingCredentialError(f"the api_key function returned {got}, not a key")
        logs.redact_secret(key)
        return key

    def __repr__(self) -> str:
        return "ApiKey('[redacted]')"

    __str__ = __repr__
