"""A writable mount's overlay is the user's and survives kill -9: every acknowledged change is
journalled, a new mount shows it again, and `m.commit()` or `mesa-fs commit` commits it."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import APIConnectionError, ConflictError
from mesa_sdk.fs import MountError, PendingChange, commit_overlay, mount
from tests.shared import AUTHOR

from .conftest import Repo, fuse_unavailable, make_repo, mounted_paths
from .test_cli import mesa_fs
from .test_write import BASE, commit_elsewhere, read_repo_file

pytestmark = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))

# A process that mounts writable on an overlay folder and serves until it is killed (its
# blob cache in the test's folder: a killed process removes nothing).
HOLDER = textwrap.dedent(
    """
    import sys, threading
    from mesa_sdk import Mesa
    from mesa_sdk.fs import mount
    api_key, url, org, repo, path, overlay, cache = sys.argv[1:]
    client = Mesa(api_key=api_key, server_url=url, org=org)
    m = mount(
        client, repo=repo, path=path, writable=True, overlay_dir=overlay, cache_dir=cache
    )
    print("mounted", flush=True)
    threading.Event().wait()
    """
)

BINARY = bytes(range(256)) * 40

EXPECTED_CHANGES = [
    PendingChange("notes/old-name.txt", "delete"),
    PendingChange("obsolete.txt", "delete"),
    PendingChange("notes/todo.txt", "update", False),
    PendingChange("scripts/build.sh", "update", True),
    PendingChange("added/deep/new.bin", "create", False),
    PendingChange("added/text.txt", "create", False),
    PendingChange("renamed.txt", "create", False),
]
EXPECTED_BYTES = {
    "added/deep/new.bin": BINARY,
    "added/text.txt": b"written, then renamed into place\n",
    "notes/todo.txt": b"one\ntwo\nthree\n",
    "renamed.txt": b"to be renamed\n",
    "scripts/build.sh": b"#!/bin/sh\nmake\n",
}


@pytest.fixture
def small(mesa_emulator: Emulator, tmp_path: Path) -> Repo:
    return make_repo(mesa_emulator, tmp_path, "durable", BASE)


def unmount_lazily(path: Path) -> None:
    subprocess.run(["fusermount", "-u", "-z", str(path)], capture_output=True, check=False)


@pytest.fixture
def overlay_dir(tmp_path: Path) -> Path:
    """The user's overlay folder, holding a file of theirs that must outlive every mount."""
    folder = tmp_path / "my-overlay"
    folder.mkdir()
    (folder / "mine.txt").write_bytes(b"the user's own file\n")
    return folder


def assert_user_file_kept(folder: Path) -> None:
    assert folder.is_dir()
    assert (folder / "mine.txt").read_bytes() == b"the user's own file\n"


def make_the_changes(path: Path) -> None:
    """Every kind of change (EXPECTED_CHANGES, EXPECTED_BYTES) through the mount at `path`."""
    os.makedirs(path / "added/deep")
    (path / "added/deep/new.bin").write_bytes(BINARY)
    (path / "draft.txt").write_text("written, then renamed into place\n")
    os.rename(path / "draft.txt", path / "added/text.txt")
    with open(path / "notes/todo.txt", "a") as todo:
        todo.write("three\n")
    os.rename(path / "notes/old-name.txt", path / "renamed.txt")
    os.unlink(path / "obsolete.txt")
    os.chmod(path / "scripts/build.sh", 0o755)
    (path / "scratch.txt").write_text("made and deleted\n")
    os.unlink(path / "scratch.txt")


@contextlib.contextmanager
def child_mount(
    script: str, small: Repo, overlay_dir: Path, tmp_path: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A child process running `script`, which mounts writable on `overlay_dir` and prints
    "mounted"; yields it and its mount point, and kills it and removes its mount after."""
    path = tmp_path / "mnt"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            small.emulator.api_key,
            small.emulator.url,
            small.org,
            small.name,
            str(path),
            str(overlay_dir),
            str(tmp_path / "cache"),
            *args,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"mounted\n", child.stderr
        yield child, path
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        unmount_lazily(path)
    assert str(path) not in mounted_paths()


@pytest.fixture
def killed_mount(small: Repo, overlay_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """Changes made through a writable mount held by another process, which is then killed
    with SIGKILL right after the last change returned; yields the overlay folder."""
    with child_mount(HOLDER, small, overlay_dir, tmp_path) as (holder, path):
        make_the_changes(path)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    yield overlay_dir


def assert_committed_once(small: Repo, message: str) -> None:
    with small.client() as client:
        commits = client.commits.list(repo=small.name, ref="main", limit=2).result.commits
        head = commits[0]
        assert head.message.strip() == message and head.parents == [small.head]
        for path, data in EXPECTED_BYTES.items():
            got, executable = read_repo_file(client, small, path, head.sha)
            assert got == data, path
            assert executable == (path == "scripts/build.sh"), path
        for gone in ("obsolete.txt", "notes/old-name.txt", "scratch.txt", "draft.txt"):
            with pytest.raises(Exception) as caught:
                client.content.get(repo=small.name, path=gone, ref=head.sha)
            assert getattr(caught.value, "code", None) == "PATH_NOT_FOUND", gone


def test_kill_9_then_a_new_mount_shows_the_changes_and_commits_them(
    small: Repo, killed_mount: Path, tmp_path: Path
) -> None:
    manifest = json.loads((killed_mount / "changes.json").read_text())
    assert (manifest["org"], manifest["repo"], manifest["branch"], manifest["base_sha"]) == (
        small.org,
        small.name,
        "main",
        small.head,
    )
    # No org given: the client's default, which the manifest recorded resolved.
    with (
        small.client() as client,
        mount(client, repo=small.name, writable=True, overlay_dir=killed_mount) as m,
    ):
        assert m.sha == small.head
        assert m.pending() == EXPECTED_CHANGES
        root = Path(m.path)
        for path, data in EXPECTED_BYTES.items():
            assert (root / path).read_bytes() == data, path
        assert os.stat(root / "scripts/build.sh").st_mode & stat.S_IXUSR
        assert not (root / "obsolete.txt").exists()
        result = m.commit("After the crash", author=AUTHOR)
        assert result is not None and m.pending() == []
    assert_committed_once(small, "After the crash")
    assert_user_file_kept(killed_mount)
    assert sorted(p.name for p in killed_mount.iterdir()) == ["mine.txt"]


def mesa_fs_commit(repo: Repo, overlay: Path, message: str) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "MESA_API_KEY": repo.emulator.api_key,
        "MESA_SERVER_URL": repo.emulator.url,
    }
    return subprocess.run(
        [*mesa_fs(), "commit", str(overlay), "--message", message],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_kill_9_then_mesa_fs_commit_commits_the_changes(small: Repo, killed_mount: Path) -> None:
    result = mesa_fs_commit(small, killed_mount, "m")
    assert result.returncode == 0, result.stderr
    assert_committed_once(small, "m")
    with small.client() as client:
        head = client.commits.list(repo=small.name, limit=1).result.commits[0].sha
    assert result.stdout.decode().strip() == head
    assert sorted(p.name for p in killed_mount.iterdir()) == ["mine.txt"]


def test_a_left_overlay_on_a_moved_branch_is_a_conflict_and_is_kept(
    small: Repo, killed_mount: Path
) -> None:
    with small.client() as client:
        theirs = commit_elsewhere(client, small, "theirs.txt", "theirs\n")
        refused = mesa_fs_commit(small, killed_mount, "Would overwrite")
        assert refused.returncode == 1 and b"409 BRANCH_MOVED" in refused.stderr, refused.stderr
        with pytest.raises(ConflictError) as caught:
            commit_overlay(client, killed_mount, "Would overwrite", author=AUTHOR)
        assert caught.value.code == "BRANCH_MOVED"
        assert client.commits.list(repo=small.name, limit=1).result.commits[0].sha == theirs
        # Still there: a mount shows it on its base, and can rebase and commit it.
        with mount(client, repo=small.name, writable=True, overlay_dir=killed_mount) as m:
            assert m.pending() == EXPECTED_CHANGES
            assert m.rebase() == theirs
            result = m.commit("On top", author=AUTHOR)
            assert result is not None and result.parents == [theirs]
    assert_user_file_kept(killed_mount)


def test_the_overlay_folder_and_its_other_files_survive_every_ending(
    small: Repo, overlay_dir: Path, tmp_path: Path
) -> None:
    with small.client() as client:
        # A clean unmount with nothing pending.
        with mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir) as m:
            assert (overlay_dir / "changes.json").exists()
        assert sorted(p.name for p in overlay_dir.iterdir()) == ["mine.txt"]
        # A failed start (the mount point is not empty).
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "occupied").write_text("x")
        with pytest.raises(MountError, match="not empty"):
            mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir, path=busy)
        assert sorted(p.name for p in overlay_dir.iterdir()) == ["mine.txt"]
        # A failed start keeps changes an earlier mount left.
        with (
            pytest.raises(RuntimeError),
            mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir) as m,
        ):
            (Path(m.path) / "kept.txt").write_text("kept\n")
            raise RuntimeError("the body failed")
        with pytest.raises(MountError, match="not empty"):
            mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir, path=busy)
        # A commit.
        with mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir) as m:
            assert m.pending() == [PendingChange("kept.txt", "create", False)]
            m.commit("Kept", author=AUTHOR)
        assert read_repo_file(client, small, "kept.txt", "main")[0] == b"kept\n"
    assert_user_file_kept(overlay_dir)
    assert sorted(p.name for p in overlay_dir.iterdir()) == ["mine.txt"]


def test_an_overlay_of_another_repository_or_branch_is_refused(
    small: Repo, mesa_emulator: Emulator, tmp_path: Path
) -> None:
    other = make_repo(mesa_emulator, tmp_path / "other", "other", {"x.txt": b"x\n"})
    overlay = tmp_path / "overlay"
    with (
        small.client() as client,
        pytest.raises(RuntimeError),
        mount(client, repo=small.name, writable=True, overlay_dir=overlay) as m,
    ):
        (Path(m.path) / "pending.txt").write_text("pending\n")
        raise RuntimeError("leave it pending")
    with other.client() as client, pytest.raises(MountError) as caught:
        mount(client, repo=other.name, writable=True, overlay_dir=overlay)
    assert str(caught.value).startswith(
        f"the overlay {overlay} holds changes to {small.org}/{small.name} on branch 'main', "
        f"not {other.org}/{other.name} on 'main'"
    )
    assert json.loads((overlay / "changes.json").read_text())["entries"]["pending.txt"]


# A process that mounts writable, waits for a line on stdin, then commits, and is killed with
# SIGKILL by a hook of its own client: before the commit's request is sent ("before-send",
# the intent is journalled) or once the API has answered it with the commit made ("answered",
# before the manifest is rewritten).
COMMITTER = textwrap.dedent(
    """
    import os, signal, sys
    from mesa_sdk import Mesa
    from mesa_sdk.fs import mount
    api_key, url, org, repo, path, overlay, cache, window = sys.argv[1:]
    client = Mesa(api_key=api_key, server_url=url, org=org)
    m = mount(
        client, repo=repo, path=path, writable=True, overlay_dir=overlay, cache_dir=cache
    )
    print("mounted", flush=True)
    sys.stdin.readline()

    def die(context, *_):
        if context.method_name == "commits.create":
            os.kill(os.getpid(), signal.SIGKILL)

    if window == "answered":
        client.hooks.register_after_success(die)
    else:
        client.hooks.register_before_request(die)
    m.commit("The original message", author={"name": "Bot", "email": "bot@example.com"})
    print("not killed", flush=True)
    """
)

ORIGINAL = "The original message"


def kill_while_committing(small: Repo, overlay_dir: Path, tmp_path: Path, window: str) -> None:
    with child_mount(COMMITTER, small, overlay_dir, tmp_path, window) as (committer, path):
        make_the_changes(path)
        _, errors = committer.communicate(b"commit\n", timeout=60)
        assert committer.returncode == -signal.SIGKILL, errors


def branch_history(small: Repo) -> list[tuple[str, str]]:
    with small.client() as client:
        commits = client.commits.list(repo=small.name, ref="main", limit=10).result.commits
    return [(c.sha, c.message.strip()) for c in commits]


def test_kill_9_after_the_api_made_the_commit_then_mesa_fs_commit_finishes_it_once(
    small: Repo, overlay_dir: Path, tmp_path: Path
) -> None:
    kill_while_committing(small, overlay_dir, tmp_path, "answered")
    made = branch_history(small)
    assert [message for _, message in made[:1]] == [ORIGINAL]  # the API made it, once
    assert json.loads((overlay_dir / "changes.json").read_text())["base_sha"] == small.head

    result = mesa_fs_commit(small, overlay_dir, "other")

    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == made[0][0]
    assert branch_history(small) == made and made[1][0] == small.head and len(made) == 2
    assert_committed_once(small, ORIGINAL)
    stderr = result.stderr.decode()
    assert f"with its own message {ORIGINAL!r}: 'other' is not used" in stderr
    assert "the API had made it and replayed its answer: Idempotent-Replayed" in stderr
    assert sorted(p.name for p in overlay_dir.iterdir()) == ["mine.txt"]


def test_kill_9_before_the_send_then_a_new_mount_makes_the_commit_once(
    small: Repo, overlay_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kill_while_committing(small, overlay_dir, tmp_path, "before-send")
    assert branch_history(small) == [(small.head, "Add files")]
    with (
        small.client() as client,
        mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir) as m,
    ):
        # Mounting finished it: the mount shows the commit, nothing is pending.
        made = branch_history(small)
        assert [message for _, message in made] == [ORIGINAL, "Add files"]
        assert m.sha == made[0][0] and m.pending() == []
        assert (Path(m.path) / "added/deep/new.bin").read_bytes() == BINARY
    assert_committed_once(small, ORIGINAL)
    assert "the API had not made it before, and made it now" in caplog.text
    assert sorted(p.name for p in overlay_dir.iterdir()) == ["mine.txt"]


def test_kill_9_before_the_send_on_a_moved_branch_keeps_the_changes_pending(
    small: Repo, overlay_dir: Path, tmp_path: Path
) -> None:
    kill_while_committing(small, overlay_dir, tmp_path, "before-send")
    with small.client() as client:
        theirs = commit_elsewhere(client, small, "theirs.txt", "theirs\n")
        refused = mesa_fs_commit(small, overlay_dir, "other")
        assert refused.returncode == 1 and b"409 BRANCH_MOVED" in refused.stderr, refused.stderr
        # The intent is dropped: the changes are pending as before the commit began, and a
        # new message is used once they are rebased.
        with mount(client, repo=small.name, writable=True, overlay_dir=overlay_dir) as m:
            assert m.sha == small.head and m.pending() == EXPECTED_CHANGES
            assert m.rebase() == theirs
            result = m.commit("On top", author=AUTHOR)
            assert result is not None and result.parents == [theirs]
    assert [message for _, message in branch_history(small)[:3]] == [
        "On top",
        "Elsewhere",
        "Add files",
    ]
    assert_user_file_kept(overlay_dir)


def test_a_commit_with_an_unknown_outcome_holds_changes_until_commit_finishes_it(
    small: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    # The API makes the commit and the connection drops before its answer; no retry.
    small.emulator.script_faults(
        f"/api/v1/{small.org}/{small.name}/commits", [{"drop": "after"}], "POST"
    )
    with (
        small.client() as client,
        mount(
            client,
            repo=small.name,
            writable=True,
            request_options={"retries": {"strategy": "none"}},
        ) as m,
    ):
        root = Path(m.path)
        (root / "new.txt").write_text("once\n")
        with pytest.raises(APIConnectionError):
            m.commit(ORIGINAL, author=AUTHOR)
        made = branch_history(small)
        assert [message for _, message in made] == [ORIGINAL, "Add files"]
        # Until it is finished, the pending changes are its body: they may not change.
        with pytest.raises(OSError) as refused:
            (root / "later.txt").write_text("later\n")
        assert refused.value.errno == errno.EBUSY
        with pytest.raises(MountError, match="a commit whose outcome is unknown is open"):
            m.rebase()
        assert m.pending() == [PendingChange("new.txt", "create", False)]
        result = m.commit("other")
        assert result is not None and result.sha == made[0][0] and m.sha == result.sha
        assert m.pending() == []
        (root / "later.txt").write_text("later\n")  # accepted again
        assert m.pending() == [PendingChange("later.txt", "create", False)]
        os.unlink(root / "later.txt")
    assert branch_history(small) == made
    assert "the API had made it and replayed its answer: Idempotent-Replayed" in caplog.text
