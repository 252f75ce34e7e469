"""Analytics and agent blame: who wrote a repository's history, and which lines of a change
AI agents wrote (from Agent Blame's git notes)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from starlette.responses import Response

from mesa_emulator.git.analytics import Analytics, LineTotals
from mesa_emulator.operations.base import (
    OperationContext,
    head_sha,
    load_repo,
    query_choice,
    query_str,
    resolve_ref,
)
from mesa_emulator.replies import json_reply

if TYPE_CHECKING:
    from mesa_sdk.models import AnalyticsContributor, AnalyticsResult

__all__ = ["get_agent_blame", "get_analytics", "refresh_analytics"]

# How far back each period reaches; `all` has no bound.
_PERIODS = {"24h": timedelta(hours=24), "1w": timedelta(days=7), "1m": timedelta(days=30)}


def _contributor(totals: LineTotals) -> AnalyticsContributor:
    from mesa_sdk.models import AnalyticsContributor

    return AnalyticsContributor(
        total_lines=totals.total_lines,
        ai_lines=totals.ai_lines,
        providers=dict(totals.providers),
        models=dict(totals.models),
        commit_count=totals.commit_count,
    )


def _result(found: Analytics | None, now: datetime) -> AnalyticsResult:
    from mesa_sdk.models import (
        Analytics as AnalyticsModel,
    )
    from mesa_sdk.models import (
        AnalyticsHistoryEntry,
        AnalyticsResult,
        AnalyticsSummary,
    )

    if found is None:
        return AnalyticsResult(analytics=None, status="none")
    summary = found.summary
    return AnalyticsResult(
        analytics=AnalyticsModel(
            version=2,
            summary=AnalyticsSummary(
                total_lines=summary.total_lines,
                ai_lines=summary.ai_lines,
                human_lines=summary.total_lines - summary.ai_lines,
                providers=dict(summary.providers),
                models=dict(summary.models),
                updated=now.isoformat().replace("+00:00", "Z"),
            ),
            contributors={name: _contributor(t) for name, t in found.contributors.items()},
            history=[
                AnalyticsHistoryEntry(
                    date=entry.day,
                    sha=entry.sha,
                    author=entry.author,
                    added=entry.added,
                    removed=entry.removed,
                    ai_lines=entry.ai_lines,
                    message=entry.message,
                    providers=entry.providers,
                    models=entry.models,
                )
                for entry in found.history
            ],
        ),
        status="current",
    )


def _analytics(ctx: OperationContext, period: str) -> Response:
    record = load_repo(ctx)
    head = head_sha(ctx.state, record)
    now = datetime.now(timezone.utc)
    found = None
    if head is not None:
        reach = _PERIODS.get(period)
        found = ctx.state.git(record.id).analytics(head, None if reach is None else now - reach)
    return json_reply(200, _result(found, now))


def get_analytics(ctx: OperationContext) -> Response:
    return _analytics(ctx, query_choice(ctx, "period"))


def refresh_analytics(ctx: OperationContext) -> Response:
    # Computed from the history on every request, analytics are never stale: a refresh
    # answers what a read of the whole history does.
    return _analytics(ctx, "all")


def get_agent_blame(ctx: OperationContext) -> Response:
    from mesa_sdk.models import AgentBlame, AgentBlameStats, LineAttribution

    base = query_str(ctx, "base")
    head = query_str(ctx, "head")
    assert base is not None and head is not None
    record = load_repo(ctx)
    git = ctx.state.git(record.id)
    found = git.agent_blame(resolve_ref(git, base, "base"), resolve_ref(git, head, "head"))
    total, ai = found.total_lines, found.ai_lines
    return json_reply(
        200,
        AgentBlame(
            attributions={
                path: [
                    LineAttribution(
                        line_number=line.line_number,
                        provider=line.provider,
                        model=line.model,
                        confidence=line.confidence,
                        match_type=line.match_type,
                    )
                    for line in lines
                ]
                for path, lines in found.attributions.items()
            },
            stats=AgentBlameStats(
                total_lines=total,
                ai_lines=ai,
                human_lines=total - ai,
                ai_percentage=round(100 * ai / total, 2) if total else 0.0,
            ),
        ),
    )
