"""Filesystem tests: real FUSE mounts of repositories served by the emulator."""

from __future__ import annotations

import ctypes.util
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mesa_emulator.pytest_plugin import unique_org
from mesa_emulator.server import Emulator
from mesa_sdk import Mesa
from tests.shared import AUTHOR


def fuse_unavailable() -> str | None:
    """Why real mounts cannot run here, or None when they can."""
    if not os.path.exists("/dev/fuse"):
        return "FUSE unavailable: /dev/fuse missing (a container without --device /dev/fuse)"
    if shutil.which("fusermount") is None:
        return "FUSE unavailable: fusermount not on PATH (install the `fuse` package)"
    if ctypes.util.find_library("fuse") is None:
        return "FUSE unavailable: libfuse.so.2 not found (install the `fuse` package)"
    return None


FILES: dict[str, bytes] = {
    "README.md": b"# Demo\n\nTODO: write the docs\n",
    "src/app/main.py": b"def main():\n    # TODO: parse args\n    return 0\n",
    "src/app/util/helpers.py": b"def helper(x):\n    return x * 2\n",
    "src/lib/__init__.py": b"",
    "docs/na\u00efve caf\u00e9.md": "\u00dcn\u00efc\u00f6d\u00e9 TODO\n".encode(),
    "data/blob.bin": bytes(range(256)) * 8 + b"\x00\xff\xfe",
    "big/large.bin": random.Random(7).randbytes(20 * 1024 * 1024),
}
EXECUTABLES: dict[str, bytes] = {"bin/tool.sh": b"#!/bin/sh\necho tool TODO\n"}
SYMLINKS: dict[str, str] = {
    "link-to-readme": "README.md",
    "src/app/tool-link": "../../bin/tool.sh",
    "dangling": "does/not/exist",
}


@dataclass
class Repo:
    emulator: Emulator
    org: str
    name: str
    head: str
    bare: Path
    checkout: Path
    files: dict[str, bytes] = field(default_factory=dict)
    executables: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)

    def client(self, **options: object) -> Mesa:
        return Mesa(
            api_key=self.emulator.api_key,
            server_url=self.emulator.url,
            org=self.org,
            **options,  # type: ignore[arg-type]
        )


def bare_repo_path(emulator: Emulator, org: str, name: str) -> Path:
    """The emulator's bare git repository of org/name (test code may touch internals)."""
    record = emulator.state.store.get_repo(org, name)
    assert record is not None
    return emulator.state.repo_path(record.id)


def git(
    bare: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    result = subprocess.run(
        ["git", f"--git-dir={bare}", *args],
        input=stdin,
        capture_output=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            **(env or {}),
        },
    )
    return result.stdout.decode().strip()


def add_symlinks(bare: Path, branch: str, links: dict[str, str], index: Path) -> str:
    """Commits `links` (path -> target) on `branch` of the bare repository with git itself
    (the API's edits make regular files only); returns the new head."""
    env = {"GIT_INDEX_FILE": str(index)}
    old = git(bare, "rev-parse", f"refs/heads/{branch}")
    git(bare, "read-tree", old, env=env)
    for path, target in links.items():
        blob = git(bare, "hash-object", "-w", "--stdin", stdin=target.encode())
        git(bare, "update-index", "--add", "--cacheinfo", f"120000,{blob},{path}", env=env)
    tree = git(bare, "write-tree", env=env)
    new = git(bare, "commit-tree", tree, "-p", old, "-m", "Add symlinks")
    git(bare, "update-ref", f"refs/heads/{branch}", new, old)
    return new


def make_repo(
    emulator: Emulator,
    workdir: Path,
    name: str,
    files: dict[str, bytes],
    executables: dict[str, bytes] | None = None,
    symlinks: dict[str, str] | None = None,
) -> Repo:
    """A repository on the emulator holding exactly these files, executables and symlinks,
    and a local `git clone` of it."""
    import base64

    org = unique_org(name)
    executables = executables or {}
    symlinks = symlinks or {}
    with Mesa(api_key=emulator.api_key, server_url=emulator.url, org=org) as client:
        client.repos.create(body={"name": name})
        edits = [
            {
                "path": path,
                "action": "create",
                "content": base64.b64encode(data).decode(),
                "encoding": "base64",
                "executable": path in executables,
            }
            for path, data in {**files, **executables}.items()
        ]
        client.commits.create(
            repo=name,
            body={"branch": "main", "message": "Add files", "author": AUTHOR, "edits": edits},
        )
        bare = bare_repo_path(emulator, org, name)
        if symlinks:
            add_symlinks(bare, "main", symlinks, workdir / "index")
        head = client.commits.list(repo=name, ref="main", limit=1).result.commits[0].sha
    checkout = workdir / "checkout"
    subprocess.run(["git", "clone", "-q", str(bare), str(checkout)], check=True)
    return Repo(emulator, org, name, head, bare, checkout, files, executables, symlinks)


@pytest.fixture(scope="module")
def repo(mesa_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A repository with nested folders, an executable, symlinks, a binary, an empty, a
    non-ASCII and a 20 MB file."""
    return make_repo(
        mesa_emulator,
        tmp_path_factory.mktemp("repo"),
        "demo",
        FILES,
        EXECUTABLES,
        SYMLINKS,
    )


@pytest.fixture
def client(repo: Repo) -> Iterator[Mesa]:
    with repo.client() as sdk:
        yield sdk


def mounted_paths() -> set[str]:
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return {line.split(" ")[1] for line in mounts}


def grep_todo(folder: str) -> list[str]:
    """`grep -rn TODO .` in `folder` (its `.git` left out), the lines sorted."""
    result = subprocess.run(
        ["grep", "-rn", "--exclude-dir=.git", "TODO", "."],
        cwd=folder,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return sorted(result.stdout.decode().splitlines())
