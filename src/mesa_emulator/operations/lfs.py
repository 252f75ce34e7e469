"""LFS batch: which objects the server has, and pre-signed URLs to upload or download them."""

from __future__ import annotations

from starlette.responses import Response

from mesa_emulator.lfs import URL_TTL_SECONDS
from mesa_emulator.operations.base import OperationContext, load_repo, parse_body
from mesa_emulator.replies import json_reply

__all__ = ["lfs_download", "lfs_upload"]


def _has(ctx: OperationContext, repo_id: str, oid: str, size: int) -> bool:
    state = ctx.state
    return state.store.lfs_size(repo_id, oid) == size and state.lfs.has(repo_id, oid)


def lfs_upload(ctx: OperationContext) -> Response:
    from mesa_sdk.models import LfsBatchRequest, LfsBatchResponse, LfsObject

    body = parse_body(LfsBatchRequest, ctx.body)
    record = load_repo(ctx)
    objects = []
    for spec in body.objects:
        if _has(ctx, record.id, spec.oid, spec.size):
            objects.append(LfsObject(oid=spec.oid, size=spec.size, exists=True))
        else:
            url = ctx.state.lfs.signed_url(ctx.base_url, "upload", record.id, spec.oid, spec.size)
            objects.append(
                LfsObject(
                    oid=spec.oid,
                    size=spec.size,
                    exists=False,
                    upload_url=url,
                    expires_in=URL_TTL_SECONDS,
                )
            )
    return json_reply(200, LfsBatchResponse(objects=objects))


def lfs_download(ctx: OperationContext) -> Response:
    from mesa_sdk.models import LfsBatchRequest, LfsBatchResponse, LfsObject, LfsObjectError

    body = parse_body(LfsBatchRequest, ctx.body)
    record = load_repo(ctx)
    objects = []
    for spec in body.objects:
        if _has(ctx, record.id, spec.oid, spec.size):
            url = ctx.state.lfs.signed_url(ctx.base_url, "download", record.id, spec.oid, spec.size)
            objects.append(
                LfsObject(
                    oid=spec.oid,
                    size=spec.size,
                    exists=True,
                    download_url=url,
                    expires_in=URL_TTL_SECONDS,
                )
            )
        else:
            objects.append(
                LfsObject(
                    oid=spec.oid,
                    size=spec.size,
                    exists=False,
                    error=LfsObjectError(
                        code="LFS_OBJECT_NOT_FOUND",
                        message=f"No LFS object {spec.oid} of {spec.size} bytes here.",
                    ),
                )
            )
    return json_reply(200, LfsBatchResponse(objects=objects))
