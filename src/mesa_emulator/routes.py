"""The route table of the Depot API and how a raw request path finds its route.

Routing works on the raw path (``scope["raw_path"]``): it is split on ``/`` and each segment is
percent-decoded on its own, so ``/acme/r/branches/feature%2Fx`` reaches the branch
``feature/x``.  A literal segment wins over a parameter (``/acme/repos`` lists repositories; no
repository may be named ``repos``).  Each route carries exactly the scope of its operation's
``security`` requirement in openapi.yaml (a test checks the table against the spec).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from starlette.responses import Response

from mesa_emulator.errors import ApiError
from mesa_emulator.operations import (
    admin,
    branches,
    commits,
    content,
    diffs,
    lfs,
    merge,
    org,
    repos,
    upstream,
)
from mesa_emulator.operations.base import OperationContext

__all__ = ["API_PREFIX", "ROUTES", "Route", "RouteMatch", "match_route", "split_path"]

API_PREFIX = "/api/v1"

Handler = Callable[[OperationContext], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # the path as openapi.yaml writes it, e.g. "/{org}/{repo}/branches/{branch}"
    operation_id: str
    scope: str
    handler: Handler
    segments: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.template.strip("/").split("/")))

    @property
    def accepts_idempotency_key(self) -> bool:
        # Every method that changes something: a DELETE whose answer was lost is replayed too.
        return self.method in ("POST", "PATCH", "DELETE")

    @property
    def specificity(self) -> tuple[bool, ...]:
        """Which segments are literal; a literal earlier in the path wins a tie."""
        return tuple(not s.startswith("{") for s in self.segments)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/{org}", "getOrg", "repo:read", org.get_org),
    Route("POST", "/{org}/repos", "createRepo", "repo:create", repos.create_repo),
    Route("GET", "/{org}/repos", "listRepos", "repo:read", repos.list_repos),
    Route("GET", "/{org}/{repo}", "getRepo", "repo:read", repos.get_repo),
    Route("PATCH", "/{org}/{repo}", "updateRepo", "repo:create", repos.update_repo),
    Route("DELETE", "/{org}/{repo}", "deleteRepo", "repo:delete", repos.delete_repo),
    Route("GET", "/{org}/{repo}/sync", "getSyncStatus", "repo:read", upstream.get_sync_status),
    Route("POST", "/{org}/{repo}/sync", "syncRepo", "git:write", upstream.sync_repo),
    Route("GET", "/{org}/{repo}/branches", "listBranches", "git:read", branches.list_branches),
    Route("POST", "/{org}/{repo}/branches", "createBranch", "git:write", branches.create_branch),
    Route(
        "DELETE",
        "/{org}/{repo}/branches/{branch}",
        "deleteBranch",
        "git:write",
        branches.delete_branch,
    ),
    Route("GET", "/{org}/{repo}/commits", "listCommits", "git:read", commits.list_commits),
    Route("POST", "/{org}/{repo}/commits", "createCommit", "git:write", commits.create_commit),
    Route("GET", "/{org}/{repo}/commits/{sha}", "getCommit", "git:read", commits.get_commit),
    Route("GET", "/{org}/{repo}/content", "getContent", "git:read", content.get_content),
    Route("GET", "/{org}/{repo}/diff", "getDiff", "git:read", diffs.get_diff),
    Route("POST", "/{org}/{repo}/merge/{base}", "mergeBranch", "git:write", merge.merge_branch),
    Route("POST", "/{org}/api-keys", "createApiKey", "admin", admin.create_api_key),
    Route("GET", "/{org}/api-keys", "listApiKeys", "admin", admin.list_api_keys),
    Route("DELETE", "/{org}/api-keys/{id}", "revokeApiKey", "admin", admin.revoke_api_key),
    Route("POST", "/{org}/{repo}/lfs/objects", "lfsUpload", "git:write", lfs.lfs_upload),
    Route(
        "POST",
        "/{org}/{repo}/lfs/objects/download",
        "lfsDownload",
        "git:read",
        lfs.lfs_download,
    ),
)


def split_path(raw: bytes) -> list[str]:
    """Segments of a raw path (what follows the API prefix, starting with '/'), each
    percent-decoded as UTF-8.  Empty segments are kept (and match no route)."""
    text = raw.decode("latin-1")
    if not text.startswith("/"):
        return [text]
    out: list[str] = []
    for segment in text[1:].split("/"):
        try:
            out.append(unquote_to_bytes(segment).decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(
                "INVALID_PARAMETER",
                f"Path segment {segment!r} is not valid percent-encoded UTF-8.",
                {"parameter": "path"},
            ) from None
    return out


@dataclass(frozen=True)
class RouteMatch:
    routes: tuple[Route, ...]  # every method of the best-matching path template
    params: dict[str, str]

    def for_method(self, method: str) -> Route | None:
        for route in self.routes:
            if route.method == method:
                return route
        return None

    @property
    def allowed(self) -> list[str]:
        return sorted({route.method for route in self.routes})


def match_route(segments: Sequence[str], routes: Sequence[Route] = ROUTES) -> RouteMatch | None:
    """The path template that best matches ``segments``, if any."""
    best: list[Route] = []
    best_score: tuple[bool, ...] | None = None
    for route in routes:
        if len(route.segments) != len(segments):
            continue
        ok = True
        for pattern, segment in zip(route.segments, segments, strict=True):
            if pattern.startswith("{"):
                if segment == "":
                    ok = False
                    break
            elif pattern != segment:
                ok = False
                break
        if not ok:
            continue
        score = route.specificity
        if best_score is None or score > best_score:
            best, best_score = [route], score
        elif score == best_score:
            best.append(route)
    if not best:
        return None
    params = {
        pattern[1:-1]: segment
        for pattern, segment in zip(best[0].segments, segments, strict=True)
        if pattern.startswith("{")
    }
    return RouteMatch(tuple(best), params)
