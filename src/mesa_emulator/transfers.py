"""The pre-signed LFS transfer URLs: ``PUT`` and ``GET /_lfs/<repo id>/<oid>?...``.

No API key is needed: the URL's signature is checked instead (403 when bad or expired).  An
upload is streamed to a temporary file while it is hashed; it is kept only if its SHA-256 is the
oid and its length the signed size (otherwise ``422 LFS_VERIFICATION_FAILED``, nothing kept).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from mesa_emulator.errors import ApiError
from mesa_emulator.replies import STREAM_CHUNK
from mesa_emulator.request import emulator_state, query_params, raw_path
from mesa_emulator.state import EmulatorState

__all__ = ["transfer"]

_OID_RE = re.compile(r"[0-9a-f]{64}")
_REPO_ID_RE = re.compile(r"repo_[0-9a-f]+")
_WRITE_BATCH = 1024 * 1024


def _mismatch(message: str) -> ApiError:
    return ApiError("LFS_VERIFICATION_FAILED", message)


async def transfer(request: Request) -> Response:
    """``/_lfs/<repo id>/<oid>``, read from the raw path: an escaped id is no id."""
    await request.state.delay.spend()  # a scripted delay, just before the handler
    state = emulator_state(request)
    path = raw_path(request.scope).decode("latin-1")
    parts = path[len("/_lfs/") :].split("/")
    if len(parts) != 2 or not _REPO_ID_RE.fullmatch(parts[0]) or not _OID_RE.fullmatch(parts[1]):
        raise ApiError("NOT_FOUND", f"No route for {request.method} {path}.")
    repo_id, oid = parts
    query = query_params(request)
    if request.method == "PUT":
        size = state.lfs.verify("upload", repo_id, oid, query)
        return await _upload(state, repo_id, oid, size, request)
    if request.method == "GET":
        size = state.lfs.verify("download", repo_id, oid, query)
        return await run_in_threadpool(_download, state, repo_id, oid, size)
    raise ApiError(
        "METHOD_NOT_ALLOWED",
        f"Method {request.method} is not allowed here; allowed: GET, PUT.",
        headers={"Allow": "GET, PUT"},
    )


def _write(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


async def _upload(
    state: EmulatorState, repo_id: str, oid: str, size: int, request: Request
) -> Response:
    if await run_in_threadpool(state.store.get_repo_by_id, repo_id) is None:
        raise ApiError("REPO_NOT_FOUND", "The repository of this upload URL no longer exists.")
    temp = await run_in_threadpool(state.lfs.temp_path, repo_id, oid)
    hasher = hashlib.sha256()
    total = 0
    pending: list[bytes] = []
    pending_size = 0
    too_long = False
    try:
        async for chunk in request.stream():
            if not too_long:
                total += len(chunk)
                if total > size:
                    too_long = True  # keep reading (and discarding) so the client sees the 422
                else:
                    hasher.update(chunk)
                    pending.append(chunk)
                    pending_size += len(chunk)
                    if pending_size >= _WRITE_BATCH:
                        await run_in_threadpool(_write, temp, b"".join(pending))
                        pending, pending_size = [], 0
        if too_long:
            raise _mismatch(f"The upload has more than the signed {size} bytes.")
        if pending:
            await run_in_threadpool(_write, temp, b"".join(pending))
        elif total == 0:
            await run_in_threadpool(_write, temp, b"")
        if total != size:
            raise _mismatch(f"The upload has {total} bytes; the signed size is {size}.")
        if hasher.hexdigest() != oid:
            raise _mismatch("The upload's SHA-256 is not the object's oid.")
    except BaseException:
        await run_in_threadpool(_unlink, temp)
        raise
    await run_in_threadpool(state.lfs.commit_temp, temp, repo_id, oid)
    await run_in_threadpool(state.store.lfs_add, repo_id, oid, size)
    return JSONResponse({"oid": oid, "size": size, "exists": True})


def _download(state: EmulatorState, repo_id: str, oid: str, size: int) -> Response:
    path = state.lfs.object_path(repo_id, oid)
    if state.store.lfs_size(repo_id, oid) != size or not path.is_file():
        raise ApiError("LFS_OBJECT_NOT_FOUND", f"No LFS object {oid} of {size} bytes here.")
    handle = path.open("rb")

    def chunks() -> Iterator[bytes]:
        with handle:
            while True:
                chunk = handle.read(STREAM_CHUNK)
                if not chunk:
                    return
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(path.stat().st_size)},
    )
