"""What a handler answers: a Starlette response, built by these helpers.

Handlers build responses and never send them themselves, so the pipeline can store a response
for idempotent replay, or drop the connection instead of sending it (a scripted fault).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from starlette.responses import JSONResponse, Response, StreamingResponse

from mesa_emulator.errors import ApiError

__all__ = ["STREAM_CHUNK", "error_reply", "json_reply", "model_body", "raw_reply"]

STREAM_CHUNK = 64 * 1024


def model_body(model: BaseModel) -> dict[str, Any]:
    """A response model as JSON data: unset optional fields are left out, nulls set are kept."""
    return model.model_dump(mode="json", exclude_unset=True, by_alias=True)


def json_reply(status: int, model: BaseModel, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(model_body(model), status, headers)


def raw_reply(data: bytes, content_type: str) -> Response:
    """Raw bytes; large bodies are sent in chunks rather than one write."""
    if len(data) <= STREAM_CHUNK:
        return Response(data, media_type=content_type)

    def chunks() -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), STREAM_CHUNK):
            yield bytes(view[start : start + STREAM_CHUNK])

    return StreamingResponse(
        chunks(), media_type=content_type, headers={"Content-Length": str(len(data))}
    )


def error_reply(error: ApiError) -> Response:
    """The contract's envelope ``{"error": {"code", "message", "details"}}`` for ``error``."""
    from mesa_sdk.models import ErrorDetail, ErrorResponse

    envelope = ErrorResponse(
        error=ErrorDetail(code=error.code, message=error.message, details=error.details)
    )
    return json_reply(error.status, envelope, error.headers)
