"""The contract's rules for names and paths, checked before anything touches git or the store."""

from __future__ import annotations

import re

from mesa_emulator.contract import param_rule
from mesa_emulator.errors import ApiError
from mesa_emulator.git.branch_names import is_valid_branch_name
from mesa_emulator.git.paths import path_problem

__all__ = [
    "check_branch_name",
    "check_org",
    "check_repo_name",
    "check_repo_path",
    "repo_name_problem",
]

# Every operation takes `org` and `getRepo` takes `repo` and `getCommit` `sha` as the others do.
ORG_RULE = param_rule("getRepo", "org")
REPO_NAME_RULE = param_rule("getRepo", "repo")
SHA_RULE = param_rule("getCommit", "sha")
RESERVED_REPO_NAMES = frozenset({"repos", "api-keys"})
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def is_visible_ascii(text: str, max_length: int) -> bool:
    return 1 <= len(text) <= max_length and _VISIBLE_ASCII.fullmatch(text) is not None


def check_org(org: str) -> None:
    if not ORG_RULE.admits(org):
        raise ApiError.invalid_parameter("org", f"'org' must {ORG_RULE.describe()}, got {org!r}.")


def repo_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a repository, or None when it can."""
    if not REPO_NAME_RULE.admits(name):
        return f"must {REPO_NAME_RULE.describe()}"
    if name.lower().endswith(".git"):
        return "must not end in '.git'"
    if name in RESERVED_REPO_NAMES:
        return "must not be 'repos' or 'api-keys'"
    return None


def check_repo_name(name: str) -> None:
    """The ``repo`` path parameter: a name that no repository can have is a bad parameter."""
    problem = repo_name_problem(name)
    if problem is not None:
        raise ApiError.invalid_parameter("repo", f"'repo' {problem}, got {name!r}.")


def check_branch_name(name: str, field: str) -> None:
    if not is_valid_branch_name(name):
        raise ApiError(
            "INVALID_REF_NAME",
            f"{field!r} is not a valid branch name: {name!r}.",
            {"field": field, "name": name},
        )


def check_repo_path(path: str, field: str) -> list[str]:
    """A path inside a repository that git would store (see :mod:`mesa_emulator.git.paths`),
    or 400 ``INVALID_PATH`` saying why.  Returns its segments."""
    problem = path_problem(path)
    if problem is not None:
        shown = repr(path) if len(path) <= 200 else repr(path[:200]) + "..."
        raise ApiError("INVALID_PATH", f"{field!r} {problem}: {shown}.", {"field": field})
    return path.split("/")
