"""Every operation of every resource through the sync SDK, with the exact models a user gets
back and the exact bytes that end up in the repository."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from e2e_support import assert_recent, commit, git_blob_sha, git_commit_sha, git_tree_sha, raised
from tests.shared import AUTHOR, create, delete, update

from mesa_emulator.server import Emulator
from mesa_sdk import AuthenticationError, Mesa, NotFoundError
from mesa_sdk.models import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyList,
    Branch,
    BranchList,
    Commit,
    CommitList,
    CommitResult,
    DirContent,
    DirEntry,
    FileContent,
    Repo,
    RepoList,
    Signature,
    Success,
)

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
DATED = {**AUTHOR, "date": "2024-01-02T03:04:05Z"}


def test_repos_create_get_list_update_delete(client: Mesa, mesa_org: str) -> None:
    repo = client.repos.create(body={"name": "alpha"})
    assert repo.model_dump(exclude={"id", "size_bytes", "created_at"}) == {
        "org": mesa_org,
        "name": "alpha",
        "default_branch": "main",
        "head_sha": None,
        "upstream": None,
        "status": None,
    }
    assert repo.id.startswith("repo_") and repo.size_bytes > 0
    assert_recent(repo.created_at)

    trunk = client.repos.create(org=mesa_org, body={"name": "beta", "default_branch": "trunk"})
    assert trunk.default_branch == "trunk" and trunk.id != repo.id

    assert client.repos.get(repo="alpha") == repo
    page = client.repos.list()
    assert page.result == RepoList(repos=[repo, trunk], next_cursor=None, has_more=False)
    assert page.next() is None

    renamed = client.repos.update(repo="alpha", body={"name": "gamma"})
    assert renamed == Repo(**{**repo.model_dump(), "name": "gamma"})
    missing = raised(lambda: client.repos.get(repo="alpha"))
    assert isinstance(missing, NotFoundError) and missing.code == "REPO_NOT_FOUND"
    assert missing.details == {"org": mesa_org, "repo": "alpha"}

    # An empty repository may take any default branch; its first commit makes it.
    moved = client.repos.update(repo="gamma", body={"default_branch": "develop"})
    assert (moved.name, moved.default_branch, moved.id) == ("gamma", "develop", repo.id)
    made = commit(client, "gamma", [create("a.txt", "a\n")], branch="develop")
    assert client.repos.get(repo="gamma").head_sha == made.sha

    assert client.repos.delete(repo="gamma") == Success(success=True)
    assert [r.name for r in client.repos.list().result.repos] == ["beta"]
    gone = raised(lambda: client.repos.get(repo="gamma"))
    assert isinstance(gone, NotFoundError) and gone.code == "REPO_NOT_FOUND"


def test_commits_create_get_list_are_real_git_commits(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    first = client.commits.create(
        repo="r",
        body={
            "branch": "main",
            "message": "Add\n\nwith a body",
            "author": DATED,
            "committer": DATED,
            "edits": [
                create("README.md", "# hi\n"),
                create("bin/run.sh", "#!/bin/sh\n", executable=True),
                create("src/a/b.py", "x = 1\n"),
            ],
        },
    )
    # The exact commit git would write: same tree, same signature, same message.
    readme, run, b_py = (git_blob_sha(d) for d in (b"# hi\n", b"#!/bin/sh\n", b"x = 1\n"))
    tree = git_tree_sha(
        {
            "README.md": ("100644", readme),
            "bin": ("40000", git_tree_sha({"run.sh": ("100755", run)})),
            "src": (
                "40000",
                git_tree_sha({"a": ("40000", git_tree_sha({"b.py": ("100644", b_py)}))}),
            ),
        }
    )
    expected_sha = git_commit_sha(tree, [], WHEN, "Add\n\nwith a body")
    assert first == CommitResult(
        sha=expected_sha, branch="main", message="Add\n\nwith a body", parents=[]
    )

    second = client.commits.create(
        repo="r",
        body={
            "branch": "main",
            "message": "Edit",
            "author": DATED,
            "committer": DATED,
            "edits": [
                update("README.md", "# hello\n"),
                delete("src/a/b.py"),
                create("data.bin", base64.b64encode(bytes(range(256))).decode(), encoding="base64"),
            ],
        },
    )
    tree2 = git_tree_sha(
        {
            "README.md": ("100644", git_blob_sha(b"# hello\n")),
            "bin": ("40000", git_tree_sha({"run.sh": ("100755", run)})),
            "data.bin": ("100644", git_blob_sha(bytes(range(256)))),
        }
    )
    assert second.sha == git_commit_sha(tree2, [first.sha], WHEN, "Edit")
    assert second.parents == [first.sha]

    signature = Signature(name="Bot", email="bot@example.com", date=WHEN)
    got = client.commits.get(repo="r", sha=second.sha)
    assert got == Commit(
        sha=second.sha,
        message="Edit",
        author=signature,
        committer=signature,
        parents=[first.sha],
    )
    assert client.commits.get(repo="r", sha=second.sha[:7]) == got  # a short prefix

    page = client.commits.list(repo="r")
    assert [c.sha for c in page.result.commits] == [second.sha, first.sha]
    assert (page.result.next_cursor, page.result.has_more) == (None, False)
    assert [c.sha for c in client.commits.list(repo="r", ref=first.sha).result.commits] == [
        first.sha
    ]
    one = client.commits.list(repo="r", ref="main", limit=1)
    assert isinstance(one.result, CommitList) and one.result.has_more is True
    assert [c.sha for c in one.result.commits] == [second.sha]
    rest = one.next()
    assert rest is not None and [c.sha for c in rest.result.commits] == [first.sha]
    assert rest.result.next_cursor is None

    # Without dates the author is dated now and the committer defaults to the author.
    third = commit(client, "r", [create("c.txt", "c")], message="Now")
    now = client.commits.get(repo="r", sha=third.sha)
    assert now.author.name == "Bot" and now.committer == now.author
    assert_recent(now.author.date)


def test_branches_list_create_delete(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    root = commit(client, "r", [create("a.txt", "a")]).sha
    assert client.branches.list(repo="r").result == BranchList(
        branches=[Branch(name="main", head_sha=root, is_default=True)],
        next_cursor=None,
        has_more=False,
    )
    feature = client.branches.create(repo="r", body={"name": "feature/x", "head_sha": root})
    assert feature == Branch(name="feature/x", head_sha=root, is_default=False)
    ahead = commit(client, "r", [create("b.txt", "b")], branch="feature/x").sha
    names = [(b.name, b.head_sha) for b in client.branches.list(repo="r")]
    assert names == [("feature/x", ahead), ("main", root)]

    # A "/" in a branch is sent percent-encoded and still names the branch.
    assert client.branches.delete(repo="r", branch="feature/x") == Success(success=True)
    assert [b.name for b in client.branches.list(repo="r")] == ["main"]
    gone = raised(lambda: client.branches.delete(repo="r", branch="feature/x"))
    assert isinstance(gone, NotFoundError) and gone.code == "BRANCH_NOT_FOUND"

    for i in range(5):
        client.branches.create(repo="r", body={"name": f"b{i}", "head_sha": root})
    first = client.branches.list(repo="r", limit=2)
    assert [b.name for b in first.result.branches] == ["b0", "b1"] and first.result.has_more
    assert [b.name for b in first] == ["b0", "b1", "b2", "b3", "b4", "main"]


def test_content_get_get_raw_get_stream(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    binary = bytes(range(256)) * 40
    old = commit(
        client,
        "r",
        [
            create("README.md", "# v1\n"),
            create("bin/tool", "#!/bin/sh\necho hi\n", executable=True),
            create("data/blob.bin", base64.b64encode(binary).decode(), encoding="base64"),
            create("data/deep/x.txt", "x"),
        ],
    ).sha
    new = commit(client, "r", [update("README.md", "# v2\n")]).sha
    changed_at = client.commits.get(repo="r", sha=new).committer.date

    readme = client.content.get(repo="r", path="README.md")
    assert readme == FileContent(
        type="file",
        name="README.md",
        path="README.md",
        sha=git_blob_sha(b"# v2\n"),
        size=5,
        encoding="base64",
        content=base64.b64encode(b"# v2\n").decode(),
        executable=False,
        last_commit_at=changed_at,
    )
    at_old = client.content.get(repo="r", path="README.md", ref=old)
    assert isinstance(at_old, FileContent) and base64.b64decode(at_old.content) == b"# v1\n"
    tool = client.content.get(repo="r", path="bin/tool", ref="main")
    assert isinstance(tool, FileContent) and tool.executable is True

    root = client.content.get(repo="r")
    assert isinstance(root, DirContent)
    assert (root.type, root.name, root.path, root.next_cursor, root.has_more) == (
        "dir",
        "",
        "",
        None,
        False,
    )
    assert root.entries[0] == DirEntry(
        type="file",
        name="README.md",
        path="README.md",
        sha=git_blob_sha(b"# v2\n"),
        size=5,
        executable=False,
        last_commit_at=changed_at,
    )
    assert root.child_count == 3
    assert [(e.type, e.path, e.size) for e in root.entries] == [
        ("file", "README.md", 5),
        ("dir", "bin", None),
        ("dir", "data", None),
    ]
    deep = client.content.get(repo="r", path="data", depth=2)
    assert isinstance(deep, DirContent)
    assert [(e.type, e.path) for e in deep.entries] == [
        ("file", "data/blob.bin"),
        ("dir", "data/deep"),
        ("file", "data/deep/x.txt"),
    ]
    # A directory listing is paginated by limit and cursor.
    walked: list[str] = []
    listing = client.content.get(repo="r", depth=3, limit=2)
    while True:
        assert isinstance(listing, DirContent)
        walked += [e.path for e in listing.entries]
        if listing.next_cursor is None:
            break
        listing = client.content.get(repo="r", depth=3, limit=2, cursor=listing.next_cursor)
    assert walked == [
        "README.md",
        "bin",
        "bin/tool",
        "data",
        "data/blob.bin",
        "data/deep",
        "data/deep/x.txt",
    ]

    assert client.content.get_raw(repo="r", path="data/blob.bin") == binary
    assert client.content.get_raw(repo="r", path="README.md", ref=old) == b"# v1\n"
    with client.content.get_stream(repo="r", path="data/blob.bin") as stream:
        assert stream.status_code == 200 and stream.request_id
        chunks = list(stream.iter_bytes(1000))
    assert b"".join(chunks) == binary and len(chunks) > 1
    with client.content.get_stream(repo="r", path="bin/tool") as stream:
        assert stream.read() == b"#!/bin/sh\necho hi\n"


def test_diffs_get_and_get_text(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    root = commit(client, "r", [create("a.txt", "one\ntwo\n"), create("gone.txt", "bye\n")]).sha
    client.branches.create(repo="r", body={"name": "feature", "head_sha": root})
    head = commit(
        client,
        "r",
        [
            update("a.txt", "one\nthree\n"),
            delete("gone.txt"),
            create("b.bin", base64.b64encode(b"\x00\x01\x02").decode(), encoding="base64"),
        ],
        branch="feature",
    ).sha

    a_old, a_new = git_blob_sha(b"one\ntwo\n")[:7], git_blob_sha(b"one\nthree\n")[:7]
    bin_sha, gone_sha = git_blob_sha(b"\x00\x01\x02")[:7], git_blob_sha(b"bye\n")[:7]
    a_patch = (
        f"diff --git a/a.txt b/a.txt\nindex {a_old}..{a_new} 100644\n--- a/a.txt\n+++ b/a.txt\n"
        "@@ -1,2 +1,2 @@\n one\n-two\n+three\n"
    )
    bin_patch = (
        f"diff --git a/b.bin b/b.bin\nnew file mode 100644\nindex 0000000..{bin_sha}\n"
        "Binary files /dev/null and b/b.bin differ\n"
    )
    gone_patch = (
        f"diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\nindex {gone_sha}..0000000\n"
        "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    )

    diff = client.diffs.get(repo="r", base="main", head="feature")
    assert (diff.base, diff.head, diff.base_sha, diff.head_sha) == ("main", "feature", root, head)
    assert diff.stats.model_dump() == {"files": 3, "additions": 1, "deletions": 2, "changes": 3}
    assert diff.filtered_files == []
    assert [f.model_dump(exclude_unset=True) for f in diff.files] == [
        {
            "path": "a.txt",
            "status": "M",
            "old_path": None,
            "additions": 1,
            "deletions": 1,
            "binary": False,
            "raw": a_patch,
        },
        {
            "path": "b.bin",
            "status": "A",
            "old_path": None,
            "additions": 0,
            "deletions": 0,
            "binary": True,
            "raw": bin_patch,
        },
        {
            "path": "gone.txt",
            "status": "D",
            "old_path": None,
            "additions": 0,
            "deletions": 1,
            "binary": False,
            "raw": gone_patch,
        },
    ]
    assert client.diffs.get_text(repo="r", base="main", head="feature") == (
        a_patch + bin_patch + gone_patch
    )
    assert client.diffs.get_text(repo="r", base=head, head=head) == ""
    same = client.diffs.get(repo="r", base="feature", head=head)
    assert same.files == [] and same.stats.files == 0


def test_admin_create_list_revoke(client: Mesa, emu: Emulator, mesa_org: str) -> None:
    made = client.admin.create_api_key(body={"name": "CI Key", "scopes": ["git:read", "git:write"]})
    assert isinstance(made, ApiKeyCreated)
    assert made.id.startswith("key_") and made.key.startswith("mesa_")
    assert (made.name, made.scopes) == ("CI Key", ["git:read", "git:write"])
    assert_recent(made.created_at)
    default = client.admin.create_api_key(body={})
    assert (default.name, default.scopes) == (None, ["repo:read", "git:read"])

    listed = client.admin.list_api_keys()
    assert listed == ApiKeyList(
        api_keys=[
            ApiKey(
                id=made.id,
                name="CI Key",
                scopes=["git:read", "git:write"],
                created_at=made.created_at,
                last_used_at=None,
                expires_at=None,
                revoked_at=None,
            ),
            ApiKey(
                id=default.id,
                name=None,
                scopes=["repo:read", "git:read"],
                created_at=default.created_at,
                last_used_at=None,
                expires_at=None,
                revoked_at=None,
            ),
        ]
    )
    # The list never shows a secret.
    assert made.key not in listed.model_dump_json()

    with Mesa(api_key=made.key, server_url=emu.url, org=mesa_org) as ci:
        client.repos.create(body={"name": "r"})
        assert [b.name for b in ci.branches.list(repo="r")] == []
    used = client.admin.list_api_keys().api_keys[0]
    assert used.last_used_at is not None and used.revoked_at is None

    assert client.admin.revoke_api_key(id=made.id) == Success(success=True)
    revoked = client.admin.list_api_keys().api_keys[0]
    assert revoked.revoked_at is not None
    assert_recent(revoked.revoked_at)
    with Mesa(api_key=made.key, server_url=emu.url, org=mesa_org) as ci:
        denied = raised(lambda: ci.branches.list(repo="r"))
    assert isinstance(denied, AuthenticationError) and denied.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("name", ["dotted.name", "under_score", "x" * 100, "A1-b"])
def test_repo_names_at_the_edges_of_the_pattern(client: Mesa, name: str) -> None:
    assert client.repos.create(body={"name": name}).name == name
    assert client.repos.get(repo=name).name == name
    commit(client, name, [create("f", "x")])
    assert client.content.get_raw(repo=name, path="f") == b"x"


def test_directory_cursor_keeps_reading_the_first_pages_commit(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    commit(client, "r", [create(f"f{i}.txt", str(i)) for i in range(4)])
    first = client.content.get(repo="r", limit=2)
    assert isinstance(first, DirContent) and [e.path for e in first.entries] == ["f0.txt", "f1.txt"]
    assert first.next_cursor is not None
    # The branch moves on between the pages: the walk still reads the tree it started on.
    commit(client, "r", [create("f9.txt", "new"), delete("f3.txt")])
    rest = client.content.get(repo="r", limit=2, cursor=first.next_cursor)
    assert isinstance(rest, DirContent)
    assert [e.path for e in rest.entries] == ["f2.txt", "f3.txt"] and rest.next_cursor is None
    fresh = client.content.get(repo="r")
    assert isinstance(fresh, DirContent)
    assert [e.path for e in fresh.entries] == ["f0.txt", "f1.txt", "f2.txt", "f9.txt"]
    # A cursor belongs to its listing.
    other = raised(lambda: client.content.get(repo="r", path="f0.txt", cursor=first.next_cursor))
    assert other.code == "INVALID_CURSOR"


def test_update_keeps_the_executable_bit_and_renames_show_in_diffs(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    text = "the same lines\n" * 20
    old = commit(
        client,
        "r",
        [create("run.sh", "#!/bin/sh\n", executable=True), create("a/old.txt", text)],
    ).sha
    new = commit(
        client,
        "r",
        [update("run.sh", "#!/bin/sh\necho\n"), delete("a/old.txt"), create("b/new.txt", text)],
    ).sha
    run = client.content.get(repo="r", path="run.sh")
    assert isinstance(run, FileContent) and run.executable is True
    # The emptied folder is gone with its last file.
    assert raised(lambda: client.content.get(repo="r", path="a")).code == "PATH_NOT_FOUND"
    diff = client.diffs.get(repo="r", base=old, head=new)
    assert [(f.status, f.path, f.old_path) for f in diff.files] == [
        ("R", "b/new.txt", "a/old.txt"),
        ("M", "run.sh", None),
    ]
    chmod = commit(client, "r", [update("run.sh", "#!/bin/sh\necho\n", executable=False)]).sha
    plain = client.content.get(repo="r", path="run.sh", ref=chmod)
    assert isinstance(plain, FileContent) and plain.executable is False


def test_default_branch_must_exist_once_the_repo_has_commits(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    root = commit(client, "r", [create("a", "a")]).sha
    missing = raised(lambda: client.repos.update(repo="r", body={"default_branch": "develop"}))
    assert isinstance(missing, NotFoundError) and missing.code == "BRANCH_NOT_FOUND"
    client.branches.create(repo="r", body={"name": "develop", "head_sha": root})
    moved = client.repos.update(repo="r", body={"default_branch": "develop"})
    assert (moved.default_branch, moved.head_sha) == ("develop", root)
    assert [(b.name, b.is_default) for b in client.branches.list(repo="r")] == [
        ("develop", True),
        ("main", False),
    ]
    assert client.branches.delete(repo="r", branch="main") == Success(success=True)


def test_unicode_paths_round_trip(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    path = "docs/héllo wörld #1?.md"
    commit(client, "r", [create(path, "héllo\n")])
    entry = client.content.get(repo="r", path=path)
    assert isinstance(entry, FileContent)
    assert (entry.name, entry.path, entry.size) == ("héllo wörld #1?.md", path, 7)
    assert client.content.get_raw(repo="r", path=path) == "héllo\n".encode()
    listing = client.content.get(repo="r", path="docs")
    assert isinstance(listing, DirContent) and [e.path for e in listing.entries] == [path]
