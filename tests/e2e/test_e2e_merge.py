"""Merges through the SDK: merge commit, fast-forward, up to date, conflict, delete_branch."""

from __future__ import annotations

from e2e_support import commit, raised
from tests.shared import AUTHOR, create, update

from mesa_sdk import ConflictError, MergeConflictError, Mesa
from mesa_sdk.models import MergeResult


def _repo_with_feature(client: Mesa) -> str:
    """A repo ``r`` whose ``feature`` branch starts at main's only commit; returns that sha."""
    client.repos.create(body={"name": "r"})
    root = commit(client, "r", [create("shared.txt", "base\n")]).sha
    client.branches.create(repo="r", body={"name": "feature", "head_sha": root})
    return root


def _head(client: Mesa, branch: str = "main") -> str:
    for item in client.branches.list(repo="r"):
        if item.name == branch:
            return item.head_sha
    raise AssertionError(f"no branch {branch}")


def _files(client: Mesa, ref: str) -> dict[str, bytes]:
    listing = client.content.get(repo="r", ref=ref, depth=64)
    paths = [e.path for e in getattr(listing, "entries", []) if e.type == "file"]
    return {p: client.content.get_raw(repo="r", path=p, ref=ref) for p in paths}


def test_merge_commit_when_both_sides_moved(client: Mesa) -> None:
    root = _repo_with_feature(client)
    feature = commit(client, "r", [create("feature.txt", "f\n")], branch="feature").sha
    main = commit(client, "r", [create("main.txt", "m\n")]).sha

    result = client.merge.perform(repo="r", base="main", body={"head": "feature", "author": AUTHOR})
    assert result == MergeResult(
        merge_type="merge_commit", sha=result.sha, base="main", head="feature", branch_deleted=False
    )
    merged = client.commits.get(repo="r", sha=result.sha)
    assert merged.parents == [main, feature]
    assert merged.message == "Merge branch 'feature' into 'main'"
    assert (merged.author.name, merged.author.email) == (AUTHOR["name"], AUTHOR["email"])
    assert _head(client) == result.sha and _head(client, "feature") == feature
    assert _files(client, "main") == {
        "feature.txt": b"f\n",
        "main.txt": b"m\n",
        "shared.txt": b"base\n",
    }
    history = [c.sha for c in client.commits.list(repo="r")]
    assert history[0] == result.sha and set(history[1:]) == {main, feature, root}


def test_fast_forward_with_custom_message_ignored(client: Mesa) -> None:
    _repo_with_feature(client)
    tip = commit(client, "r", [update("shared.txt", "changed\n")], branch="feature").sha
    result = client.merge.perform(
        repo="r",
        base="main",
        body={"head": "feature", "message": "Ship feature X", "author": AUTHOR},
    )
    assert result == MergeResult(
        merge_type="fast_forward", sha=tip, base="main", head="feature", branch_deleted=False
    )
    assert _head(client) == tip
    assert client.content.get_raw(repo="r", path="shared.txt") == b"changed\n"


def test_custom_message_on_a_merge_commit(client: Mesa) -> None:
    _repo_with_feature(client)
    commit(client, "r", [create("f.txt", "f")], branch="feature")
    commit(client, "r", [create("m.txt", "m")])
    result = client.merge.perform(
        repo="r",
        base="main",
        body={"head": "feature", "message": "Ship feature X", "author": AUTHOR},
    )
    assert result.merge_type == "merge_commit"
    assert client.commits.get(repo="r", sha=result.sha).message == "Ship feature X"


def test_up_to_date_writes_nothing(client: Mesa) -> None:
    root = _repo_with_feature(client)
    main = commit(client, "r", [create("m.txt", "m")]).sha
    before = [c.sha for c in client.commits.list(repo="r")]
    result = client.merge.perform(repo="r", base="main", body={"head": "feature", "author": AUTHOR})
    assert result == MergeResult(
        merge_type="up_to_date", sha=main, base="main", head="feature", branch_deleted=False
    )
    assert [c.sha for c in client.commits.list(repo="r")] == before
    # A head given by sha works too.
    by_sha = client.merge.perform(repo="r", base="main", body={"head": root, "author": AUTHOR})
    assert (by_sha.merge_type, by_sha.sha) == ("up_to_date", main)


def test_conflict_raises_and_writes_nothing(client: Mesa) -> None:
    _repo_with_feature(client)
    commit(
        client, "r", [update("shared.txt", "feature\n"), create("ok.txt", "ok")], branch="feature"
    )
    main = commit(client, "r", [update("shared.txt", "main\n")]).sha
    before = [c.sha for c in client.commits.list(repo="r")]

    error = raised(
        lambda: client.merge.perform(
            repo="r",
            base="main",
            body={"head": "feature", "author": AUTHOR, "delete_branch": True},
        )
    )
    assert isinstance(error, MergeConflictError) and isinstance(error, ConflictError)
    assert (error.status_code, error.code) == (409, "MERGE_CONFLICT")
    assert error.details["conflict_paths"] == ["shared.txt"]
    assert _head(client) == main
    assert [c.sha for c in client.commits.list(repo="r")] == before
    assert client.content.get_raw(repo="r", path="shared.txt") == b"main\n"
    # delete_branch is not applied when the merge fails.
    assert [b.name for b in client.branches.list(repo="r")] == ["feature", "main"]


def test_delete_branch_after_merge(client: Mesa) -> None:
    _repo_with_feature(client)
    tip = commit(client, "r", [create("f.txt", "f")], branch="feature").sha
    result = client.merge.perform(
        repo="r",
        base="main",
        body={"head": "feature", "author": AUTHOR, "delete_branch": True},
    )
    assert result == MergeResult(
        merge_type="fast_forward", sha=tip, base="main", head="feature", branch_deleted=True
    )
    assert [b.name for b in client.branches.list(repo="r")] == ["main"]


def test_merge_into_a_branch_with_a_slash(client: Mesa) -> None:
    root = _repo_with_feature(client)
    client.branches.create(repo="r", body={"name": "release/1.0", "head_sha": root})
    tip = commit(client, "r", [create("f.txt", "f")], branch="feature").sha
    result = client.merge.perform(
        repo="r", base="release/1.0", body={"head": "feature", "author": AUTHOR}
    )
    assert (result.merge_type, result.sha, result.base) == ("fast_forward", tip, "release/1.0")
    assert _head(client, "release/1.0") == tip and _head(client) == root
