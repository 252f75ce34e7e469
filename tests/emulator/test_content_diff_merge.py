"""Content (JSON, raw bytes, 406, depth, pagination), diffs and merges."""

from __future__ import annotations

import base64

import httpx
import pygit2
from emulator_helpers import Api, assert_error
from pygit2.enums import FileMode
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator


def add_symlink_and_submodule(emu: Emulator, repo_id: str) -> str:
    """Commit a symlink and a submodule entry on main directly with pygit2."""
    repo = pygit2.Repository(str(emu.data_dir / "repos" / f"{repo_id}.git"))
    parent = repo.revparse_single("refs/heads/main")
    assert isinstance(parent, pygit2.Commit)
    builder = repo.TreeBuilder(parent.tree)
    builder.insert("link", repo.create_blob(b"docs/guide.md"), FileMode.LINK)
    builder.insert("vendored", parent.id, FileMode.COMMIT)
    sig = pygit2.Signature("Ada", "ada@example.com")
    oid = repo.create_commit("refs/heads/main", sig, sig, "links", builder.write(), [parent.id])
    return str(oid)


# ---- content ----------------------------------------------------------------------------


def test_file_content_json_and_raw(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    data = bytes(range(256)) * 3
    api.commit(
        "r",
        [
            {
                "path": "bin/blob",
                "action": "create",
                "content": base64.b64encode(data).decode(),
                "encoding": "base64",
            },
            {"path": "run.sh", "action": "create", "content": "#!/bin/sh\n", "executable": True},
        ],
    )
    file = http.get(f"/{org}/r/content", params={"path": "bin/blob"})
    assert file.status_code == 200
    body = file.json()
    assert set(body) == {
        "type",
        "name",
        "path",
        "sha",
        "size",
        "encoding",
        "content",
        "executable",
        "last_commit_at",
    }
    head = http.get(f"/{org}/r/commits").json()["commits"][0]
    assert body["last_commit_at"] == head["committer"]["date"]
    assert body["type"] == "file" and body["name"] == "blob" and body["path"] == "bin/blob"
    assert (
        body["size"] == len(data) and body["encoding"] == "base64" and body["executable"] is False
    )
    assert base64.b64decode(body["content"]) == data
    assert len(body["sha"]) == 40
    assert http.get(f"/{org}/r/content", params={"path": "run.sh"}).json()["executable"] is True

    raw = http.get(
        f"/{org}/r/content",
        params={"path": "bin/blob"},
        headers={"Accept": "application/octet-stream"},
    )
    assert raw.status_code == 200 and raw.content == data
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-length"] == str(len(data))

    # q-values: octet-stream at q=0 means JSON; */* means JSON.
    for accept in ["application/json;q=1, application/octet-stream;q=0", "*/*", "application/*"]:
        assert (
            http.get(
                f"/{org}/r/content", params={"path": "run.sh"}, headers={"Accept": accept}
            ).json()["type"]
            == "file"
        )
    preferred = http.get(
        f"/{org}/r/content",
        params={"path": "run.sh"},
        headers={"Accept": "application/json;q=0.5, application/octet-stream"},
    )
    assert preferred.content == b"#!/bin/sh\n"
    assert_error(
        http.get(f"/{org}/r/content", params={"path": "run.sh"}, headers={"Accept": "text/html"}),
        406,
        "NOT_ACCEPTABLE",
    )


def test_large_file_streams_raw(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    data = (b"0123456789abcdef" * 65536) * 3  # 3 MiB
    api.commit(
        "r",
        [
            {
                "path": "big",
                "action": "create",
                "content": base64.b64encode(data).decode(),
                "encoding": "base64",
            }
        ],
    )
    with http.stream(
        "GET",
        f"/{org}/r/content",
        params={"path": "big"},
        headers={"Accept": "application/octet-stream"},
    ) as response:
        assert response.headers["content-length"] == str(len(data))
        chunks = list(response.iter_raw())
    assert b"".join(chunks) == data


def test_directory_listing_depth_and_pagination(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    files = {f"src/m{i:02d}.py": str(i) for i in range(12)}
    files |= {"README.md": "r", "src/pkg/deep/x.py": "x", "docs/a.md": "a"}
    api.write("r", files)
    root = http.get(f"/{org}/r/content").json()
    assert set(root) == {
        "type",
        "name",
        "path",
        "sha",
        "child_count",
        "entries",
        "next_cursor",
        "has_more",
    }
    assert root["child_count"] == 3
    assert root["type"] == "dir" and root["path"] == "" and root["name"] == ""
    assert [(e["type"], e["path"]) for e in root["entries"]] == [
        ("file", "README.md"),
        ("dir", "docs"),
        ("dir", "src"),
    ]
    readme, docs = root["entries"][0], root["entries"][1]
    assert set(readme) == {"type", "name", "path", "sha", "size", "executable", "last_commit_at"}
    assert readme["size"] == 1 and readme["executable"] is False
    assert set(docs) == {"type", "name", "path", "sha"}

    deep = http.get(f"/{org}/r/content", params={"path": "src", "depth": 3}).json()
    paths = [e["path"] for e in deep["entries"]]
    assert paths == sorted(paths)
    assert "src/pkg/deep/x.py" in paths and "src/pkg" in paths
    shallow = http.get(f"/{org}/r/content", params={"path": "src", "depth": 1}).json()
    assert "src/pkg/deep" not in [e["path"] for e in shallow["entries"]]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"path": "src", "depth": 3, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = http.get(f"/{org}/r/content", params=params).json()
        assert len(page["entries"]) <= 5
        seen += [e["path"] for e in page["entries"]]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if len(seen) == 5:
            api.write("r", {"src/aaa.py": "new"})  # pages keep listing the first page's commit
        if not cursor:
            break
    assert seen == paths
    # The cursor is bound to the path and depth.
    cursor = http.get(f"/{org}/r/content", params={"path": "src", "limit": 2}).json()["next_cursor"]
    assert_error(
        http.get(f"/{org}/r/content", params={"path": "docs", "limit": 2, "cursor": cursor}),
        400,
        "INVALID_CURSOR",
    )
    assert_error(
        http.get(f"/{org}/r/content", headers={"Accept": "application/octet-stream"}),
        406,
        "NOT_ACCEPTABLE",
    )


def test_symlink_and_submodule(http: httpx.Client, org: str, api: Api, emu: Emulator) -> None:
    repo = api.repo()
    api.write("r", {"docs/guide.md": "hello"})
    add_symlink_and_submodule(emu, repo["id"])
    link = http.get(f"/{org}/r/content", params={"path": "link"}).json()
    assert link == {
        "type": "symlink",
        "name": "link",
        "path": "link",
        "sha": link["sha"],
        "size": len("docs/guide.md"),
        "encoding": "base64",
        "content": base64.b64encode(b"docs/guide.md").decode(),
        "executable": False,
        "last_commit_at": link["last_commit_at"],
        "target": "docs/guide.md",
    }
    assert link["last_commit_at"] is not None
    raw = http.get(
        f"/{org}/r/content", params={"path": "link"}, headers={"Accept": "application/octet-stream"}
    )
    assert raw.content == b"docs/guide.md"
    entries = {e["path"]: e for e in http.get(f"/{org}/r/content").json()["entries"]}
    assert entries["link"]["type"] == "symlink" and entries["link"]["size"] == 13
    assert entries["vendored"] == {
        "type": "submodule",
        "name": "vendored",
        "path": "vendored",
        "sha": entries["vendored"]["sha"],
    }


def test_content_refs_and_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    # An empty repository has an empty root.
    empty = http.get(f"/{org}/r/content").json()
    assert empty["entries"] == [] and empty["type"] == "dir"
    assert_error(http.get(f"/{org}/r/content", params={"path": "x"}), 404, "PATH_NOT_FOUND")
    first = api.write("r", {"a.txt": "one"})
    api.write("r", {"a.txt": "two"})
    old = http.get(f"/{org}/r/content", params={"path": "a.txt", "ref": first}).json()
    assert base64.b64decode(old["content"]) == b"one"
    old = http.get(f"/{org}/r/content", params={"path": "a.txt", "ref": first[:8]}).json()
    assert base64.b64decode(old["content"]) == b"one"
    assert_error(http.get(f"/{org}/r/content", params={"path": "zz"}), 404, "PATH_NOT_FOUND")
    assert_error(http.get(f"/{org}/r/content", params={"path": "a.txt/x"}), 404, "PATH_NOT_FOUND")
    assert_error(http.get(f"/{org}/r/content", params={"ref": "nope"}), 404, "REF_NOT_FOUND")
    for name, bad in [("depth", "0"), ("depth", "65"), ("limit", "1001"), ("limit", "x")]:
        assert_error(
            http.get(f"/{org}/r/content", params={name: bad}),
            400,
            "INVALID_PARAMETER",
            parameter=name,
        )
    assert_error(
        http.get(f"/{org}/r/content", params={"path": "a" * 4097}), 400, "INVALID_PARAMETER"
    )
    assert_error(http.get(f"/{org}/nope/content"), 404, "REPO_NOT_FOUND")


# ---- diffs ------------------------------------------------------------------------------


def test_diff_json_and_text(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    base = api.write(
        "r", {"keep.txt": "a\nb\nc\n", "gone.txt": "bye\n", "old-name.txt": "x\n" * 20}
    )
    head = api.commit(
        "r",
        [
            {"path": "keep.txt", "action": "update", "content": "a\nB\nc\nd\n"},
            {"path": "gone.txt", "action": "delete"},
            {"path": "old-name.txt", "action": "delete"},
            {"path": "new-name.txt", "action": "create", "content": "x\n" * 20},
            {
                "path": "added.bin",
                "action": "create",
                "content": base64.b64encode(b"\x00\x01\x02").decode(),
                "encoding": "base64",
            },
        ],
    )["sha"]
    diff = http.get(f"/{org}/r/diff", params={"base": base, "head": "main"}).json()
    assert set(diff) == {"base", "head", "base_sha", "head_sha", "stats", "files", "filtered_files"}
    assert diff["filtered_files"] == []
    assert diff["base"] == base and diff["head"] == "main"
    assert diff["base_sha"] == base and diff["head_sha"] == head
    by_path = {f["path"]: f for f in diff["files"]}
    assert by_path["keep.txt"]["status"] == "M"
    assert (by_path["keep.txt"]["additions"], by_path["keep.txt"]["deletions"]) == (2, 1)
    assert by_path["gone.txt"]["status"] == "D"
    assert by_path["new-name.txt"]["status"] == "R"
    assert by_path["new-name.txt"]["old_path"] == "old-name.txt"
    assert by_path["added.bin"]["status"] == "A" and by_path["added.bin"]["binary"] is True
    assert by_path["keep.txt"]["old_path"] is None
    assert by_path["keep.txt"]["raw"].startswith("diff --git a/keep.txt b/keep.txt")
    for file in diff["files"]:
        assert set(file) == {
            "path",
            "status",
            "old_path",
            "additions",
            "deletions",
            "binary",
            "raw",
        }
    stats = diff["stats"]
    assert stats["files"] == 4
    assert stats["changes"] == stats["additions"] + stats["deletions"]

    text = http.get(
        f"/{org}/r/diff", params={"base": base, "head": head}, headers={"Accept": "text/plain"}
    )
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert text.text == "".join(f["raw"] for f in diff["files"])
    assert "+B" in text.text and "-b" in text.text

    assert_error(
        http.get(f"/{org}/r/diff", params={"base": "main"}),
        400,
        "INVALID_PARAMETER",
        parameter="head",
    )
    assert_error(
        http.get(f"/{org}/r/diff", params={"base": "x", "head": "main"}), 404, "REF_NOT_FOUND"
    )
    assert_error(
        http.get(
            f"/{org}/r/diff", params={"base": base, "head": head}, headers={"Accept": "image/png"}
        ),
        406,
        "NOT_ACCEPTABLE",
    )


# ---- merges -----------------------------------------------------------------------------


def merge(http: httpx.Client, org: str, base: str, **body: object) -> httpx.Response:
    return http.post(f"/{org}/r/merge/{base}", json={"author": AUTHOR, **body})


def test_merge_fast_forward_commit_and_up_to_date(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    root = api.write("r", {"a.txt": "1\n", "b.txt": "1\n"})
    http.post(f"/{org}/r/branches", json={"name": "feature", "head_sha": root})
    feature = api.write("r", {"a.txt": "2\n"}, branch="feature")

    ff = merge(http, org, "main", head="feature")
    assert ff.status_code == 200
    assert ff.json() == {
        "merge_type": "fast_forward",
        "sha": feature,
        "base": "main",
        "head": "feature",
        "branch_deleted": False,
    }
    assert merge(http, org, "main", head="feature").json()["merge_type"] == "up_to_date"

    # Diverged: a merge commit with two parents and the default message.
    other = api.write("r", {"b.txt": "2\n"}, branch="feature")
    main = api.commit("r", [{"path": "c.txt", "action": "create", "content": "c"}])["sha"]
    made = merge(http, org, "main", head="feature", delete_branch=True).json()
    assert made["merge_type"] == "merge_commit" and made["branch_deleted"] is True
    commit = http.get(f"/{org}/r/commits/{made['sha']}").json()
    assert commit["parents"] == [main, other]
    assert commit["message"] == "Merge branch 'feature' into 'main'"
    assert api.files("r") == {"a.txt": b"2\n", "b.txt": b"2\n", "c.txt": b"c"}
    assert [b["name"] for b in http.get(f"/{org}/r/branches").json()["branches"]] == ["main"]


def test_merge_custom_message_and_release_branch(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    root = api.write("r", {"a": "1"})
    http.post(f"/{org}/r/branches", json={"name": "release/1", "head_sha": root})
    http.post(f"/{org}/r/branches", json={"name": "fix", "head_sha": root})
    api.write("r", {"b": "1"}, branch="fix")
    api.write("r", {"c": "1"}, branch="release/1")
    result = http.post(
        f"/{org}/r/merge/release%2F1",
        json={"head": "fix", "author": AUTHOR, "message": "Ship fix"},
    ).json()
    assert result["merge_type"] == "merge_commit" and result["base"] == "release/1"
    assert http.get(f"/{org}/r/commits/{result['sha']}").json()["message"] == "Ship fix"


def test_merge_conflict_writes_nothing(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    root = api.write("r", {"a.txt": "base\n", "b.txt": "b\n"})
    http.post(f"/{org}/r/branches", json={"name": "feature", "head_sha": root})
    api.write("r", {"a.txt": "feature\n", "b.txt": "B\n"}, branch="feature")
    main = api.write("r", {"a.txt": "main\n", "b.txt": "bb\n"})
    error = assert_error(
        merge(http, org, "main", head="feature", delete_branch=True), 409, "MERGE_CONFLICT"
    )
    assert error["details"]["conflict_paths"] == ["a.txt", "b.txt"]
    assert api.head("r") == main
    assert "feature" in [b["name"] for b in http.get(f"/{org}/r/branches").json()["branches"]]


def test_merge_never_deletes_base_or_default(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    root = api.write("r", {"a": "1"})
    http.post(f"/{org}/r/branches", json={"name": "dev", "head_sha": root})
    api.write("r", {"b": "1"}, branch="dev")
    result = merge(http, org, "dev", head="main", delete_branch=True).json()
    assert result["branch_deleted"] is False
    assert {b["name"] for b in http.get(f"/{org}/r/branches").json()["branches"]} == {"main", "dev"}


def test_merge_errors(http: httpx.Client, org: str, api: Api) -> None:
    api.repo()
    api.write("r", {"a": "1"})
    assert_error(merge(http, org, "ghost", head="main"), 404, "BRANCH_NOT_FOUND")
    assert_error(merge(http, org, "main", head="ghost"), 404, "REF_NOT_FOUND")
    assert_error(merge(http, org, "a..b", head="main"), 400, "INVALID_REF_NAME")
    assert_error(
        http.post(f"/{org}/r/merge/main", json={"head": "main"}),
        400,
        "INVALID_REQUEST",
        field="author",
    )
    assert_error(
        merge(http, org, "main", head="main", extra=1), 400, "INVALID_REQUEST", field="extra"
    )
