"""Tests of the emulator's git engine (the mesa_emulator.git package).

What we write through pygit2 is checked independently with the git CLI wherever practical
(ls-tree, cat-file, rev-list, fsck).
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mesa_emulator.git import refs, trees
from mesa_emulator.git.agent_blame import AiLine, BlameResult
from mesa_emulator.git.branch_names import is_valid_branch_name
from mesa_emulator.git.errors import (
    BranchExists,
    BranchMoved,
    BranchNotFound,
    CommitNotFound,
    GitOpsError,
    InvalidPath,
    InvalidRefName,
    MergeConflict,
    PathExists,
    PathNotFound,
    RefLocked,
    RefNotFound,
)
from mesa_emulator.git.objects import CommitInfo, Signature
from mesa_emulator.git.reading import Directory, FileBlob, TreeEntry
from mesa_emulator.git.repository import GitRepository, init_repository
from mesa_emulator.git.trees import Edit

IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))


def sig(minute: int = 0, tz: timezone = timezone.utc, name: str = "Ada") -> Signature:
    return Signature(
        name, f"{name.lower()}@example.com", datetime(2024, 5, 1, 12, minute, tzinfo=tz)
    )


def git(repo: GitRepository | Path, *args: str, input: bytes | None = None) -> str:
    path = repo.path if isinstance(repo, GitRepository) else repo
    out = subprocess.run(
        ["git", "-C", str(path), *args], check=True, capture_output=True, input=input
    )
    return out.stdout.decode()


def git_ok(repo: GitRepository, *args: str) -> bool:
    res = subprocess.run(["git", "-C", str(repo.path), *args], capture_output=True)
    return res.returncode == 0


def fsck(repo: GitRepository) -> None:
    res = subprocess.run(
        ["git", "-C", str(repo.path), "fsck", "--strict", "--no-dangling"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "error" not in res.stderr and "warning" not in res.stderr, res.stderr


def ls_tree(repo: GitRepository, rev: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, sha) for every blob/link/commit entry, recursively."""
    result = {}
    for line in git(repo, "ls-tree", "-r", "-z", rev).split("\0"):
        if not line:
            continue
        meta, path = line.split("\t", 1)
        mode, _kind, sha = meta.split()
        result[path] = (mode, sha)
    return result


def rev(repo: GitRepository, name: str) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", name).strip()


def commit(
    repo: GitRepository,
    edits: list[Edit],
    *,
    branch: str = "main",
    base: str | None = None,
    message: str = "msg",
    minute: int = 0,
) -> CommitInfo:
    return repo.commit_edits(
        branch=branch,
        message=message,
        author=sig(minute),
        committer=None,
        edits=edits,
        base_sha=base,
    )


@pytest.fixture
def repo(tmp_path: Path) -> GitRepository:
    return init_repository(tmp_path / "repo.git", "main")


@pytest.fixture
def seeded(repo: GitRepository) -> tuple[GitRepository, CommitInfo]:
    first = commit(
        repo,
        [
            Edit("README.md", "create", b"# hello\n"),
            Edit("bin/run.sh", "create", b"#!/bin/sh\necho hi\n", executable=True),
            Edit("src/pkg/mod.py", "create", b"x = 1\n"),
        ],
        message="initial",
    )
    return repo, first


# ---------------------------------------------------------------------------------------
# init / open / HEAD
# ---------------------------------------------------------------------------------------


def test_init_creates_bare_repo_with_unborn_default_branch(tmp_path: Path) -> None:
    repo = init_repository(tmp_path / "r.git", "trunk")
    assert git(repo, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/trunk"
    assert repo.default_branch() == "trunk"
    assert repo.is_empty()
    assert repo.branches() == []
    assert repo.size_bytes() > 0

    reopened = GitRepository(tmp_path / "r.git")
    assert reopened.default_branch() == "trunk"


def test_init_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRefName) as exc:
        init_repository(tmp_path / "a.git", "bad..name")
    assert exc.value.name == "bad..name"
    assert not (tmp_path / "a.git").exists()

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(GitOpsError):
        init_repository(tmp_path / "full", "main")


def test_set_default_branch(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    assert repo.branch_sha(repo.default_branch()) == first.sha
    repo.set_default_branch("not-yet")
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/not-yet"
    assert repo.default_branch() == "not-yet"
    with pytest.raises(BranchNotFound):
        repo.branch_sha("not-yet")
    assert not repo.is_empty()
    with pytest.raises(InvalidRefName):
        repo.set_default_branch("a b")
    assert repo.default_branch() == "not-yet"


# ---------------------------------------------------------------------------------------
# commit_edits
# ---------------------------------------------------------------------------------------


def test_first_commit_creates_branch_and_real_git_agrees(repo: GitRepository) -> None:
    author = Signature(
        "Ada Lovelace", "ada@example.com", datetime(2024, 5, 1, 9, 30, 15, tzinfo=IST)
    )
    committer = Signature("Bob", "bob@example.com", datetime(2024, 5, 2, 1, 0, 0, tzinfo=PST))
    info = repo.commit_edits(
        branch="main",
        message="first commit",  # no trailing newline: stored exactly
        author=author,
        committer=committer,
        edits=[
            Edit("a.txt", "create", b"alpha\n"),
            Edit("tools/x.sh", "create", b"#!/bin/sh\n", executable=True),
            Edit("deep/er/file.bin", "create", b"\x00\xff\x01"),
        ],
        base_sha=None,
    )
    assert info.parents == []
    assert rev(repo, "refs/heads/main") == info.sha
    assert rev(repo, f"{info.sha}^{{tree}}") == info.tree_sha
    assert repo.branch_sha(repo.default_branch()) == info.sha
    assert not repo.is_empty()
    assert repo.branches() == [("main", info.sha)]

    tree = ls_tree(repo, "main")
    assert set(tree) == {"a.txt", "tools/x.sh", "deep/er/file.bin"}
    assert tree["a.txt"][0] == "100644"
    assert tree["tools/x.sh"][0] == "100755"
    assert tree["deep/er/file.bin"][0] == "100644"
    assert subprocess.run(
        ["git", "-C", str(repo.path), "cat-file", "blob", tree["deep/er/file.bin"][1]],
        capture_output=True,
        check=True,
    ).stdout == (b"\x00\xff\x01")
    assert git(repo, "cat-file", "blob", "main:a.txt") == "alpha\n"

    raw = git(repo, "cat-file", "commit", info.sha)
    assert raw.endswith("\n\nfirst commit")
    assert "author Ada Lovelace <ada@example.com> 1714536015 +0530" in raw
    assert "committer Bob <bob@example.com> 1714640400 -0800" in raw

    assert info.message == "first commit"
    assert info.author == author
    assert info.author.time.utcoffset() == timedelta(hours=5, minutes=30)
    assert info.committer == committer
    assert info.committer.time.utcoffset() == timedelta(hours=-8)
    assert repo.commit(info.sha) == info
    fsck(repo)


def test_message_stored_exactly_and_naive_time_is_utc(repo: GitRepository) -> None:
    naive = Signature("N", "n@example.com", datetime(2024, 1, 1, 0, 0, 0))
    info = repo.commit_edits(
        branch="main",
        message="subject\n\nbody line\n",
        author=naive,
        committer=None,
        edits=[Edit("f", "create", b"")],
        base_sha=None,
    )
    assert git(repo, "cat-file", "commit", info.sha).endswith("\n\nsubject\n\nbody line\n")
    assert info.message == "subject\n\nbody line\n"
    assert info.author.time == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert info.committer == info.author
    assert git(repo, "cat-file", "blob", "main:f") == ""


def test_missing_branch_rules(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    with pytest.raises(BranchNotFound) as exc:
        commit(repo, [Edit("x", "create", b"x")], branch="nope")
    assert exc.value.branch == "nope"
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/nope")

    # ... but with an existing base commit the branch is created on top of it
    info = commit(repo, [Edit("x", "create", b"x")], branch="feature/new", base=first.sha)
    assert info.parents == [first.sha]
    assert rev(repo, "refs/heads/feature/new") == info.sha
    assert rev(repo, "refs/heads/main") == first.sha

    with pytest.raises(CommitNotFound):
        commit(repo, [Edit("x", "create", b"x")], branch="other", base="0" * 40)
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/other")

    with pytest.raises(InvalidRefName):
        commit(repo, [Edit("x", "create", b"x")], branch="bad..branch")


def test_base_sha_on_empty_repo_is_branch_moved(repo: GitRepository) -> None:
    with pytest.raises(BranchMoved) as exc:
        commit(repo, [Edit("a", "create", b"a")], base="1" * 40)
    assert exc.value.branch == "main"
    assert exc.value.expected == "1" * 40
    assert exc.value.actual is None
    assert repo.is_empty()
    assert git(repo, "for-each-ref") == ""


def test_cas_failure_writes_nothing(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    second = commit(repo, [Edit("README.md", "update", b"v2\n")], base=first.sha)
    assert second.parents == [first.sha]
    with pytest.raises(BranchMoved) as exc:
        commit(repo, [Edit("README.md", "update", b"v3\n")], base=first.sha)
    assert (exc.value.branch, exc.value.expected, exc.value.actual) == (
        "main",
        first.sha,
        second.sha,
    )
    assert rev(repo, "refs/heads/main") == second.sha
    assert git(repo, "cat-file", "blob", "main:README.md") == "v2\n"
    assert git(repo, "rev-list", "--count", "main").strip() == "2"
    # an abbreviated base sha of the current head is accepted
    third = commit(repo, [Edit("README.md", "update", b"v3\n")], base=second.sha[:10])
    assert third.parents == [second.sha]


def test_edit_semantics_and_modes(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    info = commit(
        repo,
        [
            Edit("bin/run.sh", "update", b"#!/bin/sh\necho v2\n"),  # keeps 100755
            Edit("README.md", "update", b"# v2\n", executable=True),  # becomes 100755
            Edit("new.txt", "create", b"1"),
            Edit("new.txt", "update", b"2"),  # sequential: create then update is fine
            Edit("src/pkg/mod.py", "delete"),  # prunes src/pkg and src
            Edit("docs/a/b.md", "create", b"doc"),
        ],
        base=first.sha,
    )
    tree = ls_tree(repo, info.sha)
    assert set(tree) == {"bin/run.sh", "README.md", "new.txt", "docs/a/b.md"}
    assert tree["bin/run.sh"][0] == "100755"
    assert tree["README.md"][0] == "100755"
    assert tree["new.txt"][0] == "100644"
    assert git(repo, "cat-file", "blob", f"{info.sha}:new.txt") == "2"
    assert "src" not in git(repo, "ls-tree", "--name-only", info.sha).split()
    # untouched subtrees are reused as-is
    assert rev(repo, f"{info.sha}:bin") != rev(repo, f"{first.sha}:bin")
    fsck(repo)

    again = commit(repo, [Edit("README.md", "update", b"# v3\n", executable=False)])
    assert ls_tree(repo, again.sha)["README.md"][0] == "100644"
    assert rev(repo, f"{again.sha}:docs") == rev(repo, f"{info.sha}:docs")

    # an empty edit list still makes a (tree-identical) commit
    empty = commit(repo, [])
    assert empty.tree_sha == again.tree_sha
    assert empty.parents == [again.sha]


@pytest.mark.parametrize(
    ("edit", "error", "attr"),
    [
        (Edit("README.md", "create", b"x"), PathExists, "README.md"),
        (Edit("src", "create", b"x"), PathExists, "src"),  # a directory is there
        (Edit("README.md/sub", "create", b"x"), PathExists, "README.md/sub"),  # parent is file
        (Edit("missing.txt", "update", b"x"), PathNotFound, "missing.txt"),
        (Edit("nodir/x.txt", "update", b"x"), PathNotFound, "nodir/x.txt"),
        (Edit("missing.txt", "delete"), PathNotFound, "missing.txt"),
        (Edit("README.md/sub", "delete"), PathNotFound, "README.md/sub"),
        (Edit("src/pkg", "update", b"x"), PathExists, "src/pkg"),  # is a directory
        (Edit("src", "delete"), PathExists, "src"),  # is a directory
    ],
)
def test_edit_errors_write_nothing(
    seeded: tuple[GitRepository, CommitInfo], edit: Edit, error: type[GitOpsError], attr: str
) -> None:
    repo, first = seeded
    with pytest.raises(error) as exc:
        commit(repo, [Edit("fine.txt", "create", b"ok"), edit])
    assert getattr(exc.value, "path") == attr
    assert rev(repo, "refs/heads/main") == first.sha


@pytest.mark.parametrize(
    "bad",
    ["../x", "a//b", "/abs", ".git/config", "a/./b", "", "a/", "a\\b", "a\0b", "x/.GIT/y", "."],
)
def test_invalid_paths_rejected_before_anything_is_written(
    seeded: tuple[GitRepository, CommitInfo], bad: str
) -> None:
    repo, first = seeded
    marker = f"unique payload for {bad!r}".encode()
    marker_sha = git(repo, "hash-object", "--stdin", input=marker).strip()
    with pytest.raises(InvalidPath) as exc:
        commit(repo, [Edit("ok.txt", "create", marker), Edit(bad, "create", b"x")])
    assert exc.value.path == bad
    assert rev(repo, "refs/heads/main") == first.sha
    # the valid edit before the bad one was not even turned into a blob
    assert not git_ok(repo, "cat-file", "-e", marker_sha)


def test_edit_requires_data(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    with pytest.raises(GitOpsError):
        commit(repo, [Edit("x", "create")])
    with pytest.raises(GitOpsError):
        commit(repo, [Edit("README.md", "update")])
    assert rev(repo, "refs/heads/main") == first.sha


def test_concurrent_commits_with_cas_retry_lose_nothing(repo: GitRepository) -> None:
    root = commit(repo, [Edit("start", "create", b"0")])
    threads_n, per_thread = 8, 10
    errors: list[BaseException] = []
    conflicts = [0]
    barrier = threading.Barrier(threads_n)

    def worker(t: int) -> None:
        # separate GitRepository objects on the same path must share the lock
        handle = GitRepository(repo.path) if t % 2 else repo
        try:
            barrier.wait()
            for i in range(per_thread):
                while True:
                    head = handle.branch_sha("main")
                    try:
                        handle.commit_edits(
                            branch="main",
                            message=f"t{t} c{i}",
                            author=sig(),
                            committer=None,
                            edits=[Edit(f"t{t}/c{i}.txt", "create", f"{t}-{i}".encode())],
                            base_sha=head,
                        )
                        break
                    except BranchMoved:
                        conflicts[0] += 1
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert git(repo, "rev-list", "--count", "main").strip() == str(threads_n * per_thread + 1)
    assert git(repo, "rev-list", "--count", f"{root.sha}..main").strip() == "80"
    files = ls_tree(repo, "main")
    assert len(files) == threads_n * per_thread + 1
    for t in range(threads_n):
        for i in range(per_thread):
            assert f"t{t}/c{i}.txt" in files
    assert len(repo.log("main", limit=1000)) == 81
    fsck(repo)


def test_concurrent_blind_commits_are_serialised_and_reads_proceed(repo: GitRepository) -> None:
    commit(repo, [Edit("start", "create", b"0")])
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        handle = GitRepository(repo.path)  # distinct objects, same on-disk repository
        try:
            for i in range(10):
                commit(handle, [Edit(f"w{t}/{i}", "create", b"x")])  # no base_sha
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    done = threading.Event()
    reads = [0]

    def reader() -> None:  # reads run concurrently with the writers, unblocked
        try:
            while not done.is_set():
                head = repo.branch_sha("main")
                assert repo.log(head, limit=3)[0].sha == head
                assert isinstance(repo.read_path(head, ""), Directory)
                reads[0] += 1
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in readers + threads:
        th.start()
    for th in threads:
        th.join()
    done.set()
    for th in readers:
        th.join()
    assert not errors
    assert reads[0] > 0
    assert git(repo, "rev-list", "--count", "main").strip() == "41"
    assert len(ls_tree(repo, "main")) == 41


def test_ref_moved_by_another_process_mid_commit(
    seeded: tuple[GitRepository, CommitInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head is re-checked under the on-disk ref lock, not only under the thread lock."""
    repo, first = seeded
    env = ["-c", "user.name=T", "-c", "user.email=t@e"]
    external = git(repo, *env, "commit-tree", first.tree_sha, "-p", first.sha, "-m", "ext").strip()
    original_write = trees.TreeEditor.write

    def write_and_race(self: trees.TreeEditor) -> object:
        git(repo, "update-ref", "refs/heads/main", external)  # a concurrent `git push`
        return original_write(self)

    monkeypatch.setattr(trees.TreeEditor, "write", write_and_race)
    with pytest.raises(BranchMoved) as exc:
        commit(repo, [Edit("x", "create", b"x")])
    assert (exc.value.expected, exc.value.actual) == (first.sha, external)
    assert rev(repo, "refs/heads/main") == external


def test_ref_locked_by_another_process(
    seeded: tuple[GitRepository, CommitInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, first = seeded
    monkeypatch.setattr(refs, "_REF_LOCK_ATTEMPTS", 2)
    lock = repo.path / "refs" / "heads" / "main.lock"
    lock.write_text("")
    with pytest.raises(RefLocked) as exc:
        commit(repo, [Edit("x", "create", b"x")])
    assert (str(exc.value), exc.value.branch) == (
        "branch 'main' is locked by another update",
        "main",
    )
    assert rev(repo, "refs/heads/main") == first.sha
    lock.unlink()
    assert commit(repo, [Edit("x", "create", b"x")]).parents == [first.sha]


# ---------------------------------------------------------------------------------------
# branches and ref resolution
# ---------------------------------------------------------------------------------------


def test_branch_crud(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("feature/x", first.sha)
    repo.create_branch("Zeta", first.sha)
    repo.create_branch("alpha", first.sha[:8])
    assert rev(repo, "refs/heads/feature/x") == first.sha
    assert [name for name, _ in repo.branches()] == ["Zeta", "alpha", "feature/x", "main"]
    assert all(sha == first.sha for _, sha in repo.branches())
    assert repo.branch_sha("feature/x") == first.sha

    with pytest.raises(BranchExists) as exists:
        repo.create_branch("feature/x", first.sha)
    assert exists.value.branch == "feature/x"
    with pytest.raises(BranchExists):
        repo.create_branch("feature", first.sha)  # collides with feature/x on disk
    with pytest.raises(BranchExists):
        repo.create_branch("main/sub", first.sha)
    for bad in ["a..b", "-x", "HEAD", "x.lock", "a b", "a~1", "", "end/"]:
        with pytest.raises(InvalidRefName):
            repo.create_branch(bad, first.sha)
    tree_sha = first.tree_sha
    for missing in ["0" * 40, tree_sha, "zz", first.sha[:6]]:
        with pytest.raises(CommitNotFound) as nf:
            repo.create_branch("new", missing)
        assert nf.value.sha == missing
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/new")

    repo.delete_branch("feature/x")
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/feature/x")
    repo.create_branch("feature", first.sha)  # the now-empty refs/heads/feature/ dir is gone
    with pytest.raises(BranchNotFound) as bnf:
        repo.delete_branch("feature/x")
    assert bnf.value.branch == "feature/x"
    with pytest.raises(BranchNotFound):
        repo.branch_sha("nope")
    with pytest.raises(BranchNotFound):
        repo.delete_branch("a..b")
    assert git(repo, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/Zeta",
        "refs/heads/alpha",
        "refs/heads/feature",
        "refs/heads/main",
    ]


def test_resolve(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    second = commit(repo, [Edit("two", "create", b"2")])
    repo.create_branch("feature/x", first.sha)
    git(repo, "tag", "v1", first.sha)
    git(
        repo, "-c", "user.name=T", "-c", "user.email=t@e", "tag", "-a", "-m", "ann", "v2", first.sha
    )
    git(repo, "tag", "treetag", first.tree_sha)

    assert repo.resolve("main") == second.sha
    assert repo.resolve("refs/heads/main") == second.sha
    assert repo.resolve("feature/x") == first.sha
    assert repo.resolve("v1") == first.sha
    assert repo.resolve("v2") == first.sha  # annotated tag peeled to its commit
    assert repo.resolve("refs/tags/v2") == first.sha
    assert repo.resolve(first.sha) == first.sha
    assert repo.resolve(first.sha.upper()) == first.sha
    assert repo.resolve(first.sha[:7]) == first.sha
    for bad in ["nope", first.sha[:6], "0" * 40, "treetag", first.tree_sha, "main~1", ""]:
        with pytest.raises(RefNotFound) as exc:
            repo.resolve(bad)
        assert exc.value.ref == bad


# ---------------------------------------------------------------------------------------
# log / commit
# ---------------------------------------------------------------------------------------


def test_log_pagination_newest_first(repo: GitRepository) -> None:
    shas = [commit(repo, [Edit(f"f{i}", "create", b"x")], minute=i).sha for i in range(5)]
    expected = list(reversed(shas))
    assert git(repo, "rev-list", "main").split() == expected
    assert [c.sha for c in repo.log("main", limit=100)] == expected
    assert [c.sha for c in repo.log("main", limit=2)] == expected[:2]
    assert [c.sha for c in repo.log("main", skip=2, limit=2)] == expected[2:4]
    assert [c.sha for c in repo.log("main", skip=4, limit=2)] == expected[4:]
    assert repo.log("main", skip=5, limit=2) == []
    assert repo.log("main", limit=0) == []
    assert [c.sha for c in repo.log(shas[2][:9], limit=10)] == list(reversed(shas[:3]))
    assert repo.log("main", limit=1)[0].message == "msg"
    with pytest.raises(RefNotFound):
        repo.log("nope", limit=1)


def test_log_walks_all_parents_of_merges(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("side", first.sha)
    side = commit(repo, [Edit("side.txt", "create", b"s")], branch="side", minute=1)
    main = commit(repo, [Edit("main.txt", "create", b"m")], minute=2)
    outcome = repo.merge(
        base_branch="main", head="side", author=sig(3), message=None, delete_branch=False
    )
    log = repo.log("main", limit=10)
    assert log[0].sha == outcome.sha
    assert {c.sha for c in log} == {outcome.sha, side.sha, main.sha, first.sha}
    assert log[-1].sha == first.sha
    assert set(git(repo, "rev-list", "main").split()) == {c.sha for c in log}


def test_commit_lookup_errors(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    assert repo.commit(first.sha[:7]).sha == first.sha
    for bad in ["0" * 40, first.tree_sha, "xyz", "main", first.sha[:5]]:
        with pytest.raises(CommitNotFound) as exc:
            repo.commit(bad)
        assert exc.value.sha == bad


# ---------------------------------------------------------------------------------------
# reading trees
# ---------------------------------------------------------------------------------------


def _symlink_and_submodule_commit(repo: GitRepository, parent: str) -> str:
    """Build a commit with plumbing only (independent of the code under test)."""
    target = git(repo, "hash-object", "-w", "--stdin", input=b"README.md").strip()
    readme = rev(repo, f"{parent}:README.md")
    bin_tree = rev(repo, f"{parent}:bin")
    sub_sha = "1234567890" * 4
    listing = (
        f"100644 blob {readme}\tREADME.md\n"
        f"040000 tree {bin_tree}\tbin\n"
        f"120000 blob {target}\tlink\n"
        f"160000 commit {sub_sha}\tvendor\n"
    )
    tree = git(repo, "mktree", input=listing.encode()).strip()
    env_args = ["-c", "user.name=T", "-c", "user.email=t@e"]
    sha = git(repo, *env_args, "commit-tree", tree, "-p", parent, "-m", "plumbing").strip()
    git(repo, "update-ref", "refs/heads/main", sha)
    return sha


def test_read_path_files_dirs_symlinks(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    root = repo.read_path(first.sha, "")
    assert isinstance(root, Directory)
    assert (root.name, root.path, root.sha) == ("", "", first.tree_sha)
    assert [(e.type, e.path) for e in root.entries] == [
        ("file", "README.md"),
        ("dir", "bin"),
        ("dir", "src"),
    ]

    readme = repo.read_path(first.sha, "README.md")
    assert readme == FileBlob(
        type="file",
        name="README.md",
        path="README.md",
        sha=rev(repo, f"{first.sha}:README.md"),
        size=8,
        executable=False,
        data=b"# hello\n",
    )
    script = repo.read_path(first.sha, "bin/run.sh")
    assert isinstance(script, FileBlob)
    assert script.executable and script.type == "file" and script.name == "run.sh"

    pkg = repo.read_path(first.sha, "src/pkg")
    assert isinstance(pkg, Directory)
    assert (pkg.name, pkg.path) == ("pkg", "src/pkg")
    assert pkg.entries == [
        TreeEntry("file", "mod.py", "src/pkg/mod.py", rev(repo, "main:src/pkg/mod.py"), 6, False)
    ]

    sha = _symlink_and_submodule_commit(repo, first.sha)
    link = repo.read_path(sha, "link")
    assert isinstance(link, FileBlob)
    assert (link.type, link.data, link.size, link.executable) == ("symlink", b"README.md", 9, False)
    with pytest.raises(PathNotFound):
        repo.read_path(sha, "vendor")  # submodule: no content here
    listing = directory_at(repo, sha, "")
    assert [(e.type, e.name, e.size) for e in listing.entries] == [
        ("file", "README.md", 8),
        ("dir", "bin", None),
        ("symlink", "link", 9),
        ("submodule", "vendor", None),
    ]
    assert listing.entries[-1].sha == "1234567890" * 4

    for missing in ["nope", "README.md/x", "src/pkg/none.py"]:
        with pytest.raises(PathNotFound) as exc:
            repo.read_path(first.sha, missing)
        assert exc.value.path == missing
    with pytest.raises(InvalidPath):
        repo.read_path(first.sha, "src/../README.md")
    with pytest.raises(CommitNotFound):
        repo.read_path("0" * 40, "")


def directory_at(repo: GitRepository, sha: str, path: str, **page: int) -> Directory:
    found = repo.read_path(sha, path, **page)
    assert isinstance(found, Directory)
    return found


def test_list_tree_depth(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    one = directory_at(repo, first.sha, "")
    assert [e.path for e in one.entries] == ["README.md", "bin", "src"]
    two = directory_at(repo, first.sha, "", depth=2)
    assert [e.path for e in two.entries] == ["README.md", "bin", "bin/run.sh", "src", "src/pkg"]
    deep = directory_at(repo, first.sha, "", depth=10)
    assert [(e.type, e.path) for e in deep.entries] == [
        ("file", "README.md"),
        ("dir", "bin"),
        ("file", "bin/run.sh"),
        ("dir", "src"),
        ("dir", "src/pkg"),
        ("file", "src/pkg/mod.py"),
    ]
    run = deep.entries[2]
    assert run.executable and run.size == len(b"#!/bin/sh\necho hi\n")
    assert deep.entries[1].sha == rev(repo, f"{first.sha}:bin")
    sub = directory_at(repo, first.sha, "src", depth=2)
    assert (sub.name, sub.path, sub.sha) == ("src", "src", rev(repo, f"{first.sha}:src"))
    assert [e.path for e in sub.entries] == ["src/pkg", "src/pkg/mod.py"]
    with pytest.raises(PathNotFound):
        directory_at(repo, first.sha, "nope")


def test_deep_listings_are_in_path_order_and_pages_cost_what_they_hold(
    repo: GitRepository,
) -> None:
    # Path order is not a depth-first walk: "a-c" and "a.txt" sort between "a" and "a/x".
    paths = ["a/x", "a/b/c", "a/b-z", "a-c", "a.txt", "a0/y", "b", "\u00e9/\u00e8", "z/z/z/z"]
    info = commit(repo, [Edit(p, "create", p.encode()) for p in paths])
    every = [e.path for e in directory_at(repo, info.sha, "", depth=64).entries]
    folders = {"a", "a/b", "a0", "\u00e9", "z", "z/z", "z/z/z"}
    assert every == sorted(set(paths) | folders)
    assert [e.path for e in directory_at(repo, info.sha, "", depth=2).entries] == sorted(
        p for p in set(paths) | folders if p.count("/") < 2
    )
    # Pages of any size put together are the whole listing; has_more is exact.
    for limit in (1, 2, 3, 5, len(every), len(every) + 1):
        pages, offset = [], 0
        while True:
            page = directory_at(repo, info.sha, "", depth=64, offset=offset, limit=limit)
            pages.extend(e.path for e in page.entries)
            offset += limit
            if not page.has_more:
                break
        assert pages == every
    first = directory_at(repo, info.sha, "a", depth=64, limit=2)
    assert [e.path for e in first.entries] == ["a/b", "a/b-z"] and first.has_more


def test_last_commit_times(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    t0 = first.committer.time
    c1 = commit(repo, [Edit("src/pkg/mod.py", "update", b"x = 2\n")], minute=10)
    c2 = commit(repo, [Edit("other.txt", "create", b"o")], minute=20)
    commit(repo, [Edit("other.txt", "delete")], minute=30)
    c4 = commit(repo, [Edit("README.md", "update", b"r", executable=True)], minute=40)

    files = ["bin/run.sh", "src/pkg/mod.py", "README.md"]
    assert repo.last_commit_times(c4.sha, files) == {
        "bin/run.sh": t0,
        "src/pkg/mod.py": c1.committer.time,
        "README.md": c4.committer.time,  # mode+content
    }
    assert repo.last_commit_times(c2.sha, ["other.txt"]) == {"other.txt": c2.committer.time}
    assert repo.last_commit_times(c4.sha, ["never/existed"]) == {}
    # agrees with git log --first-parent -1 -- path
    for path, got in repo.last_commit_times(c4.sha, files).items():
        expected = git(repo, "log", "--first-parent", "-1", "--format=%ct", c4.sha, "--", path)
        assert int(got.timestamp()) == int(expected.strip())


def test_last_commit_times_through_merge(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("side", first.sha)
    commit(repo, [Edit("side.txt", "create", b"s")], branch="side", minute=5)
    commit(repo, [Edit("main.txt", "create", b"m")], minute=7)
    merged = repo.merge(
        base_branch="main", head="side", author=sig(9), message=None, delete_branch=False
    )
    merge_time = repo.commit(merged.sha).committer.time
    # First-parent history: the merge commit brought side.txt to main.
    assert repo.last_commit_times(merged.sha, ["side.txt", "README.md"]) == {
        "side.txt": merge_time,
        "README.md": first.committer.time,
    }


# ---------------------------------------------------------------------------------------
# diff
# ---------------------------------------------------------------------------------------


def test_diff_statuses_rename_binary(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, _first = seeded
    body = "".join(f"line {i}\n" for i in range(40)).encode()
    base = commit(
        repo, [Edit("old.txt", "create", body), Edit("img.png", "create", b"\x89PNG\0\1")]
    )
    head = commit(
        repo,
        [
            Edit("old.txt", "delete"),
            Edit("moved/new.txt", "create", body.replace(b"line 7\n", b"LINE 7\n")),
            Edit("img.png", "update", b"\x89PNG\0\2"),
            Edit("README.md", "update", b"# hello\nworld\n"),
            Edit("src/pkg/mod.py", "delete"),
            Edit("added.txt", "create", b"a\nb\n"),
            Edit("bin/run.sh", "update", b"#!/bin/sh\necho hi\n", executable=False),
        ],
    )
    result = repo.diff(base.sha, "main")
    assert (result.base_sha, result.head_sha) == (base.sha, head.sha)
    by_path = {e.path: e for e in result.entries}
    assert sorted(by_path) == [
        "README.md",
        "added.txt",
        "bin/run.sh",
        "img.png",
        "moved/new.txt",
        "src/pkg/mod.py",
    ]
    renamed = by_path["moved/new.txt"]
    assert (renamed.status, renamed.old_path, renamed.additions, renamed.deletions) == (
        "R",
        "old.txt",
        1,
        1,
    )
    assert renamed.patch.startswith("diff --git a/old.txt b/moved/new.txt\n")
    assert "rename from old.txt" in renamed.patch
    img = by_path["img.png"]
    assert (img.status, img.binary, img.additions, img.deletions) == ("M", True, 0, 0)
    assert "Binary files" in img.patch
    readme = by_path["README.md"]
    assert (readme.status, readme.binary, readme.additions, readme.deletions) == ("M", False, 1, 0)
    deleted = by_path["src/pkg/mod.py"]
    assert (deleted.status, deleted.old_path, deleted.deletions) == ("D", None, 1)
    assert by_path["added.txt"].status == "A" and by_path["added.txt"].additions == 2
    mode = by_path["bin/run.sh"]
    assert mode.status == "M" and "old mode 100755\nnew mode 100644" in mode.patch
    assert result.additions == sum(e.additions for e in result.entries) == 4
    assert result.deletions == 2
    assert result.patch == "".join(e.patch for e in result.entries)
    # byte-identical to what git itself prints
    assert result.patch == git(repo, "diff", base.sha, head.sha)
    names = git(repo, "diff", "--name-status", base.sha, head.sha).splitlines()
    assert "R097\told.txt\tmoved/new.txt" in names

    empty = repo.diff(head.sha, head.sha)
    assert (empty.entries, empty.patch, empty.additions, empty.deletions) == ([], "", 0, 0)
    reverse = repo.diff(head.sha, base.sha[:8])
    assert {e.path: e.status for e in reverse.entries}["old.txt"] == "R"
    with pytest.raises(RefNotFound):
        repo.diff("nope", "main")


def test_diff_typechange(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    sha = _symlink_and_submodule_commit(repo, first.sha)
    # make "link" a regular file again on top of the plumbing commit
    back = commit(repo, [Edit("link", "update", b"now a file\n", executable=False)])
    assert ls_tree(repo, back.sha)["link"][0] == "100644"
    result = repo.diff(sha, back.sha)
    assert [(e.status, e.path) for e in result.entries] == [("T", "link")]
    entry = result.entries[0]
    assert "deleted file mode 120000" in entry.patch
    assert "new file mode 100644" in entry.patch
    assert (entry.additions, entry.deletions) == (1, 1)
    assert git(repo, "diff", "--name-status", sha, back.sha).split() == ["T", "link"]
    assert result.patch == git(repo, "diff", sha, back.sha)


# ---------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------


def test_merge_fast_forward_and_delete(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("feature/x", first.sha)
    tip = commit(repo, [Edit("f.txt", "create", b"f")], branch="feature/x")
    outcome = repo.merge(
        base_branch="main", head="feature/x", author=sig(), message=None, delete_branch=True
    )
    assert (outcome.merge_type, outcome.sha, outcome.branch_deleted) == (
        "fast_forward",
        tip.sha,
        True,
    )
    assert rev(repo, "refs/heads/main") == tip.sha
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/feature/x")
    assert git(repo, "rev-list", "--count", "main").strip() == "2"  # no merge commit


def test_merge_up_to_date(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("old", first.sha)
    newer = commit(repo, [Edit("n", "create", b"n")])
    outcome = repo.merge(
        base_branch="main", head="old", author=sig(), message=None, delete_branch=False
    )
    assert (outcome.merge_type, outcome.sha, outcome.branch_deleted) == (
        "up_to_date",
        newer.sha,
        False,
    )
    assert repo.branch_sha("old") == first.sha
    same = repo.merge(
        base_branch="main", head="main", author=sig(), message=None, delete_branch=True
    )
    assert (same.merge_type, same.branch_deleted) == ("up_to_date", False)
    assert repo.branch_sha("main") == newer.sha
    gone = repo.merge(
        base_branch="main", head="old", author=sig(), message=None, delete_branch=True
    )
    assert (gone.merge_type, gone.sha, gone.branch_deleted) == ("up_to_date", newer.sha, True)
    assert rev(repo, "refs/heads/main") == newer.sha
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/old")


def test_merge_commit(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("topic", first.sha)
    ours = commit(repo, [Edit("ours.txt", "create", b"o\n")], minute=1)
    theirs = commit(repo, [Edit("theirs.txt", "create", b"t\n")], branch="topic", minute=2)
    author = Signature("Merger", "m@example.com", datetime(2024, 6, 1, 8, 0, tzinfo=IST))
    outcome = repo.merge(
        base_branch="main", head="topic", author=author, message=None, delete_branch=True
    )
    assert outcome.merge_type == "merge_commit"
    assert outcome.branch_deleted
    assert rev(repo, "refs/heads/main") == outcome.sha
    info = repo.commit(outcome.sha)
    assert info.parents == [ours.sha, theirs.sha]
    assert info.message == "Merge branch 'topic' into 'main'"
    assert info.author == author and info.committer == author
    assert set(ls_tree(repo, "main")) == {
        "README.md",
        "bin/run.sh",
        "src/pkg/mod.py",
        "ours.txt",
        "theirs.txt",
    }
    assert not git_ok(repo, "rev-parse", "--verify", "refs/heads/topic")
    fsck(repo)


def test_merge_head_by_sha_and_custom_message(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("topic", first.sha)
    commit(repo, [Edit("a", "create", b"a")])
    theirs = commit(repo, [Edit("b", "create", b"b")], branch="topic")
    outcome = repo.merge(
        base_branch="main",
        head=theirs.sha[:10],
        author=sig(),
        message="custom",
        delete_branch=True,
    )
    assert outcome.merge_type == "merge_commit" and not outcome.branch_deleted
    assert repo.commit(outcome.sha).message == "custom"
    assert repo.branch_sha("topic") == theirs.sha


def test_merge_conflict_writes_nothing(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("topic", first.sha)
    ours = commit(
        repo,
        [Edit("README.md", "update", b"ours\n"), Edit("src/pkg/mod.py", "update", b"x = 'o'\n")],
    )
    commit(
        repo,
        [
            Edit("src/pkg/mod.py", "update", b"x = 't'\n"),
            Edit("README.md", "update", b"theirs\n"),
            Edit("clean.txt", "create", b"c"),
        ],
        branch="topic",
    )
    refs_before = git(repo, "for-each-ref")
    with pytest.raises(MergeConflict) as exc:
        repo.merge(base_branch="main", head="topic", author=sig(), message=None, delete_branch=True)
    assert exc.value.paths == ["README.md", "src/pkg/mod.py"]
    assert rev(repo, "refs/heads/main") == ours.sha
    assert git(repo, "for-each-ref") == refs_before


def test_merge_errors(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, _first = seeded
    with pytest.raises(BranchNotFound) as bnf:
        repo.merge(base_branch="nope", head="main", author=sig(), message=None, delete_branch=False)
    assert bnf.value.branch == "nope"
    with pytest.raises(RefNotFound) as rnf:
        repo.merge(base_branch="main", head="nope", author=sig(), message=None, delete_branch=False)
    assert rnf.value.ref == "nope"


def test_size_bytes_grows(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, _first = seeded
    before = repo.size_bytes()
    commit(repo, [Edit("big.bin", "create", bytes(range(256)) * 64)])
    assert repo.size_bytes() > before


def test_merge_never_deletes_the_default_branch(seeded: tuple[GitRepository, CommitInfo]) -> None:
    repo, first = seeded
    repo.create_branch("dev", first.sha)
    commit(repo, [Edit("d.txt", "create", b"d")], branch="dev")
    outcome = repo.merge(
        base_branch="dev", head="main", author=sig(), message=None, delete_branch=True
    )
    assert outcome.branch_deleted is False
    assert rev(repo, "refs/heads/main") == first.sha
    assert is_valid_branch_name("dev") and not is_valid_branch_name("a..b")


# ---------------------------------------------------------------------------------------
# Agent Blame notes
# ---------------------------------------------------------------------------------------


def _agentblame_note(repo: GitRepository, sha: str, text: str) -> None:
    identity = ("-c", "user.name=agentblame", "-c", "user.email=ab@example.com")
    git(repo, *identity, "notes", "--ref=refs/notes/agentblame", "add", "-f", "-m", text, sha)


def test_agent_blame_reads_only_well_formed_attributions(
    seeded: tuple[GitRepository, CommitInfo],
) -> None:
    repo, first = seeded
    made = commit(repo, [Edit("a.txt", "create", b"1\n2\n3\n4\n")], minute=5)
    good = {"path": "a.txt", "startLine": 1, "endLine": 1, "provider": "cursor", "model": None}
    note = {
        "version": 2,
        "attributions": [
            good,
            {**good, "startLine": 0, "endLine": 2},  # no line 0
            {**good, "startLine": 3, "endLine": 2},  # ends before it starts
            {k: v for k, v in good.items() if k != "provider"} | {"startLine": 4, "endLine": 4},
            {**good, "path": "other.txt", "startLine": 2, "endLine": 3},
            "not an attribution",
        ],
    }
    _agentblame_note(repo, made.sha, json.dumps(note))
    found = repo.agent_blame(first.sha, made.sha)
    # Without confidence and matchType: 1.0 and exact_hash, what the tool writes for an exact match.
    assert found == BlameResult({"a.txt": [AiLine(1, "cursor", None, 1.0, "exact_hash")]}, 4)

    _agentblame_note(repo, made.sha, "not json")
    assert repo.agent_blame(first.sha, made.sha) == BlameResult({}, 4)
