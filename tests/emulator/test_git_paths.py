"""The emulator refuses exactly the paths, special files and branch names that git refuses.

The `git` binary is the oracle: a tree holding the name (or a `.gitmodules` holding the text)
is written with `git mktree` and checked with `git fsck --strict`; a branch name with
`git check-ref-format`.  Our rules must agree with it, except where they are documented to be
stricter.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mesa_emulator.git.branch_names import is_valid_branch_name
from mesa_emulator.git.paths import (
    MAX_PATH_BYTES,
    MAX_PATH_SEGMENTS,
    file_content_problem,
    path_problem,
)


def _git(repo: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, timeout=60
    )


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    assert (
        subprocess.run(["git", "init", "-q", "--bare", str(tmp_path)], timeout=60).returncode == 0
    )
    return tmp_path


def _fsck_accepts_tree(repo: Path, entries: list[tuple[str, bytes, bool]]) -> bool:
    """Whether `git fsck --strict` accepts a tree of these (name, file content, as folder)."""
    lines = []
    for name, content, as_folder in entries:
        blob = _git(repo, "hash-object", "-w", "--stdin", stdin=content).stdout.decode().strip()
        if as_folder:
            inner = _git(repo, "mktree", stdin=f"100644 blob {blob}\tx\n".encode())
            lines.append(f"040000 tree {inner.stdout.decode().strip()}\t{name}\n".encode())
        else:
            lines.append(f"100644 blob {blob}\t{name}\n".encode())
    assert _git(repo, "mktree", stdin=b"".join(lines)).returncode == 0
    return _git(repo, "fsck", "--strict", "--no-dangling").returncode == 0


NAMES = [
    # git refuses: `.git` as some file system reads it.
    ".git",
    ".GIT",
    ".Git.",
    ".git ",
    ".git . .",
    ".git::$INDEX_ALLOCATION",
    ".git:stream",
    "git~1",
    "GIT~1",
    ".git\u200c",
    "\u200c.git",
    ".g\u200dit",
    ".gi\ufefft",
    ".git\u202e",
    # git accepts.
    "git~2",
    "git~10",
    ".gït",
    ".git\u200cx",
    ".gitx",
    "git",
    ".github",
    ".gitignore",
    ".gitkeep",
    "a.git",
    "with space",
    "ünïcödé",
    "..a",
    "a..",
    ".a",
    "-x",
    "x~1",
    "%2e%2e",
]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_is_refused_exactly_when_git_fsck_refuses_it(bare: Path, name: str) -> None:
    accepted = _fsck_accepts_tree(bare, [(name, b"x\n", False)])
    assert (path_problem(name) is None) == accepted, (name, path_problem(name))
    assert (path_problem(f"dir/{name}/file") is None) == accepted


@pytest.mark.parametrize(
    "name",
    [".gitmodules", ".GITMODULES", "gitmod~1", "GI7EBA~1", ".gitmodules .", ".gitattributes",
     "gi7d29~1", ".gitignore", ".mailmap"],
)  # fmt: skip
def test_a_special_file_as_a_folder_is_refused_exactly_when_git_fsck_refuses_it(
    bare: Path, name: str
) -> None:
    accepted = _fsck_accepts_tree(bare, [(name, b"x\n", True)])
    problem = path_problem(f"{name}/x")
    assert (problem is None) == accepted, (name, problem)
    if problem is not None:
        assert problem == f"makes {name!r} a folder; git requires it to be a file"


GITMODULES = [
    b'[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwn\n',
    b'[submodule "x"]\n\tpath = x\n\turl = https://example.com/x.git\n',
    b'[submodule "x"]\n\tpath = -x\n\turl = ./x\n',
    b'[submodule "../../x"]\n\tpath = x\n\turl = ./x\n',
    b'[submodule "a/..\\\\b"]\n\turl = ./x\n',
    b'[submodule "x"]\n\tupdate = !rm -rf /\n',
    b'[submodule "x"]\n\tupdate = rebase\n',
    b'[submodule "x"]\n\turl = "  --foo"\n',
    b'[submodule "x"]\n\turl = "-foo"\n',
    b'[submodule "x"]\n\turl = \\\n-foo\n',
    b"[submodule.X]\n\turl = -foo\n",
    b'[SubModule "x"]\n\tURL = -foo\n',
    b'[submodule "x"] url = -x\n',
    b'[submodule "x"]\r\n\turl = -x\r\n',
    b'[submodule "x"]\n\turl = ok ; -comment\n',
    b'[submodule "x"]\n\turl = ./%0ahost\n',
    b'[submodule "x"]\n\turl = ../:foo\n',
    b'[submodule "x"]\n\turl = ..//foo\n',
    b'[submodule "x"]\n\turl = ../foo\n',
    b'[submodule "x"]\n\turl = https://%0aexample.com/x\n',
    b'[submodule "x"]\n\turl = https:///x\n',
    b'[submodule "x"]\n\turl = http::https://example.com/x\n',
    b'[submodule "x"]\n\turl = git://example.com/%0a\n',
    b'[submodule "x"]\n\turl\n',
    b"[submodule]\n\turl = -x\n",
    b"[core]\n\tbare = true\n",
    b'[submodule "\xc3\xa9"]\n\turl = ./x\n',
    b"# just a comment\n",
    b"",
]


@pytest.mark.parametrize("text", GITMODULES)
def test_a_gitmodules_is_refused_exactly_when_git_fsck_refuses_it(bare: Path, text: bytes) -> None:
    accepted = _fsck_accepts_tree(bare, [(".gitmodules", text, False)])
    problem = file_content_problem("sub/.gitmodules", text)
    assert (problem is None) == accepted, (text, problem)


@pytest.mark.parametrize(
    "text",
    [
        b"hello world\n",
        b'[submodule "x"\n',
        b'[submodule "x"]\n\turl = "unterminated\n',
        b'[submodule "x"]\n\turl = a\\qb\n',
        b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 3\n",
    ],
)
def test_a_gitmodules_that_does_not_parse_is_refused_though_fsck_only_notes_it(
    bare: Path, text: bytes
) -> None:
    assert _fsck_accepts_tree(bare, [(".gitmodules", text, False)])
    assert file_content_problem(".gitmodules", text) == "does not parse as git config"


def test_gitmodules_problems_name_the_submodule_and_the_reason() -> None:
    assert file_content_problem(".gitmodules", GITMODULES[0]) == (
        "gives submodule 'x' the url '--upload-pack=touch /tmp/pwn', which starts with '-' "
        "(git would read it as an option)"
    )
    assert file_content_problem(".gitmodules", GITMODULES[3]) == (
        "names a submodule '../../x', which has a '..' component"
    )
    assert file_content_problem(".gitmodules", GITMODULES[5]) == (
        "gives submodule 'x' 'update = !rm -rf /', which runs a command"
    )


@pytest.mark.parametrize("length", [2047, 2048])
def test_a_gitattributes_line_is_refused_exactly_when_git_fsck_refuses_it(
    bare: Path, length: int
) -> None:
    text = b"*.c diff\n" + b"a" * length + b"\n"
    accepted = _fsck_accepts_tree(bare, [(".gitattributes", text, False)])
    problem = file_content_problem(".gitattributes", text)
    assert (problem is None) == accepted
    assert accepted == (length < 2048)


def test_the_limits_are_paths_git_accepts(bare: Path) -> None:
    """A path at both limits is one git stores and fsck accepts; one byte or one segment more
    is refused, naming the limit."""
    deepest = "/".join(["d"] * (MAX_PATH_SEGMENTS - 1) + ["f"])
    longest = ("n" * 255 + "/") * 15 + "n" * (MAX_PATH_BYTES - 256 * 15)
    for path in (deepest, longest):
        assert path_problem(path) is None
        index = {"GIT_INDEX_FILE": str(bare / "index")}
        blob = _git(bare, "hash-object", "-w", "--stdin", stdin=b"x").stdout.decode().strip()
        added = subprocess.run(
            [
                "git",
                "-C",
                str(bare),
                "update-index",
                "--add",
                "--cacheinfo",
                f"100644,{blob},{path}",
            ],
            capture_output=True,
            env={**os.environ, **index},
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        tree = subprocess.run(
            ["git", "-C", str(bare), "write-tree"],
            capture_output=True,
            env={**os.environ, **index},
            timeout=60,
        )
        assert tree.returncode == 0, tree.stderr
        assert _git(bare, "fsck", "--strict", "--no-dangling").returncode == 0
        (bare / "index").unlink()
    assert path_problem(deepest + "/g") == (
        f"has {MAX_PATH_SEGMENTS + 1} segments; the limit is {MAX_PATH_SEGMENTS}"
    )
    assert path_problem(longest + "n") == (
        f"is {MAX_PATH_BYTES + 1} bytes long; the limit is {MAX_PATH_BYTES} bytes"
    )


BRANCHES = ["main", "feature/x", "a..b", "a/.b", "a.lock", "a/b.lock", "a.lock/b", ".a", "a.",
            "a/", "/a", "a//b", "a@{b", "a@b", "a b", "a\tb", "a~b", "a^b", "a:b", "a?b", "a*b",
            "a[b", "a\\b", "a\x7fb", "ünï", "x\u200cy", "refs/heads/x", "a\x01", "a.lock.b",
            "..", ".", "a/..", "a/./b", "\u00a0", "a{b", "a}b", "a'b", 'a"b', "a%b", "a#b",
            "x/.lock", "x/-y", "a" * 255]  # fmt: skip


@pytest.mark.parametrize("name", BRANCHES)
def test_a_branch_name_is_refused_exactly_when_git_check_ref_format_refuses_it(
    name: str,
) -> None:
    checked = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True, timeout=60
    )
    assert is_valid_branch_name(name) == (checked.returncode == 0), name


@pytest.mark.parametrize("name", ["-a", "HEAD", "@", "a" * 256])
def test_branch_names_git_accepts_that_the_contract_refuses(name: str) -> None:
    """A leading '-' (an option), 'HEAD' and '@' (both name HEAD in revision syntax), and more
    than 255 bytes (the contract's maxLength)."""
    checked = subprocess.run(
        ["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True, timeout=60
    )
    assert checked.returncode == 0
    assert not is_valid_branch_name(name)
