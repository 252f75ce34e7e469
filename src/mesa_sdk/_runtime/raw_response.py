"""A successful call's response with its metadata: what `client.<resource>.with_raw_response`
methods return.

The body is parsed on demand (`.parse()` or `.data`), once; the status, headers, request id,
attempt count and idempotent replay are read from the response as it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")

ATTEMPTS_EXTENSION = "mesa_sdk.attempts"
"""The key under which the pipeline records, on a 2xx response, how many attempts it took."""


class RawResponse(Generic[T]):
    """A 2xx response and its metadata; `.parse()` (or `.data`) gives the method's result."""

    def __init__(self, http_response: httpx.Response, parse: Callable[[httpx.Response], T]) -> None:
        self.http_response = http_response
        """The `httpx.Response` itself, its body read."""
        self._parse = parse
        self._parsed: list[T] = []  # empty until parsed: None is a result too

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        """The server's `X-Request-Id`, to quote when reporting a problem."""
        request_id: str | None = self.http_response.headers.get("x-request-id")
        return request_id

    @property
    def attempts(self) -> int:
        """How many requests the call sent: 1, plus one per retry."""
        attempts = self.http_response.extensions.get(ATTEMPTS_EXTENSION, 1)
        return attempts if isinstance(attempts, int) else 1

    @property
    def idempotent_replayed(self) -> bool:
        """Whether the server answered with the stored response of an earlier request with the
        same idempotency key (`Idempotent-Replayed: true`) instead of acting again."""
        replayed: str = self.http_response.headers.get("idempotent-replayed", "")
        return replayed.lower() == "true"

    def parse(self) -> T:
        """The method's usual result, parsed from the body (once: later calls return it)."""
        if not self._parsed:
            self._parsed.append(self._parse(self.http_response))
        return self._parsed[0]

    @property
    def data(self) -> T:
        """The same as `parse()`."""
        return self.parse()

    def __repr__(self) -> str:
        return (
            f"RawResponse(status_code={self.status_code}, request_id={self.request_id!r}, "
            f"attempts={self.attempts}, idempotent_replayed={self.idempotent_replayed})"
        )
