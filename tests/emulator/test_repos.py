"""Repositories: create, list (paginated), get, rename, default branch, delete."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest
from emulator_helpers import Api, assert_error

from mesa_emulator.server import Emulator

REPO_KEYS = {
    "id",
    "org",
    "name",
    "default_branch",
    "head_sha",
    "size_bytes",
    "created_at",
    "upstream",
}


def test_create_returns_the_repo(http: httpx.Client, org: str, emu: Emulator) -> None:
    response = http.post(f"/{org}/repos", json={"name": "my-repo"})
    assert response.status_code == 201
    repo = response.json()
    assert set(repo) == REPO_KEYS
    assert re.fullmatch(r"repo_[0-9a-f]+", repo["id"])
    assert repo["org"] == org and repo["name"] == "my-repo"
    assert repo["default_branch"] == "main"
    assert repo["head_sha"] is None
    assert repo["size_bytes"] > 0
    assert repo["created_at"].endswith("Z")
    datetime.fromisoformat(repo["created_at"].replace("Z", "+00:00"))
    assert (emu.data_dir / "repos" / f"{repo['id']}.git" / "HEAD").is_file()


def test_create_with_default_branch(api: Api) -> None:
    repo = api.repo("dev-first", default_branch="develop")
    assert repo["default_branch"] == "develop"
    api.commit("dev-first", [{"path": "a", "action": "create", "content": "x"}], branch="develop")
    got = api.client.get(f"/{api.org}/dev-first").json()
    assert got["head_sha"] is not None


def test_create_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo("taken")
    assert_error(http.post(f"/{org}/repos", json={"name": "taken"}), 409, "REPO_EXISTS")
    for bad in ["-x", "a b", "x.git", "X.GIT", "repos", "api-keys", "a" * 101, "", "é"]:
        error = assert_error(http.post(f"/{org}/repos", json={"name": bad}), 400, "INVALID_REQUEST")
        assert error["details"]["field"] == "name", bad
        assert "name" in error["message"]
    assert_error(
        http.post(f"/{org}/repos", json={"name": "ok", "default_branch": "a..b"}),
        400,
        "INVALID_REF_NAME",
    )
    error = assert_error(
        http.post(f"/{org}/repos", json={"name": "ok", "x": 1}), 400, "INVALID_REQUEST"
    )
    assert error["details"]["field"] == "x"
    error = assert_error(http.post(f"/{org}/repos", json={}), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "name" and "name" in error["message"]
    error = assert_error(http.post(f"/{org}/repos", json={"name": 5}), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "name"


def test_get_and_missing(http: httpx.Client, org: str, api: Api) -> None:
    created = api.repo("g")
    got = http.get(f"/{org}/g")
    assert got.status_code == 200 and got.json() == created | {
        "size_bytes": got.json()["size_bytes"]
    }
    assert_error(http.get(f"/{org}/missing"), 404, "REPO_NOT_FOUND")
    assert_error(http.get(f"/{org}/bad%20name"), 400, "INVALID_PARAMETER", parameter="repo")
    assert_error(http.get("/bad%20org/x"), 400, "INVALID_PARAMETER", parameter="org")


def test_head_sha_and_size_follow_commits(api: Api) -> None:
    before = api.repo("h")
    sha = api.write("h", {"big.txt": "x" * 50_000})
    after = api.client.get(f"/{api.org}/h").json()
    assert after["head_sha"] == sha
    assert after["size_bytes"] > before["size_bytes"]


def test_rename_keeps_id_and_content(http: httpx.Client, org: str, api: Api) -> None:
    repo = api.repo("old")
    api.write("old", {"f.txt": "hi"})
    api.repo("other")
    assert_error(http.patch(f"/{org}/old", json={"name": "other"}), 409, "REPO_EXISTS")
    renamed = http.patch(f"/{org}/old", json={"name": "new"})
    assert renamed.status_code == 200
    assert renamed.json()["id"] == repo["id"] and renamed.json()["name"] == "new"
    assert_error(http.get(f"/{org}/old"), 404, "REPO_NOT_FOUND")
    assert api.files("new") == {"f.txt": b"hi"}
    # Renaming to its own name is a no-op.
    assert http.patch(f"/{org}/new", json={"name": "new"}).status_code == 200


def test_update_default_branch(http: httpx.Client, org: str, api: Api) -> None:
    api.repo("d")
    sha = api.write("d", {"a": "1"})
    assert_error(http.patch(f"/{org}/d", json={"default_branch": "nope"}), 404, "BRANCH_NOT_FOUND")
    assert http.post(f"/{org}/d/branches", json={"name": "dev", "head_sha": sha}).status_code == 201
    updated = http.patch(f"/{org}/d", json={"default_branch": "dev"})
    assert updated.status_code == 200 and updated.json()["default_branch"] == "dev"
    branches = http.get(f"/{org}/d/branches").json()["branches"]
    assert {b["name"]: b["is_default"] for b in branches} == {"dev": True, "main": False}
    # Now main may be deleted, dev may not.
    assert_error(http.delete(f"/{org}/d/branches/dev"), 409, "DEFAULT_BRANCH")
    assert http.delete(f"/{org}/d/branches/main").status_code == 200


def test_update_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo("u")
    assert_error(http.patch(f"/{org}/u", json={}), 400, "INVALID_REQUEST")
    assert_error(http.patch(f"/{org}/u", json={"name": "x.git"}), 400, "INVALID_REQUEST")
    assert_error(http.patch(f"/{org}/u", json={"default_branch": "a b"}), 400, "INVALID_REF_NAME")
    assert_error(http.patch(f"/{org}/missing", json={"name": "z"}), 404, "REPO_NOT_FOUND")
    # On an empty repository any valid default branch may be chosen.
    assert (
        http.patch(f"/{org}/u", json={"default_branch": "trunk"}).json()["default_branch"]
        == "trunk"
    )


def test_delete_removes_everything(http: httpx.Client, org: str, api: Api, emu: Emulator) -> None:
    repo = api.repo("del")
    api.write("del", {"a": "1"})
    response = http.delete(f"/{org}/del")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert not (emu.data_dir / "repos" / f"{repo['id']}.git").exists()
    assert_error(http.get(f"/{org}/del"), 404, "REPO_NOT_FOUND")
    assert_error(http.delete(f"/{org}/del"), 404, "REPO_NOT_FOUND")
    # The name is free again, with a new id and no history.
    again = api.repo("del")
    assert again["id"] != repo["id"] and again["head_sha"] is None


def test_list_is_ordered_and_paginated(http: httpx.Client, org: str, api: Api) -> None:
    names = ["b", "A", "c", "a", "B-2", "z.z"]
    for name in names:
        api.repo(name)
    first = http.get(f"/{org}/repos", params={"limit": 4}).json()
    assert set(first) == {"repos", "next_cursor", "has_more"}
    assert first["has_more"] is True and isinstance(first["next_cursor"], str)
    second = http.get(f"/{org}/repos", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert second["has_more"] is False and second["next_cursor"] is None
    listed = [r["name"] for r in first["repos"] + second["repos"]]
    assert listed == sorted(names, key=lambda n: n.encode())
    # Default limit and other orgs' repositories.
    assert len(http.get(f"/{org}/repos").json()["repos"]) == len(names)
    assert http.get(f"/{org}-other/repos").json() == {
        "repos": [],
        "next_cursor": None,
        "has_more": False,
    }


def test_list_limit_and_cursor_errors(http: httpx.Client, org: str, api: Api) -> None:
    for bad in ["0", "101", "-1", "abc", "", "1.5", "99999999999999999999"]:
        assert_error(
            http.get(f"/{org}/repos", params={"limit": bad}),
            400,
            "INVALID_PARAMETER",
            parameter="limit",
        )
    for bad in ["x", "abc.def", "a" * 600, "e30.AAAA", ""]:
        assert_error(http.get(f"/{org}/repos", params={"cursor": bad}), 400, "INVALID_CURSOR")
    # A cursor of another list (another org's repos, or branches) is refused.
    for name in ["a", "b", "c"]:
        api.repo(name)
    cursor = http.get(f"/{org}/repos", params={"limit": 1}).json()["next_cursor"]
    assert_error(http.get(f"/{org}-x/repos", params={"cursor": cursor}), 400, "INVALID_CURSOR")
    assert_error(http.get(f"/{org}/a/branches", params={"cursor": cursor}), 400, "INVALID_CURSOR")
    # A tampered cursor.
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert_error(http.get(f"/{org}/repos", params={"cursor": tampered}), 400, "INVALID_CURSOR")


def test_pagination_stays_stable_under_inserts_and_deletes(
    http: httpx.Client, org: str, api: Api
) -> None:
    names = [f"repo-{i:03d}" for i in range(250)]
    for name in names:
        api.repo(name)
    seen: list[str] = []
    cursor: str | None = None
    deleted: set[str] = set()
    inserted: set[str] = set()
    page_number = 0
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = http.get(f"/{org}/repos", params=params).json()
        seen.extend(r["name"] for r in page["repos"])
        page_number += 1
        if page_number == 1:
            # Changes during the walk: delete some seen and some unseen, insert before/after.
            for name in ["repo-010", "repo-150", "repo-151", "repo-249"]:
                assert http.delete(f"/{org}/{name}").status_code == 200
                deleted.add(name)
            for name in ["repo-000a", "repo-120a", "repo-300", "aaa"]:
                api.repo(name)
                inserted.add(name)
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    survivors = [n for n in names if n not in deleted]
    assert len(seen) == len(set(seen)), "an item was repeated"
    assert set(survivors) <= set(seen), "a survivor was skipped"
    assert [n for n in seen if n not in inserted] == sorted(n for n in seen if n not in inserted)
    assert "repo-150" not in seen and "repo-300" in seen and "aaa" not in seen


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_pagination_visits_every_repo_once(
    http: httpx.Client, org: str, api: Api, limit: int
) -> None:
    names = [f"p{i:02d}" for i in range(12)]
    for name in names:
        api.repo(name)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = http.get(f"/{org}/repos", params=params).json()
        assert len(page["repos"]) <= limit
        seen.extend(r["name"] for r in page["repos"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == names
