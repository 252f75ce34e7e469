"""A mount fetches whole folder trees through the git endpoint (one request for every file of
a walk), falls back to reads file by file without it, never shows git the key on a command
line; and a commit pushed with git reads back exactly through the SDK and a mount."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mesa_emulator.server import Emulator
from mesa_sdk.fs import MountError, mount
from mesa_sdk.fs import treefetch as treefetch_module
from tests.git_cli import commit_file, git_url, run_git

from .conftest import Repo, fuse_unavailable, grep_todo, make_repo
from .test_read import RequestLog

pytestmark = pytest.mark.skipif(fuse_unavailable() is not None, reason=str(fuse_unavailable()))

FILES = {
    **{
        f"pkg/m{i}/f{j}.txt": f"module {i} file {j} TODO\n".encode()
        for i in range(4)
        for j in range(5)
    },
    "pkg/empty.txt": b"",
    "top.txt": b"top TODO\n",
}


@pytest.fixture(scope="module")
def tree_repo(mesa_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return make_repo(mesa_emulator, tmp_path_factory.mktemp("trees"), "trees", FILES)


def file_reads(log: RequestLog) -> int:
    """Requests that read one file's bytes (content requests naming a path, no depth)."""
    return sum(
        1
        for request in log.requests
        if request.url.path.endswith("/content")
        and "path" in request.url.params
        and "depth" not in request.url.params
    )


def test_a_walk_reads_every_file_from_one_fetch(tree_repo: Repo) -> None:
    with tree_repo.client() as client:
        log = RequestLog(client)
        with mount(client, org=tree_repo.org, repo=tree_repo.name) as m:
            assert grep_todo(m.path) == grep_todo(str(tree_repo.checkout))
            assert file_reads(log) == 0


def test_prefetch_when_asked_brings_the_files_below_a_folder(tree_repo: Repo) -> None:
    with tree_repo.client() as client:
        log = RequestLog(client)
        with mount(client, org=tree_repo.org, repo=tree_repo.name, prefetch=False) as m:
            assert m.prefetch("pkg/m1") == 5
            assert m.prefetch("pkg") == 15  # the other modules (m1's are cached; empty: none)
            assert m.prefetch() == 1  # top.txt
            for path, data in FILES.items():
                assert Path(m.path, path).read_bytes() == data
            assert file_reads(log) == 0


def test_without_a_git_endpoint_files_are_read_one_by_one(tree_repo: Repo) -> None:
    with tree_repo.client() as client:
        log = RequestLog(client)
        closed_port = "http://127.0.0.1:9"
        with mount(client, org=tree_repo.org, repo=tree_repo.name, vcs_url=closed_port) as m:
            with pytest.raises(MountError, match=r"the tree fetch failed: .*127\.0\.0\.1"):
                m.prefetch()
            assert grep_todo(m.path) == grep_todo(str(tree_repo.checkout))
            assert file_reads(log) == len(FILES) - 1  # every file but the empty one


def test_git_gets_the_key_in_its_environment_only(
    tree_repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_popen = subprocess.Popen

    def recording_popen(args: list[str], **kwargs: Any) -> Any:
        if args[0] == "git" and args[1].startswith("--git-dir="):  # the mount's git
            seen.append((list(args), dict(kwargs["env"])))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(treefetch_module.subprocess, "Popen", recording_popen)
    key = tree_repo.emulator.api_key
    with (
        tree_repo.client() as client,
        mount(client, org=tree_repo.org, repo=tree_repo.name, prefetch=False) as m,
    ):
        assert m.prefetch("pkg/m2") == 5
    commands = [next(arg for arg in args[2:] if not arg.startswith("--")) for args, _ in seen]
    assert commands == ["init", "fetch", "update-index", "checkout-index"]
    basic = base64.b64encode(f"t:{key}".encode()).decode()
    for (args, env), command in zip(seen, commands, strict=True):
        assert not any(key in arg or basic in arg for arg in args)
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert env["GIT_CONFIG_GLOBAL"] == os.devnull
        headers = [value for value in env.values() if basic in value]
        if command == "fetch":
            assert headers == [f"Authorization: Basic {basic}"]
        else:
            assert headers == []


def test_a_pushed_commit_reads_back_through_the_sdk_and_a_mount(
    mesa_emulator: Emulator, tmp_path: Path
) -> None:
    """The CI script: clone with git, commit, push; the API and a mount show exactly it."""
    repo = make_repo(mesa_emulator, tmp_path, "pushed", {"README.md": b"# pushed\n"})
    key = mesa_emulator.create_api_key(repo.org, ["git:read", "git:write", "repo:read"])
    checkout = tmp_path / "work"
    run_git("clone", "-q", git_url(mesa_emulator.base_url, repo.org, repo.name, key), str(checkout))
    data = b"\x00\x01binary\xff and text\n"
    sha = commit_file(checkout, "out/result.bin", data, "Add the result")
    run_git("push", "-q", "origin", "main", cwd=checkout)

    with repo.client() as client:
        assert client.content.get_raw(repo=repo.name, ref="main", path="out/result.bin") == data
        assert client.commits.get(repo=repo.name, sha=sha).message == "Add the result\n"
        with mount(client, org=repo.org, repo=repo.name, ref="main") as m:
            assert m.sha == sha
            assert Path(m.path, "out/result.bin").read_bytes() == data
            assert sorted(os.listdir(m.path)) == ["README.md", "out"]
