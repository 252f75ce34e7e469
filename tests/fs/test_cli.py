"""`mesa-fs mount ORG/REPO PATH`: mounts until SIGINT/SIGTERM, then unmounts and exits 0."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Repo, fuse_unavailable, mounted_paths

pytestmark = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))


def mesa_fs() -> list[str]:
    script = Path(sys.executable).parent / "mesa-fs"
    if script.exists():
        return [str(script)]
    found = shutil.which("mesa-fs")
    return [found] if found else [sys.executable, "-m", "mesa_sdk.fs.cli"]


def connection_env(repo: Repo) -> dict[str, str]:
    """This process's environment, with the key and URL of `repo`'s emulator."""
    return {
        **os.environ,
        "MESA_API_KEY": repo.emulator.api_key,
        "MESA_SERVER_URL": repo.emulator.url,
    }


@contextlib.contextmanager
def cli_mount(
    path: Path, args: list[str], env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """`mesa-fs mount ARGS`, mounted on `path` for the block; a process still running when
    the block ends is killed and its mount lazily unmounted."""
    process = subprocess.Popen(
        [*mesa_fs(), "mount", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_mounted(process, path)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            subprocess.run(["fusermount", "-u", "-z", str(path)], check=False)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> bytes:
    """Signals `mesa-fs` to unmount and exit; its stderr."""
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=20)
    return stderr


def wait_mounted(process: subprocess.Popen[bytes], path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while str(path) not in mounted_paths():
        if process.poll() is not None:
            raise AssertionError(f"mesa-fs exited {process.returncode}: {process.stderr.read()!r}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "not mounted in time"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_mounts_reads_and_unmounts_on_signal(repo: Repo, tmp_path: Path, sig: int) -> None:
    path = tmp_path / "mnt"
    args = [f"{repo.org}/{repo.name}", str(path), "--ref", "main"]
    with cli_mount(path, args, connection_env(repo)) as process:
        assert (path / "README.md").read_bytes() == repo.files["README.md"]
        assert os.readlink(path / "link-to-readme") == "README.md"
        stderr = stop(process, sig)
    assert process.returncode == 0, stderr
    assert str(path) not in mounted_paths()
    assert b"mounted on" in stderr


def test_cli_rejects_a_bad_repository_argument(tmp_path: Path) -> None:
    result = subprocess.run(
        [*mesa_fs(), "mount", "no-slash", str(tmp_path / "m")], capture_output=True, check=False
    )
    assert result.returncode == 2
    assert b"ORG/REPO" in result.stderr


def test_cli_rejects_overlay_options_without_writable(tmp_path: Path) -> None:
    result = subprocess.run(
        [*mesa_fs(), "mount", "a/b", str(tmp_path / "m"), "--overlay-dir", str(tmp_path)],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == b"mesa-fs: --overlay-dir and --message need --writable\n"


def test_cli_writable_commits_on_exit_with_a_message(repo: Repo, tmp_path: Path) -> None:
    from .conftest import make_repo

    small = make_repo(repo.emulator, tmp_path, "cli", {"a.txt": b"a\n"})
    path = tmp_path / "mnt"
    args = [f"{small.org}/{small.name}", str(path), "--writable", "--message", "From the CLI"]
    with cli_mount(path, args, connection_env(small)) as process:
        (path / "b.txt").write_text("b\n")
        stderr = stop(process)
    assert process.returncode == 0, stderr
    assert b"(writable, changes journalled in /" in stderr
    with small.client() as client:
        head = client.commits.list(repo=small.name, limit=1).result.commits[0]
        assert head.message.strip() == "From the CLI"
        assert client.content.get_raw(repo=small.name, path="b.txt", ref=head.sha) == b"b\n"


def clean_env() -> dict[str, str]:
    """This process's environment without the Mesa variables a user may not have set."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("MESA_API_KEY", "MESA_SERVER_URL", "MESA_ORG")
    }


def test_cli_takes_the_connection_from_options(repo: Repo, tmp_path: Path) -> None:
    path = tmp_path / "mnt"
    options = ["--api-key", repo.emulator.api_key, "--server-url", repo.emulator.url]
    args = [repo.name, str(path), "--org", repo.org, *options]
    with cli_mount(path, args, clean_env()) as process:
        assert (path / "README.md").read_bytes() == repo.files["README.md"]
        stderr = stop(process)
    assert process.returncode == 0, stderr


def test_cli_takes_the_organization_from_the_environment(repo: Repo, tmp_path: Path) -> None:
    path = tmp_path / "mnt"
    env = clean_env() | {
        "MESA_API_KEY": repo.emulator.api_key,
        "MESA_SERVER_URL": repo.emulator.url,
        "MESA_ORG": repo.org,
    }
    with cli_mount(path, [repo.name, str(path)], env) as process:
        assert (path / "README.md").read_bytes() == repo.files["README.md"]
        stderr = stop(process)
    assert process.returncode == 0, stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mount", "acme/app", "mnt"], "no API key: give --api-key KEY or set MESA_API_KEY"),
        (
            ["commit", "overlay", "--message", "m"],
            "no API key: give --api-key KEY or set MESA_API_KEY",
        ),
        (
            ["mount", "app", "mnt", "--api-key", "k"],
            "no organization for 'app': give ORG/REPO, --org ORG or set MESA_ORG",
        ),
        (
            ["mount", "acme/app", "mnt", "--api-key", "k", "--server-url", "ftp://example"],
            "--server-url must be an http or https URL such as https://depot.mesa.dev/api/v1, "
            "got 'ftp://example'",
        ),
        (
            ["mount", "acme/app", "mnt", "--api-key", "k", "--server-url", "https://u:p@x/api"],
            "--server-url: must not hold credentials (user:password@); give it with --api-key",
        ),
    ],
    ids=["no key", "no key to commit", "no org", "bad url", "url with a password"],
)
def test_cli_errors_speak_the_command_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = subprocess.run(
        [*mesa_fs(), *args],
        capture_output=True,
        check=False,
        env=clean_env(),
        cwd=tmp_path,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode() == f"mesa-fs: {message}\n"
    assert not (tmp_path / "mnt").exists()
