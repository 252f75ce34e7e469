"""What a handler answers: a status, headers and a body (bytes or a stream of chunks).

Handlers build replies and never send them themselves, so the pipeline can store a reply for
idempotent replay, or drop the connection instead of sending it (a scripted fault).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from mesa_emulator.errors import ApiError

__all__ = [
    "STREAM_CHUNK",
    "Reply",
    "error_reply",
    "json_data_reply",
    "json_reply",
    "model_body",
    "raw_reply",
]

STREAM_CHUNK = 64 * 1024
JSON_TYPE = "application/json"


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    # A streamed body: chunks produced on demand, with its total length known up front.
    stream: Iterator[bytes] | None = None
    stream_length: int | None = None

    def header_list(self) -> list[tuple[bytes, bytes]]:
        """The response headers as ASGI wants them (content-type and -length included)."""
        out: list[tuple[bytes, bytes]] = []
        if self.content_type is not None:
            out.append((b"content-type", self.content_type.encode("latin-1")))
        length = self.stream_length if self.stream is not None else len(self.body)
        if length is not None:
            out.append((b"content-length", str(length).encode("ascii")))
        for name, value in self.headers.items():
            out.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return out


def model_body(model: BaseModel) -> dict[str, Any]:
    """A response model as JSON data: unset optional fields are left out, nulls set are kept."""
    return model.model_dump(mode="json", exclude_unset=True, by_alias=True)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_reply(status: int, model: BaseModel, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=_dumps(model_body(model)), headers=dict(headers or {}))


def json_data_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    """Plain JSON data (the control plane, whose shapes are not part of the contract)."""
    return Reply(status=status, body=_dumps(data), headers=dict(headers or {}))


def raw_reply(data: bytes, content_type: str) -> Reply:
    """Raw bytes; large bodies are sent in chunks rather than one write."""
    if len(data) <= STREAM_CHUNK:
        return Reply(status=200, body=data, content_type=content_type)

    def chunks() -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), STREAM_CHUNK):
            yield bytes(view[start : start + STREAM_CHUNK])

    return Reply(status=200, content_type=content_type, stream=chunks(), stream_length=len(data))


def error_reply(error: ApiError) -> Reply:
    from mesa_sdk.models import ErrorDetail, ErrorResponse

    envelope = ErrorResponse(
        error=ErrorDetail(code=error.code, message=error.message, details=error.details)
    )
    return Reply(
        status=error.status,
        body=_dumps(model_body(envelope)),
        headers=dict(error.headers),
    )
