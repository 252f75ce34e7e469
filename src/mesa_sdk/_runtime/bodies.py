"""Request bodies other than JSON: forms, multipart uploads and raw bytes, as the spec names them.

A body is encoded once into bytes, so that every retry sends it again unchanged; only a raw
body given as an iterable or a file is streamed, and that call is not retried (the stream
cannot be read twice).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal, Union
from urllib.parse import urlencode

File = Union[bytes, tuple[str, bytes], tuple[str, bytes, str]]  # noqa: UP007 - a runtime alias
"""A file to upload in a multipart body: its bytes, or `(filename, bytes)`, or
`(filename, bytes, content_type)`."""

RawBody = Union[bytes, str, Iterable[bytes]]  # noqa: UP007 - a runtime alias
"""A body sent as it is: bytes, text (sent as UTF-8), or an iterable of bytes or a binary file,
streamed."""

BodyKind = Literal["json", "form", "multipart", "raw"]

_DEFAULT_FILE_TYPE = "application/octet-stream"
_STREAM_CHUNK_BYTES = 64 * 1024


@lru_cache(maxsize=64)
def body_kind(media_type: str) -> BodyKind:
    """How a body of `media_type` is encoded: `application/problem+json; charset=utf-8` is JSON."""
    essence = media_type.split(";", 1)[0].strip().lower()
    if essence == "application/json" or essence.endswith("+json"):
        return "json"
    if essence == "application/x-www-form-urlencoded":
        return "form"
    if essence == "multipart/form-data":
        return "multipart"
    return "raw"


def form_content(fields: Mapping[str, Any]) -> bytes:
    """`a=1&tag=x&tag=y`: arrays repeat their name, objects are sent as JSON text.

    `fields` are the validated values by wire name, as pydantic's python-mode dump gives them.
    """
    pairs = [
        (name, _form_text(_jsonable(item)))
        for name, value in fields.items()
        for item in _items(value)
    ]
    return urlencode(pairs).encode("ascii")


def multipart_content(fields: Mapping[str, Any]) -> tuple[bytes, str]:
    """The body and its Content-Type (with the boundary).

    `fields` are the validated values by wire name (files as `File`): a file is a part with
    its filename and type, an object a JSON part, an array one part per item.
    """
    boundary = os.urandom(16).hex()
    chunks: list[bytes] = []
    for name, value in fields.items():
        for item in _items(value):
            if _is_file(item):
                filename, data, content_type = _file_parts(name, item)
                head = (
                    f'Content-Disposition: form-data; name="{_quoted(name)}"; '
                    f'filename="{_quoted(filename)}"\r\nContent-Type: {content_type}'
                )
            else:
                wire_item = _jsonable(item)
                is_json = isinstance(wire_item, (dict, list))
                data = _form_text(wire_item).encode()
                head = f'Content-Disposition: form-data; name="{_quoted(name)}"'
                if is_json:
                    head += "\r\nContent-Type: application/json"
            chunks += [f"--{boundary}\r\n{head}\r\n\r\n".encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def raw_content(body: object, *, for_async: bool) -> bytes | Iterable[bytes] | AsyncIterator[bytes]:
    """Bytes as they are, text as UTF-8, an iterable or a file as a stream; TypeError otherwise."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if (isinstance(body, Iterable) and not isinstance(body, Mapping)) or hasattr(body, "read"):
        return _async_chunks(body) if for_async else body  # type: ignore[return-value]
    raise TypeError(
        f"expected bytes, str, an iterable of bytes or a file, got {type(body).__name__}"
    )


async def _async_chunks(source: Any) -> AsyncIterator[bytes]:
    # httpx's async client streams only async iterables; a file or a list is read in chunks.
    if hasattr(source, "read"):
        while chunk := source.read(_STREAM_CHUNK_BYTES):
            yield chunk
        return
    for chunk in source:
        yield chunk


def _jsonable(value: Any) -> Any:
    """A value in its JSON form: a datetime as ISO 8601 text, a UUID as text..."""
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _form_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _is_file(value: Any) -> bool:
    return isinstance(value, bytes) or (
        isinstance(value, tuple) and len(value) in (2, 3) and isinstance(value[1], bytes)
    )


def _file_parts(name: str, value: File) -> tuple[str, bytes, str]:
    if isinstance(value, bytes):
        return name, value, _DEFAULT_FILE_TYPE
    if len(value) == 2:
        return value[0], value[1], _DEFAULT_FILE_TYPE
    return value


def _quoted(text: str) -> str:
    # As browsers do (the HTML form encoding): a quote or a line break cannot end the header.
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
