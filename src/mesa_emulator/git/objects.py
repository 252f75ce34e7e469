"""Commits and signatures as plain values, and finding objects by (abbreviated) sha."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pygit2
from pygit2.enums import FileMode

from mesa_emulator.git.errors import CommitNotFound, GitOpsError

__all__ = [
    "HEX_RE",
    "MIN_ABBREV",
    "MODE_BLOB",
    "MODE_COMMIT",
    "MODE_EXEC",
    "MODE_LINK",
    "MODE_TREE",
    "CommitInfo",
    "Signature",
    "commit_info",
    "from_git_signature",
    "lookup_commit",
    "lookup_object",
    "to_git_signature",
]

MODE_TREE = int(FileMode.TREE)
MODE_BLOB = int(FileMode.BLOB)
MODE_EXEC = int(FileMode.BLOB_EXECUTABLE)
MODE_LINK = int(FileMode.LINK)
MODE_COMMIT = int(FileMode.COMMIT)

HEX_RE = re.compile(r"[0-9a-fA-F]+")
MIN_ABBREV = 7


@dataclass(frozen=True)
class Signature:
    """Author/committer identity.  ``time`` should be timezone-aware (naive means UTC).

    Git stores whole seconds and a UTC offset in whole minutes; sub-second precision is
    dropped when writing.
    """

    name: str
    email: str
    time: datetime


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    message: str
    author: Signature
    committer: Signature
    parents: list[str]
    tree_sha: str


def to_git_signature(sig: Signature) -> pygit2.Signature:
    when = sig.time
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.replace(tzinfo=timezone.utc)
    offset = when.utcoffset()
    offset_minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    try:
        return pygit2.Signature(sig.name, sig.email, math.floor(when.timestamp()), offset_minutes)
    except (ValueError, pygit2.GitError) as exc:
        raise GitOpsError(f"invalid signature {sig.name!r} <{sig.email}>: {exc}") from exc


def _decode(raw: bytes, encoding: str | None = None) -> str:
    try:
        return raw.decode(encoding or "utf-8", "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def from_git_signature(sig: pygit2.Signature) -> Signature:
    tz = timezone(timedelta(minutes=sig.offset))
    return Signature(
        name=_decode(sig.raw_name),
        email=_decode(sig.raw_email),
        time=datetime.fromtimestamp(sig.time, tz),
    )


def commit_info(commit: pygit2.Commit) -> CommitInfo:
    return CommitInfo(
        sha=str(commit.id),
        message=_decode(commit.raw_message, commit.message_encoding),
        author=from_git_signature(commit.author),
        committer=from_git_signature(commit.committer),
        parents=[str(p) for p in commit.parent_ids],
        tree_sha=str(commit.tree_id),
    )


def lookup_object(repo: pygit2.Repository, sha: str) -> pygit2.Object | None:
    """Object by full or unique abbreviated (>= 7) hex sha; None if absent or ambiguous."""
    if not isinstance(sha, str) or not (MIN_ABBREV <= len(sha) <= 40):
        return None
    if not HEX_RE.fullmatch(sha):
        return None
    try:
        return repo.get(sha.lower())
    except (KeyError, ValueError):  # ValueError covers InvalidError and AmbiguousError
        return None


def lookup_commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    obj = lookup_object(repo, sha)
    if not isinstance(obj, pygit2.Commit):
        raise CommitNotFound(sha if isinstance(sha, str) else repr(sha))
    return obj
