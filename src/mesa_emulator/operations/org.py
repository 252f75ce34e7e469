"""The organization: its summary."""

from __future__ import annotations

from starlette.responses import Response

from mesa_emulator.operations.base import OperationContext
from mesa_emulator.replies import json_reply
from mesa_emulator.store import utc_now

__all__ = ["get_org"]


def get_org(ctx: OperationContext) -> Response:
    from mesa_sdk.models import Org

    created_at, num_repos = ctx.state.store.org_summary(ctx.org, utc_now())
    return json_reply(200, Org(created_at=created_at, num_repos=num_repos))
