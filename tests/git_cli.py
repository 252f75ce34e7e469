"""Running the real `git` command against the emulator's git endpoint, as a CI script would:
no credential helper, no prompt, none of the machine's git configuration, a time limit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_TIMEOUT = 60.0

_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Grace",
    "GIT_AUTHOR_EMAIL": "grace@example.com",
    "GIT_COMMITTER_NAME": "Grace",
    "GIT_COMMITTER_EMAIL": "grace@example.com",
}


def git_url(base_url: str, org: str, repo: str, key: str) -> str:
    """`http://t:KEY@HOST:PORT/ORG/REPO.git` (the user name is ignored)."""
    scheme, _, host = base_url.partition("://")
    return f"{scheme}://t:{key}@{host}/{org}/{repo}.git"


def _argv(args: tuple[str, ...]) -> list[str]:
    return ["git", "-c", "credential.helper=", "-c", "init.defaultBranch=main", *args]


def start_git(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """`git ARGS` started in the background (the caller waits for it, or kills it)."""
    return subprocess.Popen(
        _argv(args),
        cwd=cwd,
        env={**os.environ, **_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def run_git(
    *args: str, cwd: Path | None = None, check: bool = True, timeout: float = GIT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`git -c credential.helper= ARGS`; raises (with git's stderr) when `check` and it fails."""
    result = subprocess.run(
        _argv(args),
        cwd=cwd,
        env={**os.environ, **_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {args[0]} failed ({result.returncode}): {result.stderr}")
    return result


def commit_file(checkout: Path, path: str, data: bytes, message: str) -> str:
    """Writes `data` at `path` in `checkout`, commits it with git; returns the new commit."""
    target = checkout / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    run_git("add", "--", path, cwd=checkout)
    run_git("commit", "-q", "-m", message, cwd=checkout)
    return run_git("rev-parse", "HEAD", cwd=checkout).stdout.strip()
