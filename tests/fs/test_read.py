"""Read-only mounts: what they show, how they fail, what they cache, how they go away."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from mesa_sdk import HookContext, Mesa, NotFoundError
from mesa_sdk.fs import ExecTimeoutError, Mount, MountError, _lowlevel, mount
from mesa_sdk.fs.operations import ReadOperations, kernel_skips_open

from .conftest import Repo, fuse_unavailable, grep_todo, make_repo, mounted_paths

pytestmark = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))


@pytest.fixture(scope="module", params=["lowlevel", "fusepy"])
def mounted(request: pytest.FixtureRequest, repo: Repo) -> Iterator[Mount]:
    """One read-only mount of the repository, shared by the module's read tests: served
    through libfuse's low-level API (the default here), then through fusepy's `FUSE` (where
    the low-level adapter does not know the machine)."""
    with ExitStack() as stack:
        client = stack.enter_context(repo.client())
        with pytest.MonkeyPatch.context() as patch:
            if request.param == "fusepy":
                patch.setattr(_lowlevel, "lowlevel_supported", lambda: False)
            m = stack.enter_context(mount(client, org=repo.org, repo=repo.name, ref="main"))
        yield m


def all_files(repo: Repo) -> dict[str, bytes]:
    return {**repo.files, **repo.executables}


def test_walk_shows_exactly_the_repository(mounted: Mount, repo: Repo) -> None:
    seen_files, seen_dirs = set(), set()
    for root, dirs, files in os.walk(mounted.path):
        rel = os.path.relpath(root, mounted.path)
        for name in dirs:
            seen_dirs.add(os.path.normpath(os.path.join(rel, name)))
        for name in files:
            seen_files.add(os.path.normpath(os.path.join(rel, name)))
    expected_files = set(all_files(repo)) | set(repo.symlinks)
    expected_dirs = {os.path.dirname(p) for p in expected_files if os.path.dirname(p)}
    expected_dirs |= {os.path.dirname(d) for d in expected_dirs if os.path.dirname(d)}
    assert seen_files == expected_files
    assert seen_dirs == expected_dirs
    checkout = sorted(n for n in os.listdir(repo.checkout) if n != ".git")
    assert sorted(os.listdir(mounted.path)) == checkout


def test_file_bytes_are_exact(mounted: Mount, repo: Repo) -> None:
    for path, data in all_files(repo).items():
        with open(os.path.join(mounted.path, path), "rb") as f:
            got = f.read()
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), path
        assert len(got) == len(data)


def test_random_access_reads_of_the_large_file(mounted: Mount, repo: Repo) -> None:
    data = repo.files["big/large.bin"]
    with open(os.path.join(mounted.path, "big/large.bin"), "rb") as f:
        for offset in (0, 1, 4095, 131_072, 10_000_001, len(data) - 7):
            f.seek(offset)
            assert f.read(4096) == data[offset : offset + 4096]


def test_stat_sizes_modes_and_symlinks(mounted: Mount, repo: Repo) -> None:
    for path, data in all_files(repo).items():
        info = os.stat(os.path.join(mounted.path, path))
        assert stat.S_ISREG(info.st_mode), path
        assert info.st_size == len(data), path
        expected = 0o755 if path in repo.executables else 0o644
        assert stat.S_IMODE(info.st_mode) == expected, path
    for path, target in repo.symlinks.items():
        full = os.path.join(mounted.path, path)
        assert stat.S_ISLNK(os.lstat(full).st_mode), path
        assert os.lstat(full).st_size == len(target)
        assert os.readlink(full) == target
    assert stat.S_ISDIR(os.stat(os.path.join(mounted.path, "src/app")).st_mode)
    # Following a symlink lands on its target, inside the mount.
    with open(os.path.join(mounted.path, "src/app/tool-link"), "rb") as link:
        assert link.read() == repo.executables["bin/tool.sh"]
    assert os.access(os.path.join(mounted.path, "bin/tool.sh"), os.X_OK)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mounted.path, "dangling"))


def test_grep_returns_what_a_checkout_returns(mounted: Mount, repo: Repo) -> None:
    lines = grep_todo(mounted.path)
    assert lines == grep_todo(str(repo.checkout))
    assert "./README.md:3:TODO: write the docs" in lines


def test_exec_runs_a_shell_in_the_mount(mounted: Mount) -> None:
    result = mounted.exec("grep -rn TODO . | sort")
    assert result.exit_code == 0
    assert result.stdout == (
        b"./README.md:3:TODO: write the docs\n"
        b"./bin/tool.sh:2:echo tool TODO\n"
        b"./docs/na\xc3\xafve caf\xc3\xa9.md:1:\xc3\x9cn\xc3\xafc\xc3\xb6d\xc3\xa9 TODO\n"
        b"./src/app/main.py:2:    # TODO: parse args\n"
    )
    assert result.stderr == b""
    assert mounted.bash("./bin/tool.sh").stdout_text == "tool TODO\n"
    assert mounted.exec(["cat", "helpers.py"], cwd="src/app/util").stdout.startswith(b"def helper")
    missing = mounted.exec("grep -rn NOPE-NOT-THERE .")
    assert missing.exit_code == 1 and missing.stdout == b""
    assert mounted.exec("cat nope").exit_code != 0
    with pytest.raises(ValueError):
        mounted.exec("true", cwd="../..")


def test_exec_timeout_is_enforced(mounted: Mount) -> None:
    start = time.monotonic()
    with pytest.raises(ExecTimeoutError) as caught:
        mounted.exec("echo started; sleep 30", timeout=0.5)
    assert time.monotonic() - start < 5
    assert caught.value.output == b"started\n"


def open_for(mode: str, name: str) -> Callable[[str], None]:
    def attempt(root: str) -> None:
        with open(os.path.join(root, name), mode):
            pass

    return attempt


@pytest.mark.parametrize(
    "attempt",
    [
        open_for("w", "README.md"),
        open_for("a", "README.md"),
        open_for("w", "new.txt"),
        lambda p: os.mkdir(os.path.join(p, "folder")),
        lambda p: os.unlink(os.path.join(p, "README.md")),
        lambda p: os.rmdir(os.path.join(p, "src/lib")),
        lambda p: os.rename(os.path.join(p, "README.md"), os.path.join(p, "R.md")),
        lambda p: os.chmod(os.path.join(p, "README.md"), 0o755),
        lambda p: os.truncate(os.path.join(p, "README.md"), 0),
        lambda p: os.symlink("README.md", os.path.join(p, "l")),
    ],
    ids=[
        "write",
        "append",
        "create",
        "mkdir",
        "unlink",
        "rmdir",
        "rename",
        "chmod",
        "truncate",
        "symlink",
    ],
)
def test_changes_on_a_read_only_mount_are_erofs(mounted: Mount, attempt) -> None:
    with pytest.raises(OSError) as caught:
        attempt(mounted.path)
    assert caught.value.errno == errno.EROFS


def test_unknown_paths_are_enoent(mounted: Mount) -> None:
    for path in ("nope", "src/nope", "src/app/main.py/below", "nope/deeper/still"):
        with pytest.raises(OSError) as caught:
            os.stat(os.path.join(mounted.path, path))
        assert caught.value.errno in (errno.ENOENT, errno.ENOTDIR)
    with pytest.raises(FileNotFoundError):
        open_for("rb", "nope.txt")(mounted.path)
    with pytest.raises(FileNotFoundError):
        os.listdir(os.path.join(mounted.path, "nope"))


class RequestLog:
    """Counts the client's requests (a before-request hook)."""

    def __init__(self, client: Mesa) -> None:
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()
        client.hooks.register_before_request(self._record)

    def _record(self, context: HookContext, request: httpx.Request) -> None:
        with self._lock:
            self.requests.append(request)

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def content_paths(self) -> Counter[str]:
        with self._lock:
            return Counter(
                r.url.params.get("path", "")
                for r in self.requests
                if r.url.path.endswith("/content")
            )


def test_stat_after_listing_and_second_read_make_no_requests(repo: Repo) -> None:
    with repo.client() as client:
        log = RequestLog(client)
        with mount(client, org=repo.org, repo=repo.name, ref="main", prefetch=False) as m:
            assert log.count() <= 2  # the ref, resolved once (and the root, early)
            names = os.listdir(os.path.join(m.path, "src/app"))
            listed = log.count()
            assert listed == 4  # the ref, the root, src, src/app
            for name in names:
                os.lstat(os.path.join(m.path, "src/app", name))
                os.lstat(os.path.join(m.path, "src/app", name))
            assert log.count() == listed  # every stat came from the listing
            for _ in range(2):
                with open(os.path.join(m.path, "src/app/main.py"), "rb") as f:
                    assert f.read() == repo.files["src/app/main.py"]
            assert log.content_paths()["src/app/main.py"] == 1
            assert log.count() == listed + 1


def test_a_cold_first_read_of_a_deep_file_makes_six_requests(repo: Repo) -> None:
    """The path to a first byte (mount(), then one file three folders down, empty cache):
    the ref, each folder on the way once, the file once; nothing else waits on the API."""
    with repo.client() as client:
        log = RequestLog(client)
        with mount(client, org=repo.org, repo=repo.name, ref="main", prefetch=False) as m:
            with open(os.path.join(m.path, "src/app/util/helpers.py"), "rb") as f:
                assert f.read() == repo.files["src/app/util/helpers.py"]
            assert [r.url.path.rsplit("/", 1)[-1] for r in log.requests] == [
                "commits",
                *["content"] * 5,
            ]
            assert log.content_paths() == Counter(
                ["", "src", "src/app", "src/app/util", "src/app/util/helpers.py"]
            )
            assert log.count() == 6


@pytest.mark.skipif(not kernel_skips_open(), reason="needs Linux 5.1 (FUSE no-opendir)")
@pytest.mark.skipif(not _lowlevel.lowlevel_supported(), reason="no low-level adapter here")
def test_a_warm_mount_answers_without_entering_python(
    repo: Repo, client: Mesa, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    served = ReadOperations.__call__

    def counting(self: ReadOperations, op: str, *args: object) -> object:
        calls[op] += 1
        return served(self, op, *args)

    monkeypatch.setattr(ReadOperations, "__call__", counting)
    grep = ["grep", "-rn", "TODO", "."]
    with mount(client, org=repo.org, repo=repo.name) as m:
        first = subprocess.run(grep, cwd=m.path, capture_output=True, check=True).stdout
        assert calls["readdir"] > 0 and calls["read"] > 0
        find = ["find", ".", "-printf", "%p %s %M\\n"]  # every name, its size and mode
        # The kernel keeps listings, names, attributes and pages: nothing reaches Python.
        # (Following a symlink does: libfuse 2 cannot let the kernel keep link targets.)
        # Memory pressure makes the kernel drop what it kept (after `echo 3 >
        # /proc/sys/vm/drop_caches`, a pass reads every file again), so a pass that reached
        # Python is run again, twice at most, once the kernel has kept it anew.
        for _ in range(3):
            calls.clear()
            again = subprocess.run(grep, cwd=m.path, capture_output=True, check=True).stdout
            assert again == first
            assert subprocess.run(find, cwd=m.path, capture_output=True, check=True).stdout
            if not calls:
                break
        assert calls == Counter()
        # Inode numbers are stable and distinct, as `find -inum` and `ls -i` expect.
        inodes = {os.lstat(os.path.join(m.path, p)).st_ino for p in all_files(repo)}
        assert len(inodes) == len(all_files(repo)) and 0 not in inodes
        assert os.stat(m.path).st_ino == 1


def test_api_failures_are_errnos_and_are_asked_again(repo: Repo, client: Mesa) -> None:
    content = f"/api/v1/{repo.org}/{repo.name}/content"
    with mount(client, org=repo.org, repo=repo.name, prefetch=False) as m:
        assert "src" in os.listdir(m.path)
        # A refused listing is EACCES; a failed download EIO; neither is remembered.
        repo.emulator.script_faults(content, [{"status": 403, "code": "FORBIDDEN"}], "GET")
        with pytest.raises(PermissionError):
            os.listdir(os.path.join(m.path, "src"))
        assert sorted(os.listdir(os.path.join(m.path, "src"))) == ["app", "lib"]
        # (The kernel retries a failed read-ahead once with a plain read: fail both.)
        repo.emulator.script_faults(content, [{"status": 400, "code": "BAD_REQUEST"}] * 9, "GET")
        with pytest.raises(OSError) as caught, open(os.path.join(m.path, "README.md"), "rb") as f:
            f.read()
        assert caught.value.errno == errno.EIO
        repo.emulator.clear_faults()
        with open(os.path.join(m.path, "README.md"), "rb") as f:
            assert f.read() == repo.files["README.md"]


def test_concurrent_readers_fetch_a_file_once(repo: Repo) -> None:
    with repo.client() as client:
        log = RequestLog(client)
        with mount(client, org=repo.org, repo=repo.name, ref="main") as m:
            path = os.path.join(m.path, "big/large.bin")
            os.stat(path)
            digests: list[str] = []
            barrier = threading.Barrier(4)

            def read() -> None:
                barrier.wait()
                with open(path, "rb") as f:
                    digests.append(hashlib.sha256(f.read()).hexdigest())

            threads = [threading.Thread(target=read) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert digests == [hashlib.sha256(repo.files["big/large.bin"]).hexdigest()] * 4
            assert log.content_paths()["big/large.bin"] == 1


def test_reading_a_file_prefetches_its_folder(mesa_emulator, tmp_path) -> None:
    files = {f"pkg/f{i}.txt": f"file {i}\n".encode() for i in range(6)}
    small = make_repo(mesa_emulator, tmp_path, "prefetch", files)
    with small.client() as client:
        log = RequestLog(client)
        with mount(client, org=small.org, repo=small.name) as m:
            with open(os.path.join(m.path, "pkg/f0.txt"), "rb") as f:
                assert f.read() == b"file 0\n"
            deadline = time.monotonic() + 10
            while sum(log.content_paths()[p] for p in files) < len(files):
                assert time.monotonic() < deadline, log.content_paths()
                time.sleep(0.01)
            before = log.count()
            for path, data in files.items():
                with open(os.path.join(m.path, path), "rb") as f:
                    assert f.read() == data
            assert log.count() == before  # all were there already
            assert all(log.content_paths()[p] == 1 for p in files)


def test_a_folder_longer_than_one_page_is_listed_whole(mesa_emulator, tmp_path) -> None:
    files = {f"many/f{i:04d}.txt": b"x" for i in range(1005)}  # the API pages by 1000
    wide = make_repo(mesa_emulator, tmp_path, "wide", files)
    with wide.client() as client:
        log = RequestLog(client)
        # No tree fetch: its deep listings would be counted here too (see test_tree_fetch).
        with mount(client, org=wide.org, repo=wide.name, prefetch=False) as m:
            names = os.listdir(os.path.join(m.path, "many"))
            assert sorted(names) == sorted(p.split("/")[1] for p in files)
            asked = [r.url.params for r in log.requests if r.url.params.get("path") == "many"]
            # A subtree page first; it cannot hold the whole folder, so a plain listing.
            assert [params.get("depth") for params in asked] == ["10", "1", "1"]
            assert "cursor" in asked[2]
            assert os.stat(os.path.join(m.path, "many/f1004.txt")).st_size == 1


def test_listing_a_folder_lists_what_is_below_it_in_one_request(mesa_emulator, tmp_path) -> None:
    files = {
        f"top{a}/mid{b}/leaf{c}.txt": b"x" * c for a in range(3) for b in range(4) for c in range(5)
    }
    files |= {f"top0/mid0/deeper/{c}.txt": b"y" for c in range(3)}
    tree = make_repo(mesa_emulator, tmp_path, "subtree", files)
    # Every path with its type, and a file's size (folder sizes differ from a checkout's).
    find = ["find", ".", "-type", "f", "-printf", "%p %s\\n", "-o", "-printf", "%p %y\\n"]
    expected = subprocess.run(find, cwd=tree.checkout, capture_output=True, check=True).stdout
    with tree.client() as client:
        log = RequestLog(client)
        with mount(client, org=tree.org, repo=tree.name, prefetch=False) as m:
            got = subprocess.run(find, cwd=m.path, capture_output=True, check=True).stdout
            listings = [r.url.params for r in log.requests if r.url.path.endswith("/content")]
    without_git = b"\n".join(line for line in expected.split(b"\n") if b"./.git" not in line)
    assert sorted(got.splitlines()) == sorted(without_git.splitlines())
    # The root (listed as the mount starts), then one subtree page per top folder: not one
    # request for each of the 16 folders.
    assert sorted(params.get("path", "") for params in listings) == ["", "top0", "top1", "top2"]


def test_kernels_without_no_open_support_get_libfuse_opens(
    repo: Repo, client: Mesa, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mesa_sdk.fs import operations

    assert operations.kernel_skips_open("5.10.0-21-amd64")
    assert not operations.kernel_skips_open("4.19.0")
    assert not operations.kernel_skips_open("weird")
    monkeypatch.setattr(operations, "kernel_skips_open", lambda: False)
    with mount(client, org=repo.org, repo=repo.name) as m:
        assert isinstance(m._operations, operations.OpenlessReadOperations)
        with open(os.path.join(m.path, "README.md"), "rb") as f:
            assert f.read() == repo.files["README.md"]


def test_mount_at_a_sha_and_an_older_commit(repo: Repo, client: Mesa) -> None:
    commits = client.commits.list(repo=repo.name, ref="main", limit=2).result.commits
    older = commits[1].sha  # before the symlinks were added
    with mount(client, org=repo.org, repo=repo.name, ref=older) as m:
        assert m.sha == older
        assert not os.path.lexists(os.path.join(m.path, "link-to-readme"))
        assert os.path.exists(os.path.join(m.path, "README.md"))
    with mount(client, org=repo.org, repo=repo.name, ref=repo.head[:12]) as m:
        assert m.sha == repo.head


def test_unknown_repository_or_ref_fails_before_mounting(repo: Repo, client: Mesa) -> None:
    with pytest.raises(NotFoundError):
        mount(client, org=repo.org, repo="no-such-repo")
    with pytest.raises(NotFoundError):
        mount(client, org=repo.org, repo=repo.name, ref="no-such-branch")


def test_unmount_leaves_nothing_behind(repo: Repo, client: Mesa, tmp_path) -> None:
    with mount(client, org=repo.org, repo=repo.name) as m:
        temp_mount, cache = m.path, m._cache_root
        assert m.mounted and temp_mount in mounted_paths()
        with open(os.path.join(m.path, "README.md"), "rb") as f:
            f.read()
        assert any(cache.iterdir())
    assert temp_mount not in mounted_paths()
    assert not os.path.exists(temp_mount)  # the temporary folders are removed
    assert not os.path.exists(cache)

    given = tmp_path / "mnt"
    given.mkdir()  # an existing folder is kept; a missing one is made and removed
    with (
        pytest.raises(RuntimeError, match="boom"),
        mount(client, org=repo.org, repo=repo.name, path=given) as m,
    ):
        assert os.path.ismount(given)
        os.listdir(given)
        raise RuntimeError("boom")
    assert not os.path.ismount(given)
    assert str(given) not in mounted_paths()
    assert os.path.isdir(given) and os.listdir(given) == []


def test_busy_mount_still_unmounts(repo: Repo, client: Mesa) -> None:
    with ExitStack() as stack:
        with mount(client, org=repo.org, repo=repo.name) as m:
            stack.enter_context(open(os.path.join(m.path, "README.md"), "rb"))  # held open
            path = m.path
        assert path not in mounted_paths()
    assert path not in mounted_paths()


def test_mount_point_must_be_empty(repo: Repo, client: Mesa, tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(MountError, match="not empty"):
        mount(client, org=repo.org, repo=repo.name, path=tmp_path)
    assert str(tmp_path) not in mounted_paths()
