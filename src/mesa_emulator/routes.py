"""The route table of the Depot API and how a raw request path finds its route.

Routing works on the raw path (``scope["raw_path"]``): it is split on ``/`` and each segment is
percent-decoded on its own, so ``/acme/r/branches/feature%2Fx`` reaches the branch
``feature/x``.  A literal segment wins over a parameter (``/acme/repos`` lists repositories; no
repository may be named ``repos``).  Each route carries exactly the scope of its operation's
``security`` requirement in openapi.yaml: method, path and scope come from the contract
(:mod:`mesa_emulator.contract`); the table only names each operation's handler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from starlette.responses import Response

from mesa_emulator.contract import operation, scope_of
from mesa_emulator.errors import ApiError
from mesa_emulator.operations import (
    admin,
    analytics,
    branches,
    commits,
    content,
    diffs,
    lfs,
    merge,
    repos,
)
from mesa_emulator.operations.base import OperationContext

__all__ = ["API_PREFIX", "HANDLERS", "ROUTES", "Route", "RouteMatch", "match_route", "split_path"]

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

    @classmethod
    def serving(cls, operation_id: str, handler: Handler) -> Route:
        """The route of the contract's operation ``operation_id``: its method, path and
        scope as the contract gives them."""
        spec = operation(operation_id)
        return cls(spec.http_method, spec.path, operation_id, scope_of(operation_id), handler)

    @property
    def accepts_idempotency_key(self) -> bool:
        # Every method that changes something: a DELETE whose answer was lost is replayed too.
        return self.method in ("POST", "PATCH", "DELETE")

    @property
    def specificity(self) -> tuple[bool, ...]:
        """Which segments are literal; a literal earlier in the path wins a tie."""
        return tuple(not s.startswith("{") for s in self.segments)


HANDLERS: dict[str, Handler] = {
    "createRepo": repos.create_repo,
    "listRepos": repos.list_repos,
    "getRepo": repos.get_repo,
    "updateRepo": repos.update_repo,
    "deleteRepo": repos.delete_repo,
    "listBranches": branches.list_branches,
    "createBranch": branches.create_branch,
    "deleteBranch": branches.delete_branch,
    "listCommits": commits.list_commits,
    "createCommit": commits.create_commit,
    "getCommit": commits.get_commit,
    "getContent": content.get_content,
    "getDiff": diffs.get_diff,
    "mergeBranch": merge.merge_branch,
    "createApiKey": admin.create_api_key,
    "listApiKeys": admin.list_api_keys,
    "revokeApiKey": admin.revoke_api_key,
    "lfsUpload": lfs.lfs_upload,
    "lfsDownload": lfs.lfs_download,
    "getAnalytics": analytics.get_analytics,
    "refreshAnalytics": analytics.refresh_analytics,
    "getAgentBlame": analytics.get_agent_blame,
}
"""The handler of each operation the emulator serves, by the contract's operationId."""

ROUTES: tuple[Route, ...] = tuple(Route.serving(op, handler) for op, handler in HANDLERS.items())


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
