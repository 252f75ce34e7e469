"""Upstream git repositories for the upstream-sync tests: a bare repository built with the git
command in the test's folder, and a loopback HTTP server that serves it (git's "dumb" HTTP
protocol: plain files) and holds every request until the test opens its gate."""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.shared import serving

GIT_TIMEOUT_S = 60
GATE_TIMEOUT_S = 30

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Upstream Dev",
    "GIT_AUTHOR_EMAIL": "dev@upstream.test",
    "GIT_COMMITTER_NAME": "Upstream Dev",
    "GIT_COMMITTER_EMAIL": "dev@upstream.test",
}


def git(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**env, **_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1"},
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout.strip()


class GitUpstream:
    """A bare repository (``bare``) and a working clone that commits and pushes to it."""

    def __init__(self, folder: Path) -> None:
        self.bare = folder / "upstream.git"
        self.work = folder / "work"
        git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=folder)
        git("clone", "--quiet", str(self.bare), str(self.work), cwd=folder)

    def commit(self, branch: str, files: dict[str, bytes], message: str) -> str:
        """Commit ``files`` on ``branch`` (made from the current branch when new; the first
        commit makes ``main``), push it, and return the new head."""
        if git("branch", "--list", cwd=self.work):
            exists = bool(git("branch", "--list", branch, cwd=self.work))
            git("checkout", "--quiet", *([] if exists else ["-b"]), branch, cwd=self.work)
        else:
            assert branch == "main", "the first commit makes main"
        for path, data in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", f"{branch}:{branch}", cwd=self.work)
        git("update-server-info", cwd=self.bare)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str, ref: str) -> None:
        git("tag", name, ref, cwd=self.work)
        git("push", "--quiet", "origin", f"refs/tags/{name}", cwd=self.work)
        git("update-server-info", cwd=self.bare)

    def heads(self) -> dict[str, str]:
        out = git(
            "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads", cwd=self.bare
        )
        return dict(line.split(" ", 1) for line in out.splitlines())

    @property
    def file_url(self) -> str:
        return self.bare.as_uri()


class GatedGitServer(http.server.ThreadingHTTPServer):
    """Serves ``root`` over plain HTTP once ``gate`` is set; records each request's
    ``Authorization`` header."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _GatedHandler)
        self.root = root
        self.gate = threading.Event()
        self.waiting = threading.Event()
        self.authorizations: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/upstream.git"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _GatedHandler(http.server.SimpleHTTPRequestHandler):
    server: GatedGitServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=None, **kwargs)

    def translate_path(self, path: str) -> str:
        relative = path.split("?", 1)[0].removeprefix("/upstream.git/")
        return str(self.server.root / relative)

    def do_GET(self) -> None:
        self.server.authorizations.append(self.headers.get("Authorization"))
        self.server.waiting.set()
        if not self.server.gate.wait(GATE_TIMEOUT_S):
            self.send_error(503)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def gated_git_server(upstream: GitUpstream, *, open_gate: bool = False) -> Iterator[GatedGitServer]:
    """A :class:`GatedGitServer` for ``upstream`` on a free loopback port, stopped on exit
    (its gate opened first, so no request is left waiting)."""
    server = GatedGitServer(upstream.bare)
    if open_gate:
        server.gate.set()
    with serving(server):
        try:
            yield server
        finally:
            server.gate.set()
