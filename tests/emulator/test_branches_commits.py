"""Branches and commits: real git commits from edits, compare-and-swap, concurrency."""

from __future__ import annotations

import base64
import subprocess
import threading

import httpx
import pytest
from emulator_helpers import Api, assert_error
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator


def git(emu: Emulator, repo_id: str, *args: str) -> str:
    path = emu.data_dir / "repos" / f"{repo_id}.git"
    return subprocess.run(
        ["git", "-C", str(path), *args], check=True, capture_output=True, text=True
    ).stdout


# ---- branches ---------------------------------------------------------------------------


def test_branch_create_list_delete(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    sha = api.write("r", {"a": "1"})
    created = http.post(f"/{org}/r/branches", json={"name": "feature/x", "head_sha": sha})
    assert created.status_code == 201
    assert created.json() == {"name": "feature/x", "head_sha": sha, "is_default": False}
    listed = http.get(f"/{org}/r/branches").json()
    assert listed == {
        "branches": [
            {"name": "feature/x", "head_sha": sha, "is_default": False},
            {"name": "main", "head_sha": sha, "is_default": True},
        ],
        "next_cursor": None,
        "has_more": False,
    }
    # %2F in the path reaches the branch feature/x.
    deleted = http.delete(f"/{org}/r/branches/feature%2Fx")
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert [b["name"] for b in http.get(f"/{org}/r/branches").json()["branches"]] == ["main"]


def test_branch_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    sha = api.write("r", {"a": "1"})
    post = lambda body: http.post(f"/{org}/r/branches", json=body)  # noqa: E731
    assert_error(post({"name": "main", "head_sha": sha}), 409, "BRANCH_EXISTS")
    assert_error(post({"name": "main/sub", "head_sha": sha}), 409, "BRANCH_EXISTS")
    for bad in ["a..b", "-x", "a b", "x.lock", "a~1", "HEAD", "/a", "a/", "a//b", "a@{1}"]:
        assert_error(post({"name": bad, "head_sha": sha}), 400, "INVALID_REF_NAME")
    assert_error(post({"name": "n", "head_sha": "f" * 40}), 404, "COMMIT_NOT_FOUND")
    assert_error(post({"name": "n", "head_sha": "abc"}), 400, "INVALID_REQUEST", field="head_sha")
    assert_error(post({"name": "n"}), 400, "INVALID_REQUEST", field="from")
    assert_error(
        post({"name": "n", "from": "main", "head_sha": sha}),
        400,
        "INVALID_REQUEST",
        field="head_sha",
    )
    assert_error(post({"name": "n", "from": "nope"}), 404, "REF_NOT_FOUND")
    assert_error(
        http.post(f"/{org}/nope/branches", json={"name": "n", "head_sha": sha}),
        404,
        "REPO_NOT_FOUND",
    )
    assert_error(http.delete(f"/{org}/r/branches/ghost"), 404, "BRANCH_NOT_FOUND")
    assert_error(http.delete(f"/{org}/r/branches/main"), 409, "DEFAULT_BRANCH")
    assert_error(http.delete(f"/{org}/r/branches/a..b"), 400, "INVALID_REF_NAME")


def test_branch_pagination(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    sha = api.write("r", {"a": "1"})
    names = sorted([f"b{i:02d}" for i in range(25)] + ["main"], key=str.encode)
    for name in names[:-1]:
        http.post(f"/{org}/r/branches", json={"name": name, "head_sha": sha})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = http.get(f"/{org}/r/branches", params=params).json()
        seen += [b["name"] for b in page["branches"]]
        if page["next_cursor"] is None:
            assert page["has_more"] is False
            break
        cursor = page["next_cursor"]
        if len(seen) == 10:  # delete an unseen branch and add one before the cursor
            http.delete(f"/{org}/r/branches/b15")
            http.post(f"/{org}/r/branches", json={"name": "a0", "head_sha": sha})
    expected = [n for n in names if n != "b15"]
    assert seen == expected


# ---- commits ----------------------------------------------------------------------------


def test_commits_are_real_git_commits(
    http: httpx.Client, org: str, api: Api, emu: Emulator
) -> None:
    repo = api.repo()
    first = api.commit(
        "r",
        [
            {"path": "README.md", "action": "create", "content": "# Hi\n"},
            {"path": "bin/tool", "action": "create", "content": "#!/bin/sh\n", "executable": True},
            {
                "path": "data.bin",
                "action": "create",
                "content": base64.b64encode(b"\x00\xff\x10").decode(),
                "encoding": "base64",
            },
        ],
        message="Initial commit\n\nWith a body.",
        committer={"name": "Bot", "email": "bot@example.com", "date": "2024-05-01T12:00:00+05:30"},
    )
    assert set(first) == {"sha", "branch", "message", "parents"}
    assert first["branch"] == "main" and first["parents"] == []
    assert first["message"] == "Initial commit\n\nWith a body."
    rid = repo["id"]
    tree = git(emu, rid, "ls-tree", "-r", first["sha"])
    assert "100755 blob" in tree.split("bin/tool")[0].splitlines()[-1]
    assert git(emu, rid, "cat-file", "-p", f"{first['sha']}:README.md") == "# Hi\n"
    raw = subprocess.run(
        [
            "git",
            "-C",
            str(emu.data_dir / "repos" / f"{rid}.git"),
            "cat-file",
            "blob",
            f"{first['sha']}:data.bin",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == b"\x00\xff\x10"
    header = git(emu, rid, "cat-file", "commit", first["sha"])
    assert f"author {AUTHOR['name']} <{AUTHOR['email']}>" in header
    assert "committer Bot <bot@example.com> 1714545000 +0530" in header

    second = api.commit(
        "r",
        [
            {"path": "README.md", "action": "update", "content": "# Hello\n"},
            {"path": "data.bin", "action": "delete"},
            {"path": "bin/tool", "action": "update", "content": "#!/bin/bash\n"},
        ],
    )
    assert second["parents"] == [first["sha"]]
    tree = git(emu, rid, "ls-tree", "-r", "--name-only", second["sha"]).split()
    assert tree == ["README.md", "bin/tool"]
    # update keeps the executable bit when 'executable' is omitted
    assert git(emu, rid, "ls-tree", second["sha"], "bin/tool").startswith("100755")
    git(emu, rid, "fsck", "--strict")

    got = http.get(f"/{org}/r/commits/{first['sha']}").json()
    assert set(got) == {"sha", "message", "author", "committer", "parents"}
    assert got["author"]["name"] == AUTHOR["name"] and got["author"]["date"].endswith("Z")
    assert got["committer"] == {
        "name": "Bot",
        "email": "bot@example.com",
        "date": "2024-05-01T06:30:00Z",
    }
    # An abbreviated sha (7+ hex, any case) works too.
    assert http.get(f"/{org}/r/commits/{first['sha'][:7].upper()}").json()["sha"] == first["sha"]


def test_get_commit_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    api.write("r", {"a": "1"})
    assert_error(http.get(f"/{org}/r/commits/{'0' * 40}"), 404, "COMMIT_NOT_FOUND")
    for bad in ["abc", "xyz1234", "1" * 41]:
        assert_error(http.get(f"/{org}/r/commits/{bad}"), 400, "INVALID_PARAMETER", parameter="sha")
    assert_error(http.get(f"/{org}/nope/commits/{'0' * 40}"), 404, "REPO_NOT_FOUND")


def test_list_commits_newest_first_with_stable_cursor(
    http: httpx.Client, org: str, api: Api
) -> None:
    api.repo()
    shas = [api.write("r", {"f": str(i)}) for i in range(7)]
    page = http.get(f"/{org}/r/commits", params={"limit": 3}).json()
    assert [c["sha"] for c in page["commits"]] == shas[::-1][:3]
    assert page["has_more"] is True
    # A commit made during the walk does not shift the pages: the cursor pins the start.
    api.write("r", {"f": "new"})
    rest: list[str] = []
    cursor = page["next_cursor"]
    while cursor:
        page = http.get(f"/{org}/r/commits", params={"limit": 3, "cursor": cursor}).json()
        rest += [c["sha"] for c in page["commits"]]
        cursor = page["next_cursor"]
    assert rest == shas[::-1][3:]
    # ref: a branch, a sha; unknown refs are 404; the cursor is bound to the ref.
    by_sha = http.get(f"/{org}/r/commits", params={"ref": shas[2]}).json()
    assert [c["sha"] for c in by_sha["commits"]] == shas[2::-1]
    assert_error(http.get(f"/{org}/r/commits", params={"ref": "nope"}), 404, "REF_NOT_FOUND")
    cursor = http.get(f"/{org}/r/commits", params={"limit": 1}).json()["next_cursor"]
    assert_error(
        http.get(f"/{org}/r/commits", params={"limit": 1, "cursor": cursor, "ref": "main"}),
        400,
        "INVALID_CURSOR",
    )
    assert_error(http.get(f"/{org}/r/commits", params={"ref": ""}), 400, "INVALID_PARAMETER")


def test_empty_repo_has_no_commits(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    assert http.get(f"/{org}/r/commits").json() == {
        "commits": [],
        "next_cursor": None,
        "has_more": False,
    }


def test_first_commit_creates_any_branch_default_stays(
    http: httpx.Client, org: str, api: Api
) -> None:
    api.repo()
    api.commit("r", [{"path": "a", "action": "create", "content": "x"}], branch="dev")
    repo = http.get(f"/{org}/r").json()
    assert repo["default_branch"] == "main" and repo["head_sha"] is None
    # Now that the repository has commits, a missing branch needs base_sha.
    error = assert_error(
        http.post(
            f"/{org}/r/commits",
            json={
                "branch": "main",
                "message": "m",
                "author": AUTHOR,
                "edits": [{"path": "b", "action": "create", "content": "y"}],
            },
        ),
        404,
        "BRANCH_NOT_FOUND",
    )
    assert error["details"]["branch"] == "main"
    dev = api.head("r", "dev")
    made = api.commit(
        "r", [{"path": "b", "action": "create", "content": "y"}], branch="main", base_sha=dev
    )
    assert made["parents"] == [dev]
    assert http.get(f"/{org}/r").json()["head_sha"] == made["sha"]


def test_edit_errors_write_nothing(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    head = api.write("r", {"a.txt": "1", "dir/b.txt": "2"})

    def commit(edits: list[dict[str, object]], **extra: object) -> httpx.Response:
        return http.post(
            f"/{org}/r/commits",
            json={"branch": "main", "message": "m", "author": AUTHOR, "edits": edits, **extra},
        )

    ok = {"path": "new.txt", "action": "create", "content": "n"}
    assert_error(
        commit([ok, {"path": "a.txt", "action": "create", "content": "x"}]), 409, "PATH_EXISTS"
    )
    assert_error(
        commit([ok, {"path": "a.txt/x", "action": "create", "content": "x"}]), 409, "PATH_EXISTS"
    )
    assert_error(
        commit([ok, {"path": "nope", "action": "update", "content": "x"}]), 404, "PATH_NOT_FOUND"
    )
    assert_error(commit([ok, {"path": "nope", "action": "delete"}]), 404, "PATH_NOT_FOUND")
    assert_error(commit([ok, {"path": "dir", "action": "delete"}]), 409, "PATH_EXISTS")
    error = assert_error(commit([ok, {"path": "c", "action": "create"}]), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "edits.1.content"
    error = assert_error(
        commit(
            [{"path": "c", "action": "create", "content": "x", "lfs": {"oid": "a" * 64, "size": 1}}]
        ),
        400,
        "INVALID_REQUEST",
    )
    assert error["details"]["field"] == "edits.0.content"
    error = assert_error(
        commit([{"path": "a.txt", "action": "delete", "content": "x"}]), 400, "INVALID_REQUEST"
    )
    assert error["details"]["field"] == "edits.0.content"
    error = assert_error(
        commit([{"path": "c", "action": "create", "content": "!!!", "encoding": "base64"}]),
        400,
        "INVALID_REQUEST",
    )
    assert error["details"]["field"] == "edits.0.content" and "edits.0.content" in error["message"]
    error = assert_error(
        commit([{"path": "c", "action": "rename", "content": "x"}]), 400, "INVALID_REQUEST"
    )
    assert error["details"]["field"] == "edits.0.action"
    assert_error(commit([]), 400, "INVALID_REQUEST", field="edits")
    error = assert_error(commit([ok], base_sha="abc"), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "base_sha"
    error = assert_error(commit([ok], branch="a..b"), 400, "INVALID_REF_NAME")
    assert error["details"]["field"] == "branch"
    assert_error(
        http.post(
            f"/{org}/r/commits",
            json={
                "branch": "main",
                "message": "m",
                "author": {"name": "<x>", "email": "e"},
                "edits": [ok],
            },
        ),
        400,
        "INVALID_REQUEST",
        field="author.name",
    )
    assert api.head("r") == head


@pytest.mark.parametrize(
    "path",
    [
        "../escape",
        "a/../../b",
        "./a",
        "a/./b",
        "/abs",
        "a//b",
        "a/",
        ".git/config",
        "x/.git/hooks/pre-commit",
        "x/.GIT/y",
        "..",
        ".",
        "a\\b",
        "a\x00b",
    ],
)
def test_path_traversal_is_refused(
    http: httpx.Client, org: str, api: Api, emu: Emulator, path: str
) -> None:
    repo = api.repo()
    head = api.write("r", {"keep.txt": "1"})
    for action, extra in (
        ("create", {"content": "x"}),
        ("update", {"content": "x"}),
        ("delete", {}),
    ):
        response = http.post(
            f"/{org}/r/commits",
            json={
                "branch": "main",
                "message": "evil",
                "author": AUTHOR,
                "edits": [{"path": path, "action": action, **extra}],
            },
        )
        error = assert_error(response, 400, "INVALID_PATH")
        assert error["details"]["field"] == "edits.0.path"
    assert api.head("r") == head
    assert git(emu, repo["id"], "ls-tree", "-r", "--name-only", "main").split() == ["keep.txt"]
    assert not (emu.data_dir / "escape").exists()
    if path not in (".", "a\x00b"):
        assert_error(http.get(f"/{org}/r/content", params={"path": path}), 400, "INVALID_PATH")


def test_base_sha_compare_and_swap(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    first = api.write("r", {"a": "1"})
    second = api.commit("r", [{"path": "a", "action": "update", "content": "2"}], base_sha=first)
    error = assert_error(
        http.post(
            f"/{org}/r/commits",
            json={
                "branch": "main",
                "message": "stale",
                "author": AUTHOR,
                "base_sha": first,
                "edits": [{"path": "a", "action": "update", "content": "3"}],
            },
        ),
        409,
        "BRANCH_MOVED",
    )
    assert error["details"]["expected"] == first and error["details"]["actual"] == second["sha"]
    assert api.files("r") == {"a": b"2"}


def test_eight_threads_committing_with_retry_lose_nothing(
    emu: Emulator, org: str, api: Api
) -> None:
    api.repo()
    api.write("r", {"seed": "0"})
    per_thread = 5
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with httpx.Client(
                base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30
            ) as client:
                for i in range(per_thread):
                    while True:
                        branches = client.get(f"/{org}/r/branches").json()["branches"]
                        head = next(b["head_sha"] for b in branches if b["name"] == "main")
                        response = client.post(
                            f"/{org}/r/commits",
                            json={
                                "branch": "main",
                                "message": f"t{n}-{i}",
                                "author": AUTHOR,
                                "base_sha": head,
                                "edits": [
                                    {"path": f"t{n}/{i}.txt", "action": "create", "content": str(i)}
                                ],
                            },
                        )
                        if response.status_code == 201:
                            break
                        assert response.status_code == 409, response.text
                        assert response.json()["error"]["code"] == "BRANCH_MOVED"
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    files = api.files("r")
    assert len(files) == 1 + 8 * per_thread
    messages: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get(f"/{org}/r/commits", params=params).json()
        messages += [c["message"] for c in page["commits"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(messages) == 1 + 8 * per_thread
    assert {f"t{n}-{i}" for n in range(8) for i in range(per_thread)} <= set(messages)
