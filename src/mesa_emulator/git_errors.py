"""The one table from the git engine's expected failures to the API's errors.

Handlers let a :class:`~mesa_emulator.git.errors.GitOpsError` propagate; the pipeline
answers it with :func:`api_error_for` (see ``mesa_emulator.app``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mesa_emulator.errors import ApiError
from mesa_emulator.git.errors import (
    BranchExists,
    BranchMoved,
    BranchNotFound,
    CommitNotFound,
    GitOpsError,
    InvalidPath,
    InvalidRefName,
    MergeConflict,
    PathExists,
    PathNotFound,
    RefLocked,
    RefNotFound,
)

__all__ = ["api_error_for"]

logger = logging.getLogger("mesa_emulator")

_TABLE: dict[type[GitOpsError], Callable[[Any], ApiError]] = {
    InvalidRefName: lambda e: ApiError(
        "INVALID_REF_NAME", f"Invalid branch name {e.name!r}.", {"name": e.name}
    ),
    InvalidPath: lambda e: ApiError("INVALID_PATH", e.message, {"path": e.path}),
    BranchNotFound: lambda e: ApiError(
        "BRANCH_NOT_FOUND", f"Branch {e.branch!r} not found.", {"branch": e.branch}
    ),
    BranchExists: lambda e: ApiError("BRANCH_EXISTS", e.message, {"branch": e.branch}),
    BranchMoved: lambda e: ApiError(
        "BRANCH_MOVED",
        e.message,
        {"branch": e.branch, "expected": e.expected, "actual": e.actual},
    ),
    CommitNotFound: lambda e: ApiError(
        "COMMIT_NOT_FOUND", f"Commit {e.sha!r} not found.", {"sha": e.sha}
    ),
    RefNotFound: lambda e: ApiError("REF_NOT_FOUND", e.message, {"ref": e.ref}),
    PathNotFound: lambda e: ApiError("PATH_NOT_FOUND", e.message, {"path": e.path}),
    PathExists: lambda e: ApiError("PATH_EXISTS", e.message, {"path": e.path}),
    MergeConflict: lambda e: ApiError(
        "MERGE_CONFLICT",
        f"The merge conflicts in {len(e.paths)} path(s): {', '.join(e.paths[:10])}.",
        {"conflict_paths": e.paths},
    ),
    RefLocked: lambda e: ApiError(
        "SERVICE_UNAVAILABLE",
        f"Branch {e.branch!r} is being updated by another writer; retry in 1 s.",
        {"branch": e.branch},
        headers={"Retry-After": "1"},
    ),
}


def api_error_for(exc: GitOpsError) -> ApiError:
    """The contract's error for an expected git failure; 500 for any other."""
    build = _TABLE.get(type(exc))
    if build is not None:
        return build(exc)
    # Its message may name a server path: logged, never answered.
    logger.error("git operation failed: %s", exc.message)
    return ApiError("INTERNAL_ERROR", "A git operation failed unexpectedly.")
