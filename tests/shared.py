"""Helpers every test folder may use: one commit author, and the bodies of commits and their
edits as the API takes them (plain dicts, for the SDK and for raw HTTP alike)."""

from __future__ import annotations

import contextlib
import socketserver
import subprocess
import sys
import threading
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any, TypeVar

AUTHOR = {"name": "Bot", "email": "bot@example.com"}
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def repo_json(name: str = "widgets", **overrides: object) -> dict[str, object]:
    """A repository as the real service answers it (the official client requires every key)."""
    return {
        "id": "repo_1",
        "org": "acme",
        "name": name,
        "default_branch": "main",
        "head_sha": SHA,
        "size_bytes": 1234,
        "created_at": "2026-11-22T08:00:00Z",
        "upstream": None,
        **overrides,
    }


def commit_body(
    message: str, edits: list[dict[str, Any]], branch: str = "main", **extra: Any
) -> dict[str, Any]:
    """A commit of `edits` on `branch` by AUTHOR; `extra` adds fields (`base_sha`...)."""
    return {"branch": branch, "message": message, "author": AUTHOR, "edits": edits, **extra}


def create(path: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "action": "create", "content": content, **extra}


def update(path: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "action": "update", "content": content, **extra}


def delete(path: str) -> dict[str, Any]:
    return {"path": path, "action": "delete"}


MYPY_TIMEOUT_SECONDS = 600


def assert_mypy_strict_passes(*targets: str, cwd: Path, options: tuple[str, ...] = ()) -> None:
    """Runs `mypy --strict` on `targets` (paths relative to `cwd`) and fails with its output
    unless it finds nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *options, *targets],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


ServerT = TypeVar("ServerT", bound=socketserver.BaseServer)


@contextlib.contextmanager
def serving(server: ServerT) -> Iterator[ServerT]:
    """`server` answering in a thread of its own until the block ends, then shut down and
    closed."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def importable(folders: Collection[Path], packages: Collection[str]) -> Iterator[None]:
    """Packages generated into `folders` importable until the block ends; then the folders
    leave `sys.path` and the packages `sys.modules`, so that the next test imports afresh."""
    added = [str(folder) for folder in folders]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            sys.path.remove(folder)
        for name in [name for name in sys.modules if name.split(".")[0] in packages]:
            del sys.modules[name]
