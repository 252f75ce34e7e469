"""A write is done once, however its attempts fail: the answer lost after the server acted is
retried with the same `Idempotency-Key` and answered from the idempotency store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from tests.shared import AUTHOR, commit_body

from .support import HookRecorder, script_for, sdk_client


@dataclass
class Repo:
    """A repository `r` with a commit on `main` and on `feature`, each side its own file."""

    main_head: str
    feature_head: str


def make_repo(client: Mesa) -> Repo:
    client.repos.create(body={"name": "r"})
    base = client.commits.create(
        repo="r",
        body=commit_body("base", [{"path": "base.txt", "action": "create", "content": "0"}]),
    )
    client.branches.create(repo="r", body={"name": "feature", "head_sha": base.sha})
    feature = client.commits.create(
        repo="r",
        body=commit_body(
            "feature work", [{"path": "f.txt", "action": "create", "content": "f"}], "feature"
        ),
    )
    main = client.commits.create(
        repo="r",
        body=commit_body("main work", [{"path": "m.txt", "action": "create", "content": "m"}]),
    )
    return Repo(main_head=main.sha, feature_head=feature.sha)


def history(client: Mesa, ref: str = "main") -> list[tuple[str, str]]:
    return [(c.sha, c.message) for c in client.commits.list(repo="r", ref=ref, limit=100)]


@dataclass
class Write:
    """One POST or PATCH operation: how to call it, and how to check it happened once."""

    id: str
    method: str
    path: str  # under /api/v1/{org}
    call: Callable[[Mesa, Repo], Any]
    check: Callable[[Mesa, Repo, Any], None]


def _check_repo_created(client: Mesa, repo: Repo, result: Any) -> None:
    # Without the replay the retry would be a 409 REPO_EXISTS.
    listed = {r.name: r.id for r in client.repos.list(limit=100)}
    assert sorted(listed) == ["new-repo", "r"] and listed["new-repo"] == result.id


def _check_repo_renamed(client: Mesa, repo: Repo, result: Any) -> None:
    # Without the replay the retry would be a 404: `r` no longer exists.
    assert result.name == "renamed"
    assert [(r.id, r.name) for r in client.repos.list(limit=100)] == [(result.id, "renamed")]


def _check_branch_created(client: Mesa, repo: Repo, result: Any) -> None:
    # Without the replay the retry would be a 409 BRANCH_EXISTS.
    names = [b.name for b in client.branches.list(repo="r", limit=100)]
    assert sorted(names) == ["feature", "main", "twin"]
    assert result.name == "twin" and result.head_sha == repo.main_head


def _check_committed(client: Mesa, repo: Repo, result: Any) -> None:
    log = history(client)
    assert [message for _, message in log] == ["exactly once", "main work", "base"]
    assert log[0][0] == result.sha and result.parents == [repo.main_head]


def _check_merged(client: Mesa, repo: Repo, result: Any) -> None:
    # Without the replay the retry would answer `up_to_date`, not the merge it made.
    assert result.merge_type == "merge_commit"
    log = history(client)
    assert [message for _, message in log].count("merge once") == 1
    assert log[0][0] == result.sha
    assert client.commits.get(repo="r", sha=result.sha).parents == [
        repo.main_head,
        repo.feature_head,
    ]


def _check_key_created(client: Mesa, repo: Repo, result: Any) -> None:
    keys = [(k.id, k.name) for k in client.admin.list_api_keys().api_keys]
    assert keys == [(result.id, "deploy")]


WRITES = [
    Write(
        "repos.create",
        "POST",
        "/repos",
        lambda c, _: c.repos.create(body={"name": "new-repo"}),
        _check_repo_created,
    ),
    Write(
        "repos.update",
        "PATCH",
        "/r",
        lambda c, _: c.repos.update(repo="r", body={"name": "renamed"}),
        _check_repo_renamed,
    ),
    Write(
        "branches.create",
        "POST",
        "/r/branches",
        lambda c, r: c.branches.create(repo="r", body={"name": "twin", "head_sha": r.main_head}),
        _check_branch_created,
    ),
    Write(
        "commits.create",
        "POST",
        "/r/commits",
        lambda c, _: c.commits.create(
            repo="r",
            body=commit_body(
                "exactly once", [{"path": "a.txt", "action": "create", "content": "1"}]
            ),
        ),
        _check_committed,
    ),
    Write(
        "merge.perform",
        "POST",
        "/r/merge/main",
        lambda c, _: c.merge.perform(
            repo="r",
            base="main",
            body={"head": "feature", "author": AUTHOR, "message": "merge once"},
        ),
        _check_merged,
    ),
    Write(
        "admin.create_api_key",
        "POST",
        "/api-keys",
        lambda c, _: c.admin.create_api_key(body={"name": "deploy", "scopes": ["git:read"]}),
        _check_key_created,
    ),
]


@pytest.mark.parametrize("write", WRITES, ids=[w.id for w in WRITES])
def test_a_write_whose_answer_was_lost_happens_once_and_returns_the_original_result(
    emu: Emulator, org: str, write: Write
) -> None:
    with sdk_client(emu, org) as client:
        repo = make_repo(client)
        recorder = HookRecorder().install(client)
        script = emu.script_faults(f"/api/v1/{org}{write.path}", [{"drop": "after"}], write.method)

        result = write.call(client, repo)

        # The server acted, the connection dropped before the answer; the retry was answered
        # from the idempotency store with the first response.
        assert [(a.attempt, a.outcome) for a in recorder.attempts] == [
            (1, "APIConnectionError"),
            (2, "replayed"),
        ]
        keys = {request.headers["idempotency-key"] for request in recorder.sent}
        assert len(recorder.sent) == 2 and len(keys) == 1
        assert keys == {recorder.attempts[0].idempotency_key}
        assert script_for(emu, script)["faults"][0]["consumed"] is True
        write.check(client, repo, result)


def test_the_retry_of_a_lost_commit_returns_the_committed_sha(emu: Emulator, org: str) -> None:
    """The issue's case in full: one commit in history, and its sha is the one returned."""
    with sdk_client(emu, org) as client:
        client.repos.create(body={"name": "r"})
        replayed: list[str | None] = []
        client.hooks.register_after_success(
            lambda context, response: replayed.append(response.headers.get("idempotent-replayed"))
        )
        script = emu.script_faults(f"/api/v1/{org}/r/commits", [{"drop": "after"}], "POST")
        made = client.commits.create(
            repo="r", body=commit_body("once", [{"path": "a", "action": "create", "content": "x"}])
        )
        assert replayed == ["true"]
        assert history(client) == [(made.sha, "once")]
        assert client.repos.get(repo="r").head_sha == made.sha
        log = script_for(emu, script)
        assert log["remaining"] == 0 and log["faults"][0]["consumed"] is True


async def test_async_writes_are_retried_with_their_key_too(emu: Emulator, org: str) -> None:
    async with sdk_client(emu, org) as client:
        await client.repos.create_async(body={"name": "r"})
        recorder = HookRecorder().install(client)
        emu.script_faults(f"/api/v1/{org}/r/commits", [{"drop": "after"}], "POST")
        made = await client.commits.create_async(
            repo="r",
            body=commit_body("async once", [{"path": "a", "action": "create", "content": "x"}]),
        )
        assert recorder.outcomes() == ["APIConnectionError", "replayed"]
        page = await client.commits.list_async(repo="r")
        assert [(c.sha, c.message) for c in page.result.commits] == [(made.sha, "async once")]


def test_a_caller_s_key_makes_a_write_safe_to_repeat_from_another_client(
    emu: Emulator, org: str
) -> None:
    """USAGE.md: with `idempotency_key` a write can be retried across processes too."""
    body = commit_body(
        "from a job that restarted", [{"path": "j", "action": "create", "content": "1"}]
    )
    options = {"idempotency_key": f"job-{org}-step-1"}
    with sdk_client(emu, org) as first:
        first.repos.create(body={"name": "r"})
        made = first.commits.create(repo="r", body=body, request_options=options)
    with sdk_client(emu, org) as second:
        recorder = HookRecorder().install(second)
        again = second.commits.create(repo="r", body=body, request_options=options)
        assert recorder.outcomes() == ["replayed"]
        assert again.sha == made.sha
        assert history(second) == [(made.sha, "from a job that restarted")]


# -- writes whose answer was lost or late ---------------------------------------------------


def test_a_write_whose_attempt_timed_out_is_not_reported_as_a_conflict(
    emu: Emulator, org: str
) -> None:
    with sdk_client(emu, org) as client:
        client.repos.create(body={"name": "r"})
        emu.script_faults(f"/api/v1/{org}/r/commits", [{"delay_ms": 1500}], "POST")
        made = client.commits.create(
            repo="r",
            body=commit_body("slow", [{"path": "a", "action": "create", "content": "x"}]),
            request_options={"timeout_ms": 300},
        )
        assert history(client) == [(made.sha, "slow")]


def test_a_delete_whose_answer_was_lost_reports_success(emu: Emulator, org: str) -> None:
    with sdk_client(emu, org) as client:
        repo = make_repo(client)
        assert repo.feature_head
        emu.script_faults(f"/api/v1/{org}/r/branches/feature", [{"drop": "after"}], "DELETE")
        client.branches.delete(repo="r", branch="feature")
        assert [b.name for b in client.branches.list(repo="r")] == ["main"]
