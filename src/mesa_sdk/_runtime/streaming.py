"""Response bodies read as they arrive, never held whole in memory unless asked.

A stream knows the body's size when the server says it (`total_bytes`, from
`Content-Length`) and counts what was read so far (`bytes_read`), enough for a progress bar.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx

from mesa_sdk._runtime.pipeline import connection_error
from mesa_sdk._runtime.transport_failures import classify


class _StreamBase:
    def __init__(self, response: httpx.Response, method_name: str) -> None:
        self._response = response
        self._method_name = method_name
        self._bytes_read = 0

    @property
    def total_bytes(self) -> int | None:
        """The body's size in bytes, from `Content-Length`; None when the server did not say,
        or sent the body compressed (then the length is not that of the bytes you read)."""
        encoding = self._response.headers.get("content-encoding", "identity").strip().lower()
        length = self._response.headers.get("content-length", "").strip()
        if encoding != "identity" or not length.isdigit():
            return None
        return int(length)

    @property
    def bytes_read(self) -> int:
        """How many bytes of the body were read so far."""
        return self._bytes_read

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    @property
    def request_id(self) -> str | None:
        """The server's id for the request (`X-Request-Id`), for support and logs."""
        request_id: str | None = self._response.headers.get("x-request-id")
        return request_id

    def _error(self, failure: httpx.RequestError) -> Exception:
        # A read timeout or dropped connection mid-body raises the SDK's own errors.
        return connection_error(
            self._method_name, self._response.request, failure, classify(failure)
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, request_id={self.request_id!r})"
        )


class ByteStream(_StreamBase):
    """A success response whose body is read in chunks; closed when its `with` block ends."""

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body's bytes, as they arrive (in chunks of `chunk_size` when given)."""
        try:
            for chunk in self._response.iter_bytes(chunk_size):
                self._bytes_read += len(chunk)
                yield chunk
        except httpx.RequestError as failure:
            raise self._error(failure) from failure

    def read(self) -> bytes:
        """The whole body."""
        try:
            body = self._response.read()
        except httpx.RequestError as failure:
            raise self._error(failure) from failure
        self._bytes_read = len(body)
        return body

    def close(self) -> None:
        self._response.close()


class AsyncByteStream(_StreamBase):
    """A success response whose body is read in chunks; closed when its `async with` ends."""

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body's bytes, as they arrive (in chunks of `chunk_size` when given)."""
        try:
            async for chunk in self._response.aiter_bytes(chunk_size):
                self._bytes_read += len(chunk)
                yield chunk
        except httpx.RequestError as failure:
            raise self._error(failure) from failure

    async def read(self) -> bytes:
        """The whole body."""
        try:
            body = await self._response.aread()
        except httpx.RequestError as failure:
            raise self._error(failure) from failure
        self._bytes_read = len(body)
        return body

    async def aclose(self) -> None:
        await self._response.aclose()
