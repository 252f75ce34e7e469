"""Diffs: the changes from ``base`` to ``head``, as JSON or a unified diff (text/plain)."""

from __future__ import annotations

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.negotiation import negotiate
from mesa_emulator.operations.base import (
    OperationContext,
    load_repo,
    query_str,
    resolve_ref,
)
from mesa_emulator.replies import json_reply

__all__ = ["get_diff"]

JSON = "application/json"
TEXT = "text/plain"


def get_diff(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Diff, DiffFile, DiffStats

    base = query_str(ctx, "base")
    head = query_str(ctx, "head")
    assert base is not None and head is not None
    media = negotiate(ctx.accept, (JSON, TEXT))
    if media is None:
        raise ApiError(
            "NOT_ACCEPTABLE",
            f"A diff is available as {JSON} or {TEXT}; the request accepts neither.",
            {"accept": ctx.accept, "available": [JSON, TEXT]},
        )
    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    base_sha = resolve_ref(git, base, "base")
    head_sha = resolve_ref(git, head, "head")
    result = git.diff(base_sha, head_sha)
    if media == TEXT:
        return Response(result.patch.encode("utf-8"), media_type="text/plain; charset=utf-8")
    return json_reply(
        200,
        Diff(
            base=base,
            head=head,
            base_sha=result.base_sha,
            head_sha=result.head_sha,
            stats=DiffStats(
                files=len(result.entries),
                additions=result.additions,
                deletions=result.deletions,
                changes=result.additions + result.deletions,
            ),
            files=[
                DiffFile(
                    path=entry.path,
                    status=entry.status,
                    old_path=entry.old_path,
                    additions=entry.additions,
                    deletions=entry.deletions,
                    binary=entry.binary,
                    raw=entry.patch,
                )
                for entry in result.entries
            ],
            filtered_files=[],  # the emulator leaves no changed file out of `files`
        ),
    )
