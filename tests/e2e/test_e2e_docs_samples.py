"""Every code sample of the SDK's documentation (target-sdk-docs.md), run as written there.

Only the server and the key differ: ``MESA_API_KEY`` and ``MESA_SERVER_URL`` point at an
emulator of its own (``docs_env``, wiped before each test), so ``Mesa(api_key=os.environ[
"MESA_API_KEY"])`` reaches it.  Placeholders (``"abc123..."`` shas, ``"sha256-hash..."`` oids,
``"key_123"``, ``cursor="..."``) are replaced by real values; every other literal is the
documentation's.  Each sample is marked by ``# --- sample`` / ``# --- end`` comments.

The Pagination sample (``while True`` over cursors) runs in test_e2e_pagination.py over 250
repositories.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import httpx
import pytest
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa, MissingCredentialError, NotFoundError
from mesa_sdk.models import DirContent, FileContent, Repo


@pytest.fixture
def client(docs_env: Emulator) -> Iterator[Mesa]:
    """The documentation's client, made as its Quick Start makes it."""
    client = Mesa(
        api_key=os.environ["MESA_API_KEY"],
    )
    yield client
    client.close()


def _seed(client: Mesa, *files: tuple[str, str], branch: str = "main") -> str:
    """A commit on my-org/my-repo (created if needed) writing ``files``; returns its sha."""
    names = [r.name for r in client.repos.list(org="my-org")]
    if "my-repo" not in names:
        client.repos.create(org="my-org", body={"name": "my-repo"})
    return client.commits.create(
        org="my-org",
        repo="my-repo",
        body={
            "branch": branch,
            "message": "seed",
            "author": AUTHOR,
            "edits": [{"path": p, "action": "create", "content": c} for p, c in files],
        },
    ).sha


def _seed_feature(client: Mesa) -> tuple[str, str]:
    """my-repo with main at one commit and feature-branch one commit ahead."""
    main = _seed(client, ("README.md", "# Hello\n"))
    client.branches.create(
        org="my-org", repo="my-repo", body={"name": "feature-branch", "head_sha": main}
    )
    feature = _seed(client, ("feature.py", "FEATURE = 1\n"), branch="feature-branch")
    return main, feature


# ---- Quick Start, Configuration, Environment Variables -------------------------------------


def test_quick_start(docs_env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    # --- sample
    import os

    from mesa_sdk import Mesa

    client = Mesa(
        api_key=os.environ["MESA_API_KEY"],
    )

    # Create a repository
    repo = client.repos.create(
        org="my-org",
        body={"name": "my-repo"},
    )

    # List repositories
    repos_page = client.repos.list(org="my-org")
    print(repos_page)
    # --- end
    client.close()
    assert isinstance(repo, Repo) and (repo.org, repo.name) == ("my-org", "my-repo")
    assert [r.name for r in repos_page.result.repos] == ["my-repo"]
    printed = capsys.readouterr().out
    assert printed.startswith("SyncPage(result=RepoList(repos=[Repo(") and "'my-repo'" in printed


def test_configuration(docs_env: Emulator) -> None:
    # --- sample
    from mesa_sdk import Mesa

    client = Mesa(
        # Required: API key for authentication
        api_key=os.environ["MESA_API_KEY"],
        # Optional: Override base URL
        server_url=os.environ["MESA_SERVER_URL"],
        # Optional: Global timeout in milliseconds
        timeout_ms=30_000,
        # Optional: Retry configuration
        retry_config={
            "strategy": "backoff",
            "backoff": {
                "initial_interval": 500,
                "max_interval": 60_000,
                "exponent": 1.5,
                "max_elapsed_time": 300_000,
            },
        },
    )
    # --- end
    with client:
        assert client.repos.create(org="my-org", body={"name": "my-repo"}).name == "my-repo"
    assert client.server_url == docs_env.url


def test_environment_variables(docs_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # MESA_API_KEY - your API key (and MESA_SERVER_URL, the emulator): no argument needed.
    with Mesa() as client:
        assert client.repos.list(org="my-org").result.repos == []
    monkeypatch.delenv("MESA_API_KEY")
    with pytest.raises(MissingCredentialError):
        Mesa()


# ---- Repositories --------------------------------------------------------------------------


def test_repositories_create(client: Mesa) -> None:
    # --- sample
    # Create a repository
    repo = client.repos.create(
        org="my-org",
        body={
            "name": "my-repo",
            "default_branch": "main",  # optional
        },
    )
    # --- end
    assert (repo.name, repo.default_branch, repo.head_sha) == ("my-repo", "main", None)


def test_repositories_list(client: Mesa) -> None:
    for name in ("a-repo", "b-repo", "my-repo"):
        client.repos.create(org="my-org", body={"name": name})
    first = client.repos.list(org="my-org", limit=1)
    real_cursor = first.result.next_cursor
    assert real_cursor is not None
    # --- sample
    # List repositories (paginated)
    repos_page = client.repos.list(
        org="my-org",
        limit=50,
        cursor=real_cursor,  # optional
    )
    # --- end
    assert [r.name for r in repos_page.result.repos] == ["b-repo", "my-repo"]
    assert (repos_page.result.next_cursor, repos_page.result.has_more) == (None, False)


def test_repositories_get(client: Mesa) -> None:
    created = client.repos.create(org="my-org", body={"name": "my-repo"})
    # --- sample
    # Get a specific repository
    repo = client.repos.get(
        org="my-org",
        repo="my-repo",
    )
    # --- end
    assert repo == created


def test_repositories_update(client: Mesa) -> None:
    created = client.repos.create(org="my-org", body={"name": "my-repo"})
    # --- sample
    # Update a repository
    updated = client.repos.update(
        org="my-org",
        repo="my-repo",
        body={"name": "new-name"},
    )
    # --- end
    assert (updated.id, updated.name) == (created.id, "new-name")
    assert client.repos.get(org="my-org", repo="new-name") == updated


def test_repositories_delete(client: Mesa) -> None:
    client.repos.create(org="my-org", body={"name": "my-repo"})
    # --- sample
    # Delete a repository
    client.repos.delete(
        org="my-org",
        repo="my-repo",
    )
    # --- end
    with pytest.raises(NotFoundError):
        client.repos.get(org="my-org", repo="my-repo")


# ---- Branches ------------------------------------------------------------------------------


def test_branches_list(client: Mesa) -> None:
    main, feature = _seed_feature(client)
    # --- sample
    # List branches
    branches_page = client.branches.list(
        org="my-org",
        repo="my-repo",
    )
    # --- end
    assert [(b.name, b.head_sha, b.is_default) for b in branches_page.result.branches] == [
        ("feature-branch", feature, False),
        ("main", main, True),
    ]


def test_branches_create(client: Mesa) -> None:
    head = _seed(client, ("README.md", "# Hello\n"))
    # --- sample
    # Create a branch
    branch = client.branches.create(
        org="my-org",
        repo="my-repo",
        body={
            "name": "feature-branch",
            "head_sha": head,
        },
    )
    # --- end
    assert (branch.name, branch.head_sha, branch.is_default) == ("feature-branch", head, False)


def test_branches_delete(client: Mesa) -> None:
    _seed_feature(client)
    # --- sample
    # Delete a branch
    client.branches.delete(
        org="my-org",
        repo="my-repo",
        branch="feature-branch",
    )
    # --- end
    assert [b.name for b in client.branches.list(org="my-org", repo="my-repo")] == ["main"]


# ---- Commits -------------------------------------------------------------------------------


def test_commits_list(client: Mesa) -> None:
    first = _seed(client, ("a.txt", "a"))
    second = _seed(client, ("b.txt", "b"))
    # --- sample
    # List commits
    commits_page = client.commits.list(
        org="my-org",
        repo="my-repo",
        ref="main",  # optional
    )
    # --- end
    assert [c.sha for c in commits_page.result.commits] == [second, first]


def test_commits_get(client: Mesa) -> None:
    sha = _seed(client, ("a.txt", "a"))
    # --- sample
    # Get a commit
    commit = client.commits.get(
        org="my-org",
        repo="my-repo",
        sha=sha,
    )
    # --- end
    assert (commit.sha, commit.message, commit.parents) == (sha, "seed", [])


def test_commits_create(client: Mesa) -> None:
    client.repos.create(org="my-org", body={"name": "my-repo"})
    # --- sample
    # Create a commit
    new_commit = client.commits.create(
        org="my-org",
        repo="my-repo",
        body={
            "branch": "main",
            "message": "Add README",
            "author": {
                "name": "Bot",
                "email": "bot@example.com",
            },
            "edits": [
                {
                    "path": "README.md",
                    "action": "create",
                    "content": "# Hello from Mesa\n",
                }
            ],
        },
    )
    # --- end
    assert (new_commit.branch, new_commit.message, new_commit.parents) == (
        "main",
        "Add README",
        [],
    )
    raw = client.content.get_raw(org="my-org", repo="my-repo", path="README.md")
    assert raw == b"# Hello from Mesa\n"


# ---- Content, Diffs ------------------------------------------------------------------------


def test_content(client: Mesa, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(client, ("src/index.py", "print('hello')\n"), ("src/util.py", "X = 1\n"))
    # --- sample
    # Get file content
    content = client.content.get(
        org="my-org",
        repo="my-repo",
        path="src/index.py",
        ref="main",  # optional
    )

    # Handle file vs directory responses
    if getattr(content, "type", None) == "file":
        print(content.content)
    else:
        print(content.entries)
    # --- end
    assert isinstance(content, FileContent)
    assert capsys.readouterr().out == "cHJpbnQoJ2hlbGxvJykK\n"  # base64 of the file

    # The same lines on a directory print its entries.
    content = client.content.get(org="my-org", repo="my-repo", path="src", ref="main")
    if getattr(content, "type", None) == "file":
        print(content.content)
    else:
        print(content.entries)
    assert isinstance(content, DirContent)
    printed = capsys.readouterr().out
    assert printed.startswith("[DirEntry(type='file', name='index.py', path='src/index.py'")


def test_diffs(client: Mesa, capsys: pytest.CaptureFixture[str]) -> None:
    _seed_feature(client)
    # --- sample
    diff = client.diffs.get(
        org="my-org",
        repo="my-repo",
        base="main",
        head="feature-branch",
    )

    for file in diff.files:
        print(f"{file.status}: {file.path}")
    # --- end
    assert capsys.readouterr().out == "A: feature.py\n"


# ---- Merge ---------------------------------------------------------------------------------


def test_merge(client: Mesa, capsys: pytest.CaptureFixture[str]) -> None:
    _, feature = _seed_feature(client)
    # --- sample
    # Merge a branch into another (fast-forward when possible)
    result = client.merge.perform(
        org="my-org",
        repo="my-repo",
        base="main",
        body={
            "head": "feature-branch",
            "author": {
                "name": "Bot",
                "email": "bot@example.com",
            },
        },
    )

    print(result.merge_type)  # "fast_forward" or "merge_commit"
    print(result.sha)  # Resulting commit SHA
    # --- end
    assert capsys.readouterr().out == f"fast_forward\n{feature}\n"


def test_merge_with_custom_message(client: Mesa) -> None:
    _, feature = _seed_feature(client)
    main = _seed(client, ("main-only.txt", "m"))
    # --- sample
    # Merge with a custom commit message
    result = client.merge.perform(
        org="my-org",
        repo="my-repo",
        base="main",
        body={
            "head": "feature-branch",
            "message": "Ship feature X",
            "author": {
                "name": "Bot",
                "email": "bot@example.com",
            },
        },
    )
    # --- end
    assert result.merge_type == "merge_commit"
    merged = client.commits.get(org="my-org", repo="my-repo", sha=result.sha)
    assert merged.message == "Ship feature X" and merged.parents == [main, feature]


def test_merge_and_delete_branch(client: Mesa, capsys: pytest.CaptureFixture[str]) -> None:
    _seed_feature(client)
    # --- sample
    # Merge and delete the head branch afterward
    result = client.merge.perform(
        org="my-org",
        repo="my-repo",
        base="main",
        body={
            "head": "feature-branch",
            "author": {
                "name": "Bot",
                "email": "bot@example.com",
            },
            "delete_branch": True,
        },
    )

    print(result.branch_deleted)  # True
    # --- end
    assert capsys.readouterr().out == "True\n"
    assert [b.name for b in client.branches.list(org="my-org", repo="my-repo")] == ["main"]


# ---- Admin (API Keys) ----------------------------------------------------------------------


def test_admin_create_api_key(client: Mesa, capsys: pytest.CaptureFixture[str]) -> None:
    # --- sample
    # Create API key
    new_key = client.admin.create_api_key(
        org="my-org",
        body={
            "name": "CI Key",
            "scopes": ["git:read", "git:write"],
        },
    )
    print(new_key.key)
    # --- end
    assert capsys.readouterr().out == new_key.key + "\n" and new_key.key.startswith("mesa_")


def test_admin_list_api_keys(client: Mesa) -> None:
    made = client.admin.create_api_key(org="my-org", body={"name": "CI Key"})
    # --- sample
    # List API keys
    keys = client.admin.list_api_keys(org="my-org")
    # --- end
    assert [(k.id, k.name) for k in keys.api_keys] == [(made.id, "CI Key")]


def test_admin_revoke_api_key(client: Mesa) -> None:
    key_id = client.admin.create_api_key(org="my-org", body={"name": "CI Key"}).id
    # --- sample
    # Revoke API key
    client.admin.revoke_api_key(
        org="my-org",
        id=key_id,
    )
    # --- end
    assert client.admin.list_api_keys(org="my-org").api_keys[0].revoked_at is not None


# ---- LFS -----------------------------------------------------------------------------------


def test_lfs_upload_and_download(client: Mesa) -> None:
    client.repos.create(org="my-org", body={"name": "my-repo"})
    data = bytes(range(256)) * (12_345_678 // 256) + bytes(12_345_678 % 256)
    oid = hashlib.sha256(data).hexdigest()  # the documentation's "sha256-hash..."
    # --- sample
    # Request upload URLs
    upload = client.lfs.upload(
        org="my-org",
        repo="my-repo",
        body={
            "objects": [{"oid": oid, "size": 12_345_678}],
        },
    )
    # --- end
    (slot,) = upload.objects
    assert slot.exists is False and slot.upload_url is not None
    assert httpx.put(slot.upload_url, content=data, timeout=60).status_code == 200
    # --- sample
    # Request download URLs
    download = client.lfs.download(
        org="my-org",
        repo="my-repo",
        body={
            "objects": [{"oid": oid, "size": 12_345_678}],
        },
    )
    # --- end
    (found,) = download.objects
    assert found.exists is True and found.download_url is not None
    got = httpx.get(found.download_url, timeout=60)
    assert len(got.content) == 12_345_678 and hashlib.sha256(got.content).hexdigest() == oid


# ---- Error Handling, Error Shape, Per-Request Options --------------------------------------


def test_error_handling(client: Mesa, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NotFoundError) as caught:
        # --- sample
        try:
            client.repos.get(org="my-org", repo="missing")
        except Exception as exc:
            # Handle SDK-specific errors in your application layer.
            # Common categories: auth errors, validation errors, not found,
            # conflict, and transport failures.
            print(f"Request failed: {exc}")
            raise
        # --- end
    printed = capsys.readouterr().out
    assert printed == (
        "Request failed: Repository 'my-org/missing' not found. "
        f"(404 REPO_NOT_FOUND, request id {caught.value.request_id})\n"
    )


def test_error_shape(client: Mesa) -> None:
    with pytest.raises(NotFoundError) as caught:
        client.repos.get(org="my-org", repo="missing")
    # API errors follow a consistent shape: {"error": {"code", "message", "details"}}.
    assert json.loads(caught.value.body) == {
        "error": {
            "code": "REPO_NOT_FOUND",
            "message": "Repository 'my-org/missing' not found.",
            "details": {"org": "my-org", "repo": "missing"},
        }
    }


def test_per_request_options(client: Mesa) -> None:
    client.repos.create(org="my-org", body={"name": "my-repo"})
    seen: list[httpx.Request] = []
    client.hooks.register_before_request(lambda context, request: seen.append(request))
    # --- sample
    repo = client.repos.get(
        org="my-org",
        repo="my-repo",
        request_options={
            "timeout_ms": 60_000,
            "headers": {
                "X-Custom-Header": "value",
            },
        },
    )
    # --- end
    assert repo.name == "my-repo"
    (request,) = seen
    assert request.headers["X-Custom-Header"] == "value"
    assert request.extensions["timeout"]["read"] == 60.0


# ---- Complete Example ----------------------------------------------------------------------


def test_complete_example(docs_env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    # --- sample
    import os

    from mesa_sdk import Mesa

    def main() -> None:
        client = Mesa(api_key=os.environ["MESA_API_KEY"])

        # Create repository
        client.repos.create(
            org="my-org",
            body={"name": "example-repo"},
        )

        # Initial commit on main
        client.commits.create(
            org="my-org",
            repo="example-repo",
            body={
                "branch": "main",
                "message": "Initial commit",
                "author": {
                    "name": "Bot",
                    "email": "bot@example.com",
                },
                "edits": [
                    {
                        "path": "README.md",
                        "action": "create",
                        "content": "# Example Repository\n",
                    }
                ],
            },
        )

        # Create feature branch from latest main commit
        commits_page = client.commits.list(
            org="my-org",
            repo="example-repo",
            ref="main",
            limit=1,
        )
        head_sha = commits_page.result.commits[0].sha

        client.branches.create(
            org="my-org",
            repo="example-repo",
            body={
                "name": "feature",
                "head_sha": head_sha,
            },
        )

        # Commit feature change
        client.commits.create(
            org="my-org",
            repo="example-repo",
            body={
                "branch": "feature",
                "message": "Add feature",
                "author": {
                    "name": "Bot",
                    "email": "bot@example.com",
                },
                "edits": [
                    {
                        "path": "feature.py",
                        "action": "create",
                        "content": "FEATURE_ENABLED = True\n",
                    }
                ],
            },
        )

        # Diff feature against main
        diff = client.diffs.get(
            org="my-org",
            repo="example-repo",
            base="main",
            head="feature",
        )

        print(f"Changes: {len(diff.files)} files")

        # Merge feature branch into main and clean up
        merge = client.merge.perform(
            org="my-org",
            repo="example-repo",
            base="main",
            body={
                "head": "feature",
                "author": {
                    "name": "Bot",
                    "email": "bot@example.com",
                },
                "delete_branch": True,
            },
        )

        print(f"Merged via {merge.merge_type}: {merge.sha}")

    # --- end
    main()
    with Mesa() as check:
        head = check.repos.get(org="my-org", repo="example-repo").head_sha
        branches = [b.name for b in check.branches.list(org="my-org", repo="example-repo")]
        files = check.content.get_raw(org="my-org", repo="example-repo", path="feature.py")
    assert capsys.readouterr().out == f"Changes: 1 files\nMerged via fast_forward: {head}\n"
    assert branches == ["main"] and files == b"FEATURE_ENABLED = True\n"
