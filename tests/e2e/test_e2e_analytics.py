"""Analytics and agent blame through the SDK, on a history whose line counts are known and
whose Agent Blame notes are written with ``git notes``, as the agentblame tool writes them."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa, NotFoundError
from mesa_sdk.models import (
    AgentBlame,
    AgentBlameStats,
    Analytics,
    AnalyticsContributor,
    AnalyticsHistoryEntry,
    AnalyticsResult,
    AnalyticsSummary,
    LineAttribution,
)

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ADA = {"name": "Ada", "email": "ada@example.com"}
BOB = {"name": "Bob", "email": "bob@example.com"}
SONNET = "claude-sonnet-4"


def _commit(client: Mesa, who: dict[str, str], when: datetime, files: dict[str, str]) -> str:
    person = {**who, "date": when.isoformat()}
    result = client.commits.create(
        repo="r",
        body={
            "branch": "main",
            "message": f"change by {who['name']}\n\nbody",
            "author": person,
            "committer": person,
            "files": [{"path": path, "content": text} for path, text in files.items()],
        },
    )
    return result.sha


def _note(emu: Emulator, org: str, sha: str, attributions: list[dict[str, Any]]) -> None:
    """Attach the note the agentblame CLI attaches (its `attachNote`), with git itself."""
    record = emu.state.store.get_repo(org, "r")
    assert record is not None
    note = {
        "version": 2,
        "timestamp": NOW.isoformat(),
        "attributions": [
            {"category": "ai_generated", "contentHash": "sha256:x", **item} for item in attributions
        ],
    }
    subprocess.run(
        [
            *("git", "-c", "user.name=agentblame", "-c", "user.email=ab@example.com"),
            *("--git-dir", str(emu.state.repo_path(record.id)), "notes"),
            *("--ref=refs/notes/agentblame", "add", "-f", "-m", json.dumps(note), sha),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _ai(path: str, start: int, end: int, provider: str, model: str | None, **more: Any) -> Any:
    return {"path": path, "startLine": start, "endLine": end, "provider": provider,
            "model": model, "confidence": 1.0, "matchType": "exact_hash", **more}  # fmt: skip


@pytest.fixture
def history(client: Mesa, emu: Emulator, mesa_org: str) -> list[tuple[str, datetime]]:
    """Three commits: Ada 40 days ago (4 lines), Bob 3 days ago (5 lines, 3 by agents), Ada 2
    hours ago (3 lines added, 1 removed, 1 by an agent; the lines Bob's agent wrote move
    down by one)."""
    client.repos.create(body={"name": "r"})
    made = []
    when = NOW - timedelta(days=40)
    made.append((_commit(client, ADA, when, {"app.py": "a1\na2\na3\na4\n"}), when))
    when = NOW - timedelta(days=3)
    sha = _commit(
        client, BOB, when, {"app.py": "b1\nb2\na1\na2\na3\na4\n", "notes.md": "n1\nn2\nn3\n"}
    )
    _note(
        emu,
        mesa_org,
        sha,
        [
            _ai("app.py", 1, 2, "claudeCode", SONNET),
            _ai("notes.md", 3, 3, "cursor", None, confidence=0.95, matchType="normalized_hash"),
        ],
    )
    made.append((sha, when))
    when = NOW - timedelta(hours=2)
    sha = _commit(client, ADA, when, {"app.py": "h0\nb1\nb2\na1\na2\na3\nc4\nc5\n"})
    _note(emu, mesa_org, sha, [_ai("app.py", 8, 8, "claudeCode", SONNET)])
    made.append((sha, when))
    return made


def _entry(
    made: tuple[str, datetime], author: str, added: int, removed: int, **ai: dict[str, int]
) -> AnalyticsHistoryEntry:
    sha, when = made
    providers, models = ai.get("providers", {}), ai.get("models", {})
    return AnalyticsHistoryEntry(
        date=when.date().isoformat(),
        sha=sha,
        author=author,
        added=added,
        removed=removed,
        ai_lines=sum(providers.values()),
        message=f"change by {author}",
        providers=providers,
        models=models,
    )


def _expected(
    got: AnalyticsResult, history: list[AnalyticsHistoryEntry], **contributors: Any
) -> AnalyticsResult:
    assert got.analytics is not None
    updated = got.analytics.summary.updated
    assert abs(datetime.fromisoformat(updated.replace("Z", "+00:00")) - NOW) < timedelta(minutes=5)
    providers: dict[str, int] = {}
    models: dict[str, int] = {}
    for entry in history:
        for name, lines in (entry.providers or {}).items():
            providers[name] = providers.get(name, 0) + lines
        for name, lines in (entry.models or {}).items():
            models[name] = models.get(name, 0) + lines
    total = sum(entry.added for entry in history)
    ai = sum(entry.ai_lines for entry in history)
    return AnalyticsResult(
        analytics=Analytics(
            version=2,
            summary=AnalyticsSummary(
                total_lines=total,
                ai_lines=ai,
                human_lines=total - ai,
                providers=providers,
                models=models,
                updated=updated,
            ),
            contributors=contributors,
            history=history,
        ),
        status="current",
    )


def test_analytics_count_each_period(client: Mesa, history: list[tuple[str, datetime]]) -> None:
    first = _entry(history[0], "Ada", 4, 0)
    second = _entry(
        history[1],
        "Bob",
        5,
        0,
        providers={"claudeCode": 2, "cursor": 1},
        models={SONNET: 2},
    )
    third = _entry(history[2], "Ada", 3, 1, providers={"claudeCode": 1}, models={SONNET: 1})
    bob = AnalyticsContributor(
        total_lines=5,
        ai_lines=3,
        providers={"claudeCode": 2, "cursor": 1},
        models={SONNET: 2},
        commit_count=1,
    )

    everyone = {
        "Ada": AnalyticsContributor(
            total_lines=7,
            ai_lines=1,
            providers={"claudeCode": 1},
            models={SONNET: 1},
            commit_count=2,
        ),
        "Bob": bob,
    }
    whole = [first, second, third]
    # `all` is the default; a refresh recomputes the whole history.
    for got in (
        client.analytics.get(repo="r"),
        client.analytics.get(repo="r", period="all"),
        client.analytics.refresh(repo="r"),
    ):
        assert got == _expected(got, whole, **everyone)

    ada_recent = AnalyticsContributor(
        total_lines=3, ai_lines=1, providers={"claudeCode": 1}, models={SONNET: 1}, commit_count=1
    )
    for period in ("1m", "1w"):
        got = client.analytics.get(repo="r", period=period)
        assert got == _expected(got, [second, third], Ada=ada_recent, Bob=bob), period
    got = client.analytics.get(repo="r", period="24h")
    assert got == _expected(got, [third], Ada=ada_recent)


def test_agent_blame_follows_lines_back_to_their_notes(
    client: Mesa, history: list[tuple[str, datetime]]
) -> None:
    first, second, third = (sha for sha, _ in history)

    def claude(line: int) -> LineAttribution:
        return LineAttribution(
            line_number=line,
            provider="claudeCode",
            model=SONNET,
            confidence=1.0,
            match_type="exact_hash",
        )

    # Bob's agent wrote app.py lines 1-2, which are lines 2-3 at the head.
    assert client.agent_blame.get(repo="r", base=first, head="main") == AgentBlame(
        attributions={
            "app.py": [claude(2), claude(3), claude(8)],
            "notes.md": [
                LineAttribution(
                    line_number=3,
                    provider="cursor",
                    model=None,
                    confidence=0.95,
                    match_type="normalized_hash",
                )
            ],
        },
        # app.py: h0, b1, b2, c4, c5 were written after `first`; notes.md: 3 lines.
        stats=AgentBlameStats(total_lines=8, ai_lines=4, human_lines=4, ai_percentage=50.0),
    )
    assert client.agent_blame.get(repo="r", base=second, head=third) == AgentBlame(
        attributions={"app.py": [claude(8)]},
        stats=AgentBlameStats(total_lines=3, ai_lines=1, human_lines=2, ai_percentage=33.33),
    )
    assert client.agent_blame.get(repo="r", base=third, head=third) == AgentBlame(
        attributions={},
        stats=AgentBlameStats(total_lines=0, ai_lines=0, human_lines=0, ai_percentage=0.0),
    )


def test_a_history_without_notes_is_all_human(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    assert client.analytics.get(repo="r") == AnalyticsResult(analytics=None, status="none")
    root = _commit(client, BOB, NOW, {"a.txt": "1\n2\n"})
    head = _commit(client, BOB, NOW, {"a.txt": "1\n2\n3\n"})
    got = client.analytics.get(repo="r", period="24h")
    assert got.analytics is not None and got.analytics.summary.human_lines == 3
    assert client.agent_blame.get(repo="r", base=root, head=head) == AgentBlame(
        attributions={},
        stats=AgentBlameStats(total_lines=1, ai_lines=0, human_lines=1, ai_percentage=0.0),
    )


def test_bad_input_is_named(client: Mesa, emu: Emulator, mesa_org: str) -> None:
    client.repos.create(body={"name": "r"})
    _commit(client, BOB, NOW, {"a.txt": "1\n"})
    # The SDK refuses a period outside the enumeration itself; the server does too.
    with httpx.Client(base_url=emu.url, timeout=30) as http:
        answer = http.get(
            f"/{mesa_org}/r/analytics",
            params={"period": "2d"},
            headers={"Authorization": f"Bearer {emu.api_key}"},
        )
    assert (answer.status_code, answer.json()["error"]) == (
        400,
        {
            "code": "INVALID_PARAMETER",
            "message": "'period' must be one of 24h, 1w, 1m, all; got '2d'.",
            "details": {"parameter": "period"},
        },
    )
    with pytest.raises(NotFoundError) as missing:
        client.agent_blame.get(repo="r", base="nope", head="main")
    assert (missing.value.status_code, missing.value.code) == (404, "REF_NOT_FOUND")
    assert missing.value.details == {"parameter": "base", "ref": "nope"}
