"""Helpers shared by the end-to-end tests: the SDK against the emulator over loopback HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from tests.shared import AUTHOR, commit_body

from mesa_sdk import APIError, Mesa
from mesa_sdk.models import CommitResult

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.yaml"

NO_RETRIES = {"strategy": "none"}


def spec_error_codes() -> dict[str, int]:
    """Every code of the contract's `ErrorCode` schema, with the status it is sent with."""
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return {
        item["const"]: int(item["x-status"])
        for item in spec["components"]["schemas"]["ErrorCode"]["oneOf"]
    }


def git_blob_sha(data: bytes) -> str:
    """The SHA-1 git gives a blob of these bytes."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The Git LFS pointer file committed for these bytes."""
    oid = hashlib.sha256(data).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n".encode()
    )


def commit(
    client: Mesa,
    repo: str,
    edits: list[dict[str, Any]],
    *,
    branch: str = "main",
    message: str = "change",
    org: str | None = None,
    **extra: Any,
) -> CommitResult:
    body = commit_body(message, edits, branch, **extra)
    if org is None:
        return client.commits.create(repo=repo, body=body)
    return client.commits.create(org=org, repo=repo, body=body)


def raised(call: Callable[[], object]) -> APIError:
    """The APIError that ``call`` raises (failing the test when it raises none)."""
    try:
        call()
    except APIError as error:
        return error
    raise AssertionError("the call succeeded, an APIError was expected")


def assert_recent(moment: datetime, slack: timedelta = timedelta(minutes=5)) -> None:
    """A server time: aware, UTC, and about now."""
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - moment) < slack


def _git_object_sha(kind: bytes, payload: bytes) -> str:
    return hashlib.sha1(kind + b" %d\x00" % len(payload) + payload).hexdigest()


def git_tree_sha(entries: dict[str, tuple[str, str]]) -> str:
    """The SHA-1 of a git tree of ``{name: (mode, sha)}``, modes as git writes them
    (``100644``, ``100755``, ``40000``), sorted the way git sorts them."""

    def sort_key(name: str) -> bytes:
        mode = entries[name][0]
        return name.encode() + (b"/" if mode == "40000" else b"")

    payload = b"".join(
        entries[name][0].encode() + b" " + name.encode() + b"\x00" + bytes.fromhex(entries[name][1])
        for name in sorted(entries, key=sort_key)
    )
    return _git_object_sha(b"tree", payload)


def git_commit_sha(
    tree: str, parents: list[str], when: datetime, message: str, who: dict[str, str] = AUTHOR
) -> str:
    """The SHA-1 of a git commit whose author and committer are ``who`` at ``when`` (UTC)."""
    stamp = f"{who['name']} <{who['email']}> {int(when.timestamp())} +0000"
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    lines += [f"author {stamp}", f"committer {stamp}"]
    return _git_object_sha(b"commit", ("\n".join(lines) + "\n\n" + message).encode())
