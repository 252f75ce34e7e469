"""The parts under the mount, without FUSE: paths, inodes, the overlay, the blob cache."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesa_sdk.fs._lowlevel import _child, _Inodes, lowlevel_supported
from mesa_sdk.fs.blobs import BlobCache, git_blob_id, git_blob_id_of_file
from mesa_sdk.fs.overlay import WHITEOUT, Overlay, OverlayDir, OverlayError, OverlayFile
from mesa_sdk.fs.paths import check_storable_name, inside, repo_path
from mesa_sdk.fs.remote import Entry
from mesa_sdk.fs.shell import ExecResult
from mesa_sdk.fs.singleflight import SingleFlight
from mesa_sdk.fs.snapshot import complete_listings


@pytest.mark.parametrize(
    ("fuse_path", "expected"),
    [("/", ""), ("/a", "a"), ("/a/b c/d.txt", "a/b c/d.txt"), ("/caf\u00e9", "caf\u00e9")],
)
def test_repo_path_accepts_normal_fuse_paths(fuse_path: str, expected: str) -> None:
    assert repo_path(fuse_path) == expected


@pytest.mark.parametrize(
    "fuse_path", ["", "a", "/a/../b", "/..", "/a/./b", "//a", "/a/", "/a\x00b", None]
)
def test_repo_path_refuses_anything_else(fuse_path: str | None) -> None:
    with pytest.raises(OSError) as caught:
        repo_path(fuse_path)
    assert caught.value.errno == errno.EINVAL


def test_inode_numbers_are_given_once_per_path_and_kept() -> None:
    inodes = _Inodes()
    assert inodes.number("/") == _Inodes.ROOT == 1
    numbers = [inodes.number(_child("/", name)) for name in ("a", "b", "a")]
    assert numbers == [2, 3, 2]
    assert inodes.number(_child("/a", "x y")) == 4
    assert [inodes.path(n) for n in (1, 2, 3, 4)] == ["/", "/a", "/b", "/a/x y"]

    given: list[int] = []
    threads = [
        threading.Thread(target=lambda: given.append(inodes.number("/same"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(given) == {5}


def _entries(*paths: str) -> list[Entry]:
    """Entries in path order; a trailing "/" makes a folder."""
    made = [
        Entry(p.rstrip("/"), "dir" if p.endswith("/") else "file", "0" * 40, 0, False)
        for p in paths
    ]
    assert [e.path for e in made] == sorted(e.path for e in made)
    return made


def test_a_whole_subtree_listing_lists_every_folder_in_it() -> None:
    entries = _entries("a/", "a-c", "a/b/", "a/b/f", "a/x", "z")
    listings = complete_listings("", entries, depth=10, whole=True)
    assert {folder: sorted(listing) for folder, listing in listings.items()} == {
        "": ["a", "a-c", "z"],
        "a": ["b", "x"],
        "a/b": ["f"],
    }
    # Folders at the depth limit were not opened: their listings are not known.
    assert "a/b" not in complete_listings("", entries, depth=2, whole=True)


def test_a_first_page_lists_only_folders_it_has_gone_past() -> None:
    entries = _entries("s/", "s/a/", "s/a/1", "s/a/2", "s/b/", "s/b/1")
    # "s/b" may go on, and "s" itself is complete only on the last page.
    assert set(complete_listings("s", entries[1:], depth=10, whole=False)) == {"s/a"}
    assert set(complete_listings("", entries, depth=10, whole=False)) == {"s/a"}
    assert complete_listings("s", [], depth=10, whole=False) == {}
    assert complete_listings("s", [], depth=10, whole=True) == {"s": {}}


def test_the_low_level_adapter_runs_where_it_knows_struct_stat() -> None:
    assert lowlevel_supported("x86_64", "Linux")
    assert lowlevel_supported("aarch64", "Linux")
    assert not lowlevel_supported("armv7l", "Linux")  # another layout: fusepy serves
    assert not lowlevel_supported("x86_64", "Darwin")


def test_names_the_api_cannot_store_are_refused() -> None:
    for bad in (".git", "a/.GIT/b", "back\\slash"):
        with pytest.raises(OSError):
            check_storable_name(bad)
    check_storable_name("a/.gitignore")


def test_exec_cwd_stays_inside_the_mount() -> None:
    assert inside("/m", None) == "/m"
    assert inside("/m", "a/b/..") == "/m/a"
    for bad in ("..", "../x", "/etc", "a/../../x"):
        with pytest.raises(ValueError):
            inside("/m", bad)


OVERLAY_INFO = {"org": "acme", "repo": "app", "branch": "main", "base_sha": "a" * 40}


@pytest.fixture
def overlay(tmp_path: Path) -> Iterator[Overlay]:
    o = Overlay(tmp_path / "overlay", OVERLAY_INFO)
    yield o
    o.destroy()


def test_overlay_indexes_entries_deep_in_unchanged_folders(overlay: Overlay) -> None:
    overlay.put("a/b/c.txt", OverlayFile(executable=False))
    overlay.put("a-c", WHITEOUT)
    overlay.put("a", OverlayDir(base="z"))
    assert overlay.child_names("") == {"a", "a-c"}
    assert overlay.child_names("a") == {"b"}
    assert overlay.has_below("a/b") and not overlay.has_below("a/b/c.txt")
    assert overlay.below("a") == ["a/b/c.txt"]
    assert overlay.roots() == ["a", "a-c"]
    overlay.move("a", "x")
    assert overlay.below("x") == ["x/b/c.txt"] and not overlay.has_below("a")
    overlay.remove("x/b/c.txt")
    assert overlay.child_names("") == {"a", "a-c"} and overlay.child_names("x") == set()


def test_overlay_data_files_refuse_symlinks(overlay: Overlay, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("outside")
    os.symlink(target, overlay.files / "00000099")
    with pytest.raises(OSError) as caught:
        overlay.open_data("00000099", os.O_WRONLY)
    assert caught.value.errno == errno.ELOOP
    assert target.read_text() == "outside"
    name, fd = overlay.new_data()
    os.close(fd)
    assert name.isdigit() and (overlay.files / name).is_file()


def test_blob_ids_match_git(tmp_path: Path) -> None:
    data = b"hello\x00world\n"
    (tmp_path / "f").write_bytes(data)
    expected = (
        subprocess.run(["git", "hash-object", str(tmp_path / "f")], capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    assert git_blob_id(data) == expected
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert git_blob_id_of_file(fd) == expected
    finally:
        os.close(fd)


def test_blob_cache_checks_what_arrives(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    data = b"x" * 100_000
    blob = git_blob_id(data)
    calls = []

    def fetch() -> Iterator[bytes]:
        calls.append(1)
        time.sleep(0.05)
        yield data[:50_000]
        yield data[50_000:]

    paths: list[str] = []
    threads = [
        threading.Thread(target=lambda: paths.append(cache.get(blob, len(data), fetch)))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(paths)) == 1
    assert Path(paths[0]).read_bytes() == data

    short = git_blob_id(b"abc")
    with pytest.raises(OSError, match="expected 3"):
        cache.get(short, 3, lambda: iter([b"ab"]))
    with pytest.raises(OSError, match="different bytes"):
        cache.get(short, 3, lambda: iter([b"abd"]))
    assert not os.path.exists(cache.path(short))
    assert os.listdir(tmp_path / "cache" / "incoming") == []

    empty = git_blob_id(b"")
    assert (
        Path(cache.get(empty, 0, lambda: pytest.fail("no request for an empty file"))).read_bytes()
        == b""
    )


def test_single_flight_shares_errors() -> None:
    flight: SingleFlight[int] = SingleFlight()
    started = threading.Event()
    errors: list[BaseException] = []

    def slow() -> int:
        started.set()
        time.sleep(0.05)
        raise ValueError("once")

    def call() -> None:
        try:
            flight.do("k", slow)
        except ValueError as error:
            errors.append(error)

    first = threading.Thread(target=call)
    first.start()
    started.wait()
    second = threading.Thread(target=call)
    second.start()
    first.join()
    second.join()
    assert len(errors) == 2
    assert flight.do("k", lambda: 7) == 7


def test_exec_result_helpers() -> None:
    result = ExecResult(stdout=b"caf\xc3\xa9\n", stderr=b"\xff", exit_code=3)
    assert result.text == "caf\u00e9\n" and result.stderr_text == "\ufffd"
    assert not result.ok
    with pytest.raises(subprocess.CalledProcessError):
        result.check()


def test_overlay_replays_its_journal_and_ignores_a_torn_last_line(tmp_path: Path) -> None:
    root = tmp_path / "overlay"
    first = Overlay(root, OVERLAY_INFO)
    name, fd = first.new_data()
    os.write(fd, b"bytes\n")
    os.close(fd)
    first.put("a/new.txt", OverlayFile(executable=True, data=name))
    first.put("gone.txt", WHITEOUT)
    first.sync()
    first.put("moved", OverlayDir(base="old"))
    first.remove("gone.txt")
    first.sync()
    first.put("never-acknowledged.txt", WHITEOUT)  # recorded, never synced
    journals = [p for p in root.iterdir() if p.name.startswith("changes.journal.")]
    assert len(journals) == 1
    with open(journals[0], "ab") as journal:
        journal.write(b'[{"path":"torn.txt","entry":{"type":"del')  # a kill mid-write
    first.close()  # no compaction: as a kill -9 leaves it

    second = Overlay(root, OVERLAY_INFO)
    assert second.describe() == {
        "a/new.txt": {"type": "file", "executable": True, "data": f"files/{name}"},
        "moved": {"type": "dir", "moved_from": "old"},
    }
    assert (root / "files" / name).read_bytes() == b"bytes\n"
    manifest = json.loads((root / "changes.json").read_text())
    assert manifest["base_sha"] == OVERLAY_INFO["base_sha"]
    assert manifest["entries"] == second.describe()
    second.close()


INTENT = {
    "key": "mesa-fs-0123",
    "message": "Add notes",
    "author": {"name": "Bot", "email": "bot@example.com"},
    "branch": "main",
    "base_sha": OVERLAY_INFO["base_sha"],
}


def test_overlay_journals_its_commit_intent_and_keeps_it_through_a_compaction(
    tmp_path: Path,
) -> None:
    root = tmp_path / "overlay"
    first = Overlay(root, OVERLAY_INFO)
    first.put("gone.txt", WHITEOUT)
    first.sync()
    first.set_intent(INTENT)
    first.sync()
    first.close()  # killed while the commit was under way

    second = Overlay(root, OVERLAY_INFO)  # replays the journal, then compacts
    assert second.intent == INTENT
    assert json.loads((root / "changes.json").read_text())["commit_intent"] == INTENT
    second.set_intent(None)  # the API said it did not make the commit
    second.sync()
    second.close()

    third = Overlay(root, OVERLAY_INFO)
    assert third.intent is None and third.describe() == {"gone.txt": {"type": "deleted"}}
    assert "commit_intent" not in json.loads((root / "changes.json").read_text())
    third.close()


def test_an_overlay_with_a_bad_commit_intent_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "overlay"
    Overlay(root, OVERLAY_INFO).close()
    manifest = json.loads((root / "changes.json").read_text())
    manifest["commit_intent"] = {**INTENT, "key": None}
    (root / "changes.json").write_text(json.dumps(manifest))
    with pytest.raises(OverlayError, match=r"cannot replay: ValueError\(.bad commit intent"):
        Overlay(root, OVERLAY_INFO)


def test_overlay_destroy_removes_only_what_it_made(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("the user's")
    overlay = Overlay(root, OVERLAY_INFO)
    _, fd = overlay.new_data()
    os.close(fd)
    overlay.destroy()
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    owned = Overlay(tmp_path / "temporary", OVERLAY_INFO, owned=True)
    owned.destroy()
    assert not (tmp_path / "temporary").exists()


def test_an_overlay_folder_serves_one_overlay_at_a_time(tmp_path: Path) -> None:
    first = Overlay(tmp_path / "overlay", OVERLAY_INFO)
    with pytest.raises(OverlayError, match="is in use by another mount"):
        Overlay(tmp_path / "overlay", OVERLAY_INFO)
    first.close()
    Overlay(tmp_path / "overlay", OVERLAY_INFO).destroy()


def test_overlay_compacts_a_long_journal_and_replays_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mesa_sdk.fs.overlay as overlay_module

    monkeypatch.setattr(overlay_module, "_COMPACT_AT", 200)
    root = tmp_path / "overlay"
    first = Overlay(root, OVERLAY_INFO)
    for number in range(20):
        first.put(f"gone/{number}.txt", WHITEOUT)
        first.sync()
    journals = sorted(p.name for p in root.iterdir() if p.name.startswith("changes.journal."))
    assert journals != ["changes.journal.1"] and len(journals) == 1  # started afresh
    described = first.describe()
    first.close()
    second = Overlay(root, OVERLAY_INFO)
    assert second.describe() == described and len(described) == 20
    second.close()


def test_overlay_drops_an_entry_whose_bytes_never_reached_the_disk(tmp_path: Path) -> None:
    root = tmp_path / "overlay"
    first = Overlay(root, OVERLAY_INFO)
    name, fd = first.new_data()
    os.close(fd)
    first.put("kept.txt", OverlayFile(executable=False, data=name))
    first.put("lost.txt", OverlayFile(executable=False, data="00000999"))
    first.sync()
    first.close()
    second = Overlay(root, OVERLAY_INFO)
    assert list(second.describe()) == ["kept.txt"]
    second.close()


def test_a_failed_journal_write_leaves_no_half_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "overlay"
    first = Overlay(root, OVERLAY_INFO)
    first.put("one.txt", WHITEOUT)
    first.sync()
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, "No space left on device")

    first.put("two.txt", WHITEOUT)
    with monkeypatch.context() as patched:
        patched.setattr(os, "write", disk_full)
        with pytest.raises(OSError) as caught:
            first.sync()
    assert caught.value.errno == errno.ENOSPC
    first.put("three.txt", WHITEOUT)
    first.sync()  # the change that failed to sync is written with this one
    first.close()
    second = Overlay(root, OVERLAY_INFO)
    assert list(second.describe()) == ["one.txt", "three.txt", "two.txt"]
    second.close()


def test_a_cache_opened_again_removes_what_a_killed_process_left_and_nothing_else(
    tmp_path: Path,
) -> None:
    # A process killed with SIGKILL while it fetched a tree or downloaded a blob.
    killed = subprocess.Popen(["sleep", "30"])
    killed.kill()
    killed.wait()
    dead, alive = killed.pid, os.getpid()
    cache = BlobCache(tmp_path)
    (tmp_path / f"trees-{dead}-x1" / "ab").mkdir(parents=True)
    (tmp_path / f"trees-{dead}-x1" / "ab" / "cdef").write_bytes(b"half a tree")
    (tmp_path / "incoming" / f"{dead}-y1").write_bytes(b"half a blob")
    (tmp_path / "incoming" / "tmpold").write_bytes(b"from before names had a pid")
    # A live mount sharing the folder, and the cache's own blobs.
    (tmp_path / f"trees-{alive}-x2").mkdir()
    (tmp_path / "incoming" / f"{alive}-y2").write_bytes(b"on its way")
    cached = Path(cache.path("ab" + "0" * 38))
    cached.parent.mkdir()
    cached.write_bytes(b"blob")

    BlobCache(tmp_path)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["ab", "incoming", f"trees-{alive}-x2"]
    assert sorted(p.name for p in (tmp_path / "incoming").iterdir()) == [f"{alive}-y2"]
    assert cached.read_bytes() == b"blob"


def test_a_cache_names_its_temporaries_for_its_process(tmp_path: Path) -> None:
    folder = BlobCache(tmp_path).temporary_folder("trees")
    assert folder.parent == tmp_path
    assert folder.name.startswith(f"trees-{os.getpid()}-")
