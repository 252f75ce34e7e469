"""Writable mounts: changes stay local until one commit; nothing acknowledged is lost."""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import stat
from pathlib import Path

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import ConflictError, HookContext, Mesa
from mesa_sdk.fs import (
    Mount,
    MountError,
    PendingChange,
    PendingChangesError,
    RebaseConflictError,
    mount,
)
from mesa_sdk.models import FileContent
from tests.shared import AUTHOR

from .conftest import Repo, fuse_unavailable, make_repo, mounted_paths

pytestmark = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))

BASE: dict[str, bytes] = {
    "README.md": b"# Project\n",
    "notes/todo.txt": b"one\ntwo\n",
    "notes/old-name.txt": b"to be renamed\n",
    "scripts/build.sh": b"#!/bin/sh\nmake\n",
    "obsolete.txt": b"delete me\n",
    "keep/untouched.txt": b"same as ever\n",
}


@pytest.fixture
def small(mesa_emulator: Emulator, tmp_path: Path) -> Repo:
    return make_repo(mesa_emulator, tmp_path, "small", BASE, symlinks={"link": "README.md"})


def read_repo_file(client: Mesa, repo: Repo, path: str, ref: str) -> tuple[bytes, bool]:
    content = client.content.get(repo=repo.name, path=path, ref=ref)
    assert isinstance(content, FileContent)
    return base64.b64decode(content.content), content.executable


def commit_elsewhere(client: Mesa, repo: Repo, path: str, text: str) -> str:
    """Moves the branch from another client, as a colleague would."""
    return client.commits.create(
        repo=repo.name,
        body={
            "branch": "main",
            "message": "Elsewhere",
            "author": AUTHOR,
            "edits": [{"path": path, "action": "create", "content": text}],
        },
    ).sha


def test_changes_become_exactly_one_commit(small: Repo, tmp_path: Path) -> None:
    binary = bytes(range(256)) * 3
    local = tmp_path / "picture.bin"
    local.write_bytes(binary)
    with small.client() as client:
        with mount(client, org=small.org, repo=small.name, ref="main", writable=True) as m:
            root = Path(m.path)
            shutil.copy(local, root / "picture.bin")  # copy a file in
            with open(root / "notes/todo.txt", "a") as f:  # edit one
                f.write("three\n")
            os.unlink(root / "obsolete.txt")  # delete one
            os.rename(root / "notes/old-name.txt", root / "notes/new-name.txt")  # rename one
            os.makedirs(root / "new/deeper")  # a folder with a file
            (root / "new/deeper/file.txt").write_text("fresh\n")
            os.chmod(root / "scripts/build.sh", 0o755)  # chmod +x

            # All visible through the mount, nothing sent yet.
            assert (root / "notes/todo.txt").read_bytes() == b"one\ntwo\nthree\n"
            assert not (root / "obsolete.txt").exists()
            assert (root / "notes/new-name.txt").read_bytes() == b"to be renamed\n"
            assert stat.S_IMODE(os.stat(root / "scripts/build.sh").st_mode) == 0o755
            assert sorted(os.listdir(root / "notes")) == ["new-name.txt", "todo.txt"]
            assert client.commits.list(repo=small.name, ref="main").result.commits[0].sha == (
                small.head
            )
            assert m.pending() == [
                PendingChange("notes/old-name.txt", "delete"),
                PendingChange("obsolete.txt", "delete"),
                PendingChange("notes/todo.txt", "update", False),
                PendingChange("scripts/build.sh", "update", True),
                PendingChange("new/deeper/file.txt", "create", False),
                PendingChange("notes/new-name.txt", "create", False),
                PendingChange("picture.bin", "create", False),
            ]

            result = m.commit("Edit through the mount", author=AUTHOR)
            assert result is not None
            assert result.parents == [small.head]
            assert m.sha == result.sha
            assert m.pending() == []
            assert m.commit("Nothing left") is None  # no request, no empty commit
            # The view did not change with the commit.
            assert (root / "notes/todo.txt").read_bytes() == b"one\ntwo\nthree\n"
            assert (root / "picture.bin").read_bytes() == binary
            assert os.path.isdir(root / "new/deeper")

        history = client.commits.list(repo=small.name, ref="main", limit=5).result.commits
        assert [c.sha for c in history[:2]] == [result.sha, small.head]
        diff = client.diffs.get(repo=small.name, base=small.head, head=result.sha)
        assert sorted((f.status, f.path, f.old_path) for f in diff.files) == sorted(
            [
                ("A", "picture.bin", None),
                ("M", "notes/todo.txt", None),
                ("D", "obsolete.txt", None),
                ("R", "notes/new-name.txt", "notes/old-name.txt"),
                ("A", "new/deeper/file.txt", None),
                ("M", "scripts/build.sh", None),
            ]
        )
        assert read_repo_file(client, small, "picture.bin", result.sha) == (binary, False)
        assert read_repo_file(client, small, "notes/todo.txt", result.sha) == (
            b"one\ntwo\nthree\n",
            False,
        )
        assert read_repo_file(client, small, "scripts/build.sh", result.sha) == (
            b"#!/bin/sh\nmake\n",
            True,
        )
        assert read_repo_file(client, small, "new/deeper/file.txt", result.sha) == (
            b"fresh\n",
            False,
        )


def test_folder_rename_delete_and_truncate(small: Repo) -> None:
    with small.client() as client:
        raw_reads: list[str] = []

        def record(context: HookContext, request: httpx.Request) -> None:
            if request.headers.get("accept") == "application/octet-stream":
                raw_reads.append(request.url.params.get("path", ""))

        client.hooks.register_before_request(record)
        # No tree fetch: the copy-up below must be seen downloading through the API.
        with mount(client, org=small.org, repo=small.name, writable=True, prefetch=False) as m:
            root = Path(m.path)
            os.rename(root / "notes", root / "archive")
            assert sorted(os.listdir(root / "archive")) == ["old-name.txt", "todo.txt"]
            assert not (root / "notes").exists()
            os.truncate(root / "archive/todo.txt", 3)
            shutil.rmtree(root / "keep")
            with open(root / "README.md", "w") as f:  # O_TRUNC: no download needed
                f.write("# Rewritten\n")
            assert "README.md" not in raw_reads
            assert "notes/todo.txt" in raw_reads  # the truncated file was copied up
            result = m.commit("Reorganize", author=AUTHOR)
            assert result is not None
        diff = client.diffs.get(repo=small.name, base=small.head, head=result.sha)
        assert sorted((f.status, f.path) for f in diff.files) == [
            ("D", "keep/untouched.txt"),
            ("D", "notes/todo.txt"),
            ("M", "README.md"),
            ("R", "archive/old-name.txt"),
            ("A", "archive/todo.txt"),
        ] or sorted((f.status, f.path) for f in diff.files) == [
            ("D", "keep/untouched.txt"),
            ("M", "README.md"),
            ("R", "archive/old-name.txt"),
            ("R", "archive/todo.txt"),
        ]
        assert read_repo_file(client, small, "archive/todo.txt", result.sha)[0] == b"one"
        assert read_repo_file(client, small, "README.md", result.sha)[0] == b"# Rewritten\n"


def test_posix_errors_on_a_writable_mount(small: Repo) -> None:
    def create_in_missing_folder() -> None:
        with open(root / "nope/file.txt", "w"):
            pass

    with (
        small.client() as client,
        mount(client, org=small.org, repo=small.name, writable=True) as m,
    ):
        root = Path(m.path)
        cases = [
            (lambda: os.mkdir(root / "notes"), errno.EEXIST),
            (lambda: os.rmdir(root / "notes"), errno.ENOTEMPTY),
            (lambda: os.unlink(root / "notes"), errno.EISDIR),
            (lambda: os.rename(root / "notes", root / "notes/inside"), errno.EINVAL),
            (lambda: os.symlink("README.md", root / "new-link"), errno.ENOTSUP),
            (lambda: os.rename(root / "link", root / "moved-link"), errno.ENOTSUP),
            (lambda: os.link(root / "README.md", root / "hard"), errno.ENOTSUP),
            (create_in_missing_folder, errno.ENOENT),
            (lambda: os.mkdir(root / ".git"), errno.EINVAL),
        ]
        for attempt, expected in cases:
            with pytest.raises(OSError) as caught:
                attempt()
            assert caught.value.errno == expected, caught.value
        assert m.pending() == []
        # Deleting a symlink works (the API can delete any path).
        os.unlink(root / "link")
        assert m.pending() == [PendingChange("link", "delete")]
        m.commit("Drop the link", author=AUTHOR)


def test_a_moved_branch_is_a_conflict_and_nothing_is_lost(small: Repo) -> None:
    with small.client() as client:
        with mount(client, org=small.org, repo=small.name, writable=True) as m:
            root = Path(m.path)
            (root / "mine.txt").write_text("mine\n")
            with open(root / "README.md", "a") as f:
                f.write("more\n")
            theirs = commit_elsewhere(client, small, "theirs.txt", "theirs\n")
            with pytest.raises(ConflictError) as caught:
                m.commit("Mine", author=AUTHOR)
            assert caught.value.code == "BRANCH_MOVED"
            # Nothing written, nothing lost: still pending and readable.
            assert client.commits.list(repo=small.name).result.commits[0].sha == theirs
            assert [c.path for c in m.pending()] == ["README.md", "mine.txt"]
            assert (root / "mine.txt").read_text() == "mine\n"
            assert (root / "README.md").read_text() == "# Project\nmore\n"
            # Put them on the new head, then commit.
            assert m.rebase() == theirs
            assert (root / "theirs.txt").read_text() == "theirs\n"
            result = m.commit("Mine, again", author=AUTHOR)
            assert result is not None and result.parents == [theirs]
        assert read_repo_file(client, small, "mine.txt", result.sha)[0] == b"mine\n"
        assert read_repo_file(client, small, "theirs.txt", result.sha)[0] == b"theirs\n"


def test_rebase_refuses_when_both_sides_changed_a_path(small: Repo) -> None:
    with (
        small.client() as client,
        mount(client, org=small.org, repo=small.name, writable=True) as m,
    ):
        (Path(m.path) / "clash.txt").write_text("mine\n")
        commit_elsewhere(client, small, "clash.txt", "theirs\n")
        with pytest.raises(RebaseConflictError) as caught:
            m.rebase()
        assert caught.value.paths == ["clash.txt"]
        assert (Path(m.path) / "clash.txt").read_text() == "mine\n"
        with pytest.raises(PendingChangesError) as kept:
            m.unmount()
        assert kept.value.paths == ["clash.txt"]
        shutil.rmtree(kept.value.overlay_path)


def test_leaving_with_a_message_commits(small: Repo) -> None:
    with small.client() as client:
        with mount(
            client,
            org=small.org,
            repo=small.name,
            writable=True,
            message="Auto-commit on exit",
            author=AUTHOR,
        ) as m:
            (Path(m.path) / "auto.txt").write_text("saved\n")
            overlay = m.overlay_path
        head = client.commits.list(repo=small.name, limit=1).result.commits[0]
        assert head.message.strip() == "Auto-commit on exit"
        assert head.parents == [small.head]
        assert read_repo_file(client, small, "auto.txt", head.sha)[0] == b"saved\n"
        assert overlay is not None and not overlay.exists()


def test_leaving_without_a_message_raises_and_keeps_the_overlay(small: Repo) -> None:
    with small.client() as client:
        with (
            pytest.raises(PendingChangesError) as caught,
            mount(client, org=small.org, repo=small.name, writable=True) as m,
        ):
            (Path(m.path) / "draft.txt").write_text("unsaved work\n")
            os.unlink(Path(m.path) / "obsolete.txt")
            path = m.path
        error = caught.value
        assert error.paths == ["obsolete.txt", "draft.txt"]
        assert path not in mounted_paths()
        manifest = json.loads(error.manifest_path.read_text())  # type: ignore[union-attr]
        assert manifest["base_sha"] == small.head and manifest["branch"] == "main"
        draft = manifest["entries"]["draft.txt"]
        assert (error.overlay_path / draft["data"]).read_bytes() == b"unsaved work\n"
        assert manifest["entries"]["obsolete.txt"] == {"type": "deleted"}
        # Nothing reached the repository.
        assert client.commits.list(repo=small.name, limit=1).result.commits[0].sha == small.head
        shutil.rmtree(error.overlay_path)


def test_an_exception_in_the_body_unmounts_and_keeps_changes(small: Repo) -> None:
    with small.client() as client:
        with (
            pytest.raises(KeyError),
            mount(client, org=small.org, repo=small.name, writable=True, message="no") as m,
        ):
            (Path(m.path) / "half.txt").write_text("half done\n")
            path, overlay = m.path, m.overlay_path
            raise KeyError("boom")
        assert path not in mounted_paths() and not os.path.exists(path)
        assert overlay is not None and (overlay / "changes.json").exists()  # kept, not committed
        assert client.commits.list(repo=small.name, limit=1).result.commits[0].sha == small.head
        shutil.rmtree(overlay)


def test_a_failed_auto_commit_raises_with_the_cause(small: Repo) -> None:
    with small.client() as client:
        with (
            pytest.raises(PendingChangesError) as caught,
            mount(
                client, org=small.org, repo=small.name, writable=True, message="Will conflict"
            ) as m,
        ):
            (Path(m.path) / "late.txt").write_text("late\n")
            commit_elsewhere(client, small, "early.txt", "early\n")
        assert isinstance(caught.value.__cause__, ConflictError)
        assert caught.value.paths == ["late.txt"]
        shutil.rmtree(caught.value.overlay_path)


def test_overlay_files_never_leave_the_overlay_folder(small: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    overlay_dir = tmp_path / "overlay"
    with small.client() as client:
        with mount(
            client, org=small.org, repo=small.name, writable=True, overlay_dir=overlay_dir
        ) as m:
            root = Path(m.path)
            os.makedirs(root / "a/b")
            (root / "a/b/deep.txt").write_text("x")
            with open(root / "notes/todo.txt", "a") as f:
                f.write("appended\n")
            os.rename(root / "a", root / "c")
            # Every byte written lives in numbered regular files of overlay/files.
            names = os.listdir(overlay_dir / "files")
            assert names and all(n.isdigit() for n in names)
            assert all(os.path.isfile(overlay_dir / "files" / n) for n in names)
            assert not os.path.islink(overlay_dir / "files" / names[0])
            assert os.listdir(outside) == []
            m.commit("Safe", author=AUTHOR)
        # The folder given stays; what the mount made in it is gone.
        assert overlay_dir.is_dir() and list(overlay_dir.iterdir()) == []


def test_writable_needs_a_branch(small: Repo) -> None:
    with small.client() as client, pytest.raises(MountError, match="branch"):
        mount(client, org=small.org, repo=small.name, ref=small.head, writable=True)


def test_large_copy_is_one_commit(small: Repo, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    with small.client() as client:
        with mount(client, org=small.org, repo=small.name, writable=True) as m:
            shutil.copy(tmp_path / "big.bin", Path(m.path) / "big.bin")
            assert (Path(m.path) / "big.bin").read_bytes() == data
            result = m.commit("Big", author=AUTHOR)
            assert result is not None
        history = client.commits.list(repo=small.name, limit=3).result.commits
        assert [c.sha for c in history[:2]] == [result.sha, small.head]
        assert client.content.get_raw(repo=small.name, path="big.bin", ref=result.sha) == data


def test_mount_object_api(small: Repo) -> None:
    with small.client() as client:
        m: Mount = mount(client, org=small.org, repo=small.name, writable=True)
        try:
            assert m.writable and m.ref == "main" and m.sha == small.head
            assert m.overlay_path is not None and m.overlay_path.is_dir()
            assert "rw" in repr(m)
        finally:
            m.close()
        assert not m.mounted
        m.close()  # idempotent


def test_first_commit_of_an_empty_repository(mesa_emulator: Emulator) -> None:
    from mesa_emulator.pytest_plugin import unique_org

    org = unique_org("empty")
    with Mesa(api_key=mesa_emulator.api_key, server_url=mesa_emulator.url, org=org) as client:
        client.repos.create(body={"name": "empty"})
        with mount(client, org=org, repo="empty", writable=True) as m:
            assert m.sha is None and os.listdir(m.path) == []
            os.makedirs(Path(m.path) / "src")
            (Path(m.path) / "src/first.txt").write_text("first\n")
            result = m.commit("First", author=AUTHOR)
            assert result is not None and result.parents == []
            assert m.sha == result.sha
        assert client.content.get_raw(repo="empty", path="src/first.txt") == b"first\n"


def _sigpipe_ignored() -> bool:
    status = Path("/proc/self/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16
    )
    return bool(mask & (1 << (13 - 1)))  # SIGPIPE is 13


def test_a_process_still_ignores_sigpipe_after_its_mount_ends(small: Repo, tmp_path: Path) -> None:
    # libfuse resets SIGPIPE to "terminate" when its loop ends; a later write to a closed
    # socket would then kill the user's program.
    assert _sigpipe_ignored()
    with (
        small.client() as client,
        mount(client, org=small.org, repo=small.name, writable=True) as m,
    ):
        assert (Path(m.path) / "README.md").exists()
    assert _sigpipe_ignored()
