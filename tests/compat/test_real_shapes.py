"""Our SDK fed the answers the real Depot service sends, operation by operation.

Each answer is shaped as the official client `mesa-sdk==0.1.2` (generated from the real spec)
models it: its required fields, none of our additions (`parents`, `base_sha`, per-file counts,
`target`...), `upstream` on a repository. Our parsed models must be exactly these values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest
import respx
from tests.shared import AUTHOR

from mesa_sdk import Mesa
from mesa_sdk.errors import ConflictError
from mesa_sdk.models import (
    AgentBlame,
    AgentBlameStats,
    Analytics,
    AnalyticsContributor,
    AnalyticsHistoryEntry,
    AnalyticsMeta,
    AnalyticsResult,
    AnalyticsSummary,
    ApiKey,
    ApiKeyCreated,
    ApiKeyList,
    Autosync,
    Branch,
    BranchList,
    Commit,
    CommitResult,
    Diff,
    DiffFile,
    DiffStats,
    DirContent,
    DirEntry,
    FileContent,
    LfsBatchResponse,
    LfsObject,
    LineAttribution,
    MergeResult,
    Org,
    Repo,
    RepoList,
    Signature,
    Success,
    SymlinkContent,
    SyncError,
    SyncOk,
    SyncRunning,
    SyncStatus,
    UpdateRepo,
    Upstream,
    Webhook,
    WebhookCreated,
    WebhookList,
)

BASE = "https://depot.test/api/v1"
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
SHA2 = "9daeafb9864cf43055ae93beb0afd6c7d144bfa4"
OID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
WHEN = "2026-11-22T08:00:00Z"
AT = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def client() -> Iterator[Mesa]:
    with Mesa(
        api_key="mesa_compat_key", server_url=BASE, org="acme", retry_config={"strategy": "none"}
    ) as mesa:
        yield mesa


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


def sent_json(route: respx.Route) -> object:
    return json.loads(route.calls.last.request.content)


def test_commit_create_real_answer_and_files_body(client: Mesa, api: respx.MockRouter) -> None:
    route = api.post("/acme/widgets/commits").respond(
        201, json={"sha": SHA, "branch": "main", "message": "Add"}
    )
    files = [
        {"path": "a.txt", "content": "hi"},
        {"path": "b.txt", "action": "delete"},
        {"path": "c.bin", "lfs": {"oid": OID, "size": 4}},
    ]
    made = client.commits.create(
        repo="widgets",
        body={"branch": "main", "message": "Add", "author": AUTHOR, "files": files},
    )
    assert made == CommitResult(sha=SHA, branch="main", message="Add")
    assert made.parents is None
    assert sent_json(route) == {
        "branch": "main",
        "message": "Add",
        "author": AUTHOR,
        "files": files,
    }


def test_commit_get_and_list_without_dates_or_parents(client: Mesa, api: respx.MockRouter) -> None:
    commit = {
        "sha": SHA,
        "message": "m",
        "author": {"name": "A", "email": "a@x"},
        "committer": {"name": "C", "email": "c@x", "date": WHEN},
    }
    api.get(f"/acme/widgets/commits/{SHA}").respond(200, json=commit)
    api.get("/acme/widgets/commits").respond(
        200, json={"commits": [commit], "next_cursor": None, "has_more": False}
    )
    expected = Commit(
        sha=SHA,
        message="m",
        author=Signature(name="A", email="a@x"),
        committer=Signature(name="C", email="c@x", date=AT),
    )
    assert client.commits.get(repo="widgets", sha=SHA) == expected
    page = client.commits.list(repo="widgets")
    assert page.result.commits == [expected]


def test_branch_create_from_and_list(client: Mesa, api: respx.MockRouter) -> None:
    branch = {"name": "feature", "head_sha": SHA, "is_default": False}
    route = api.post("/acme/widgets/branches").respond(201, json=branch)
    made = client.branches.create(repo="widgets", body={"name": "feature", "from": "main"})
    assert made == Branch(name="feature", head_sha=SHA, is_default=False)
    assert sent_json(route) == {"name": "feature", "from": "main"}
    api.get("/acme/widgets/branches").respond(
        200, json={"branches": [branch], "next_cursor": None, "has_more": False}
    )
    assert client.branches.list(repo="widgets").result == BranchList(
        branches=[made], next_cursor=None, has_more=False
    )
    api.delete("/acme/widgets/branches/feature").respond(200, json={"success": True})
    assert client.branches.delete(repo="widgets", branch="feature") == Success(success=True)


def test_content_file_symlink_dir(client: Mesa, api: respx.MockRouter) -> None:
    answers = {
        "a.txt": {
            "type": "file",
            "name": "a.txt",
            "path": "a.txt",
            "sha": SHA,
            "size": 2,
            "encoding": "base64",
            "content": "aGk=",
            "executable": False,
            "last_commit_at": WHEN,
        },
        "link": {
            "type": "symlink",
            "name": "link",
            "path": "link",
            "sha": SHA,
            "size": 5,
            "encoding": "base64",
            "content": "YS50eHQ=",
            "executable": False,
            "last_commit_at": None,
        },
        "": {
            "type": "dir",
            "name": "",
            "path": "",
            "sha": SHA2,
            "child_count": 2,
            "entries": [
                {
                    "type": "file",
                    "name": "a.txt",
                    "path": "a.txt",
                    "sha": SHA,
                    "size": 2,
                    "executable": True,
                    "last_commit_at": WHEN,
                },
                {"type": "dir", "name": "src", "path": "src", "sha": SHA2},
            ],
            "next_cursor": None,
            "has_more": False,
        },
    }
    api.get("/acme/widgets/content").mock(
        side_effect=lambda r: httpx.Response(200, json=answers[r.url.params.get("path", "")])
    )
    assert client.content.get(repo="widgets", path="a.txt") == FileContent(
        type="file",
        name="a.txt",
        path="a.txt",
        sha=SHA,
        size=2,
        encoding="base64",
        content="aGk=",
        executable=False,
        last_commit_at=AT,
    )
    link = client.content.get(repo="widgets", path="link")
    assert link == SymlinkContent(
        type="symlink",
        name="link",
        path="link",
        sha=SHA,
        size=5,
        encoding="base64",
        content="YS50eHQ=",
        executable=False,
        last_commit_at=None,
    )
    assert isinstance(link, SymlinkContent) and link.target is None
    assert client.content.get(repo="widgets") == DirContent(
        type="dir",
        name="",
        path="",
        sha=SHA2,
        child_count=2,
        entries=[
            DirEntry(
                type="file",
                name="a.txt",
                path="a.txt",
                sha=SHA,
                size=2,
                executable=True,
                last_commit_at=AT,
            ),
            DirEntry(type="dir", name="src", path="src", sha=SHA2),
        ],
        next_cursor=None,
        has_more=False,
    )


def test_diff_real_shape(client: Mesa, api: respx.MockRouter) -> None:
    api.get("/acme/widgets/diff").respond(
        200,
        json={
            "base": "main",
            "head": "feature",
            "stats": {"files": 2, "additions": 3, "deletions": 1, "changes": 4},
            "files": [
                {"path": "a.py", "status": "M", "bytes": 120, "is_eof": True, "raw": "@@"},
                {"path": "b.py", "status": "R", "old_path": "old.py"},
            ],
            "filtered_files": [{"path": "package-lock.json", "status": "M", "bytes": 9000}],
        },
    )
    assert client.diffs.get(repo="widgets", base="main", head="feature") == Diff(
        base="main",
        head="feature",
        stats=DiffStats(files=2, additions=3, deletions=1, changes=4),
        files=[
            DiffFile(path="a.py", status="M", bytes=120, is_eof=True, raw="@@"),
            DiffFile(path="b.py", status="R", old_path="old.py"),
        ],
        filtered_files=[DiffFile(path="package-lock.json", status="M", bytes=9000)],
    )


def test_merge_keys_lfs_and_repo(client: Mesa, api: respx.MockRouter) -> None:
    merge = {
        "merge_type": "merge_commit",
        "sha": SHA,
        "base": "main",
        "head": "feature",
        "branch_deleted": False,
    }
    api.post("/acme/widgets/merge/main").respond(200, json=merge)
    assert client.merge.perform(
        repo="widgets", base="main", body={"head": "feature", "author": AUTHOR}
    ) == MergeResult(**merge)  # type: ignore[arg-type]

    created = {
        "id": "key_1",
        "key": "mesa_secret",
        "name": None,
        "scopes": ["repo:read"],
        "created_at": WHEN,
    }
    api.post("/acme/api-keys").respond(201, json=created)
    made = client.admin.create_api_key(body={"scopes": ["repo:read"]})
    assert made == ApiKeyCreated(
        id="key_1", key="mesa_secret", name=None, scopes=["repo:read"], created_at=AT
    )
    listed = {
        "id": "key_1",
        "name": None,
        "scopes": ["repo:read"],
        "last_used_at": None,
        "expires_at": WHEN,
        "revoked_at": None,
        "created_at": WHEN,
    }
    api.get("/acme/api-keys").respond(200, json={"api_keys": [listed]})
    assert client.admin.list_api_keys() == ApiKeyList(
        api_keys=[
            ApiKey(
                id="key_1",
                name=None,
                scopes=["repo:read"],
                last_used_at=None,
                expires_at=AT,
                revoked_at=None,
                created_at=AT,
            )
        ]
    )
    api.delete("/acme/api-keys/key_1").respond(200, json={"success": True})
    assert client.admin.revoke_api_key(id="key_1") == Success(success=True)

    lfs = {"oid": OID, "size": 4, "exists": False, "upload_url": "https://u", "expires_in": 3600}
    api.post("/acme/widgets/lfs/objects").respond(200, json={"objects": [lfs]})
    assert client.lfs.upload(
        repo="widgets", body={"objects": [{"oid": OID, "size": 4}]}
    ) == LfsBatchResponse(objects=[LfsObject(**lfs)])  # type: ignore[arg-type]

    repo = {
        "id": "repo_1",
        "org": "acme",
        "name": "widgets",
        "default_branch": "main",
        "head_sha": None,
        "size_bytes": 0,
        "created_at": WHEN,
        "upstream": None,
    }
    api.get("/acme/widgets").respond(200, json=repo)
    got = client.repos.get(repo="widgets")
    assert (got.id, got.name, got.head_sha, got.size_bytes) == ("repo_1", "widgets", None, 0)
    assert (got.upstream, got.status, got.model_extra) == (None, None, {})
    api.delete("/acme/widgets").respond(200, json={"success": True})
    assert client.repos.delete(repo="widgets") == Success(success=True)


def test_error_envelope_without_details(client: Mesa, api: respx.MockRouter) -> None:
    api.post("/acme/widgets/merge/main").respond(
        409, json={"error": {"code": "MERGE_CONFLICT", "message": "Merge conflicts"}}
    )
    with pytest.raises(ConflictError) as raised:
        client.merge.perform(repo="widgets", base="main", body={"head": "f", "author": AUTHOR})
    error = raised.value
    assert (error.status_code, error.code, error.message) == (
        409,
        "MERGE_CONFLICT",
        "Merge conflicts",
    )
    assert error.details == {}


# ---- org, upstream and sync -------------------------------------------------------------

REAL_UPSTREAM = {
    "uri": "https://github.com/acme/widgets.git",
    "autosync": {"type": "poll", "period": 3600, "resolution_strategy": "none"},
    "last_sync_attempt": WHEN,
    "last_sync_success": None,
    "last_sync_error": None,
    "has_credential": True,
    "credential_host": "github.com",
}
UPSTREAM = Upstream(
    uri="https://github.com/acme/widgets.git",
    autosync=Autosync(type="poll", period=3600, resolution_strategy="none"),
    last_sync_attempt=AT,
    last_sync_success=None,
    last_sync_error=None,
    has_credential=True,
    credential_host="github.com",
)
REAL_REPO = {
    "id": "repo_1",
    "org": "acme",
    "name": "widgets",
    "default_branch": "main",
    "head_sha": None,
    "size_bytes": 0,
    "created_at": WHEN,
    "upstream": REAL_UPSTREAM,
}
REPO = Repo(
    id="repo_1",
    org="acme",
    name="widgets",
    default_branch="main",
    head_sha=None,
    size_bytes=0,
    created_at=AT,
    upstream=UPSTREAM,
)


def test_org_get(client: Mesa, api: respx.MockRouter) -> None:
    api.get("/acme").respond(200, json={"created_at": WHEN, "num_repos": 3})
    assert client.org.get() == Org(created_at=AT, num_repos=3)


def test_repo_with_upstream_for_200_and_202(client: Mesa, api: respx.MockRouter) -> None:
    route = api.get("/acme/widgets")
    route.side_effect = [
        httpx.Response(200, json=REAL_REPO),
        httpx.Response(202, json={**REAL_REPO, "status": "syncing"}),
    ]
    assert client.repos.get(repo="widgets") == REPO
    assert client.repos.get(repo="widgets") == REPO.model_copy(update={"status": "syncing"})


def test_repo_list_and_update_with_upstream(client: Mesa, api: respx.MockRouter) -> None:
    api.get("/acme/repos").respond(
        200, json={"repos": [REAL_REPO], "next_cursor": None, "has_more": False}
    )
    assert client.repos.list().result == RepoList(repos=[REPO], next_cursor=None, has_more=False)
    api.patch("/acme/widgets").respond(200, json=REAL_REPO)
    assert client.repos.update(repo="widgets", body={"name": "widgets"}) == REPO


def test_create_sends_the_upstream_as_the_real_form(client: Mesa, api: respx.MockRouter) -> None:
    route = api.post("/acme/repos").respond(201, json=REAL_REPO)
    upstream = {
        "uri": "https://github.com/acme/widgets.git",
        "autosync": {"type": "poll", "period": 3600},
        "token": "ghp_secret",
        "token_username": "x-access-token",
    }
    assert client.repos.create(body={"name": "widgets", "upstream": upstream}) == REPO
    assert sent_json(route) == {"name": "widgets", "upstream": upstream}


def test_update_upstream_is_three_state(client: Mesa, api: respx.MockRouter) -> None:
    route = api.patch("/acme/widgets").respond(200, json={**REAL_REPO, "upstream": None})
    client.repos.update(repo="widgets", body={"upstream": None})
    assert route.calls.last.request.content == b'{"upstream":null}'
    client.repos.update(repo="widgets", body=UpdateRepo(upstream=None))
    assert route.calls.last.request.content == b'{"upstream":null}'
    client.repos.update(repo="widgets", body={"name": "widgets"})
    assert route.calls.last.request.content == b'{"name":"widgets"}'
    client.repos.update(repo="widgets", body={"upstream": {"uri": "/srv/u.git", "token": None}})
    assert route.calls.last.request.content == b'{"upstream":{"uri":"/srv/u.git","token":null}}'
    client.repos.update(repo="widgets", body={"upstream": {"uri": "/srv/u.git"}})
    assert route.calls.last.request.content == b'{"upstream":{"uri":"/srv/u.git"}}'


@pytest.mark.parametrize(
    ("real", "status"),
    [
        ({"type": "ok"}, SyncOk(type="ok")),
        ({"type": "syncing"}, SyncRunning(type="syncing")),
        (
            {"type": "error", "message": "no such repo"},
            SyncError(type="error", message="no such repo"),
        ),
    ],
)
def test_sync_status(client: Mesa, api: respx.MockRouter, real: object, status: object) -> None:
    api.get("/acme/widgets/sync").respond(
        200, json={"last_sync_attempt": WHEN, "last_sync_success": None, "status": real}
    )
    assert client.repos.get_sync_status(repo="widgets") == SyncStatus(
        last_sync_attempt=AT,
        last_sync_success=None,
        status=status,  # type: ignore[arg-type]
    )


def test_sync(client: Mesa, api: respx.MockRouter) -> None:
    route = api.post("/acme/widgets/sync").respond(200, json={"success": True})
    assert client.repos.sync(repo="widgets") == Success(success=True)
    assert route.calls.last.request.content == b""


def test_agent_blame_real_answer(client: Mesa, api: respx.MockRouter) -> None:
    route = api.get("/acme/widgets/agentblame").respond(
        200,
        json={
            "attributions": {
                "src/a.ts": [
                    {
                        "lineNumber": 3,
                        "provider": "cursor",
                        "model": "gpt-5",
                        "confidence": 0.95,
                        "match_type": "normalized_hash",
                    },
                    {
                        "lineNumber": 4,
                        "provider": None,
                        "model": None,
                        "confidence": 1,
                        "match_type": None,
                    },
                ]
            },
            "stats": {"total_lines": 8, "ai_lines": 2, "human_lines": 6, "ai_percentage": 25},
        },
    )
    got = client.agent_blame.get(repo="widgets", base="main", head="feature")
    assert dict(route.calls.last.request.url.params) == {"base": "main", "head": "feature"}
    assert got == AgentBlame(
        attributions={
            "src/a.ts": [
                LineAttribution(
                    line_number=3,
                    provider="cursor",
                    model="gpt-5",
                    confidence=0.95,
                    match_type="normalized_hash",
                ),
                LineAttribution(
                    line_number=4, provider=None, model=None, confidence=1.0, match_type=None
                ),
            ]
        },
        stats=AgentBlameStats(total_lines=8, ai_lines=2, human_lines=6, ai_percentage=25.0),
    )


ANALYTICS = {
    "version": 2,
    "summary": {
        "totalLines": 120,
        "aiLines": 30,
        "humanLines": 90,
        "providers": {"claudeCode": 30},
        "models": {"claude-sonnet-4": 30},
        "updated": WHEN,
    },
    "contributors": {
        "ada": {
            "totalLines": 120,
            "aiLines": 30,
            "providers": {"claudeCode": 30},
            "models": {"claude-sonnet-4": 30},
            "commitCount": 4,
        }
    },
    "history": [
        {
            "date": "2026-11-22",
            "sha": SHA,
            "author": "ada",
            "added": 120,
            "removed": 7,
            "aiLines": 30,
            "providers": {"claudeCode": 30},
            "models": {"claude-sonnet-4": 30},
        },
        {
            "date": "2026-11-23",
            "sha": SHA2,
            "author": "ada",
            "added": 0,
            "removed": 1,
            "aiLines": 0,
        },
    ],
    "_meta": {"lastAttempt": WHEN, "lastSuccess": WHEN, "lastError": None},
}


def test_analytics_real_answers(client: Mesa, api: respx.MockRouter) -> None:
    expected = AnalyticsResult(
        analytics=Analytics(
            version=2,
            summary=AnalyticsSummary(
                total_lines=120,
                ai_lines=30,
                human_lines=90,
                providers={"claudeCode": 30},
                models={"claude-sonnet-4": 30},
                updated=WHEN,
            ),
            contributors={
                "ada": AnalyticsContributor(
                    total_lines=120,
                    ai_lines=30,
                    providers={"claudeCode": 30},
                    models={"claude-sonnet-4": 30},
                    commit_count=4,
                )
            },
            history=[
                AnalyticsHistoryEntry(
                    date="2026-11-22",
                    sha=SHA,
                    author="ada",
                    added=120,
                    removed=7,
                    ai_lines=30,
                    providers={"claudeCode": 30},
                    models={"claude-sonnet-4": 30},
                ),
                AnalyticsHistoryEntry(
                    date="2026-11-23", sha=SHA2, author="ada", added=0, removed=1, ai_lines=0
                ),
            ],
            meta=AnalyticsMeta(last_attempt=WHEN, last_success=WHEN, last_error=None),
        ),
        status="stale",
    )
    get = api.get("/acme/widgets/analytics").respond(
        200, json={"analytics": ANALYTICS, "status": "stale"}
    )
    assert client.analytics.get(repo="widgets", period="1w") == expected
    assert dict(get.calls.last.request.url.params) == {"period": "1w"}
    api.post("/acme/widgets/analytics/refresh").respond(
        200, json={"analytics": ANALYTICS, "status": "stale"}
    )
    assert client.analytics.refresh(repo="widgets") == expected

    api.get("/acme/empty/analytics").respond(200, json={"analytics": None, "status": "none"})
    assert client.analytics.get(repo="empty") == AnalyticsResult(analytics=None, status="none")


def test_webhooks_create_list_delete(client: Mesa, api: respx.MockRouter) -> None:
    # The real Webhook: timestamps are plain strings in the real spec; RFC 3339 in practice.
    shown = {
        "id": "wh_1",
        "url": "https://ci.example.com/hook",
        "events": ["push"],
        "branches": None,
        "globs": ["src/**"],
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    create = api.post("/acme/widgets/webhooks").respond(201, json={**shown, "secret": "whsec_1"})
    made = client.webhooks.create(
        repo="widgets", body={"url": "https://ci.example.com/hook", "globs": ["src/**"]}
    )
    assert sent_json(create) == {"url": "https://ci.example.com/hook", "globs": ["src/**"]}
    model = Webhook(
        id="wh_1",
        url="https://ci.example.com/hook",
        events=["push"],
        branches=None,
        globs=["src/**"],
        created_at=AT,
        updated_at=AT,
    )
    assert made == WebhookCreated(**model.model_dump(), secret="whsec_1")
    assert "whsec_1" not in repr(made)
    api.get("/acme/widgets/webhooks").respond(200, json={"webhooks": [shown]})
    assert client.webhooks.list(repo="widgets") == WebhookList(webhooks=[model])
    api.delete("/acme/widgets/webhooks/wh_1").respond(200, json={"success": True})
    assert client.webhooks.delete(repo="widgets", webhook_id="wh_1") == Success(success=True)
