"""The one rule for branch names, which both the API's checks and every git write apply."""

from __future__ import annotations

import pygit2

from mesa_emulator.git.errors import InvalidRefName

__all__ = ["HEADS", "MAX_BRANCH_NAME_BYTES", "check_branch_name", "is_valid_branch_name"]

HEADS = "refs/heads/"
"""The namespace of branches: the branch ``x`` is the ref ``refs/heads/x``."""

MAX_BRANCH_NAME_BYTES = 255
"""Git has no limit, but most file systems refuse a longer file name (a loose ref is one)."""


def is_valid_branch_name(name: str) -> bool:
    """``git check-ref-format --branch`` rules, plus: not ``HEAD``, ``@`` or ``-...``,
    valid UTF-8, at most :data:`MAX_BRANCH_NAME_BYTES` bytes."""
    if not isinstance(name, str) or not name or name in ("HEAD", "@") or name.startswith("-"):
        return False
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # an unpaired surrogate
        return False
    return size <= MAX_BRANCH_NAME_BYTES and pygit2.reference_is_valid_name(HEADS + name)


def check_branch_name(name: str) -> None:
    """Raise :class:`InvalidRefName` unless ``name`` may name a branch."""
    if not is_valid_branch_name(name):
        raise InvalidRefName(name if isinstance(name, str) else repr(name))
