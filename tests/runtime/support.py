"""Shared pieces of the runtime tests: tiny models and operations, a fake clock, a core."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from mesa_sdk._runtime.config import BackoffStrategy, RetryConfig, SdkDefaults
from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.errors import APIError, ErrorMap
from mesa_sdk._runtime.models import RequestModel, ResponseModel
from mesa_sdk._runtime.operation import Operation, Pagination, Param

SERVER = "https://depot.test/api/v1"
API_KEY = "mesa_test_key_5up3r_s3cr3t"
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


# -- errors, as the generator writes them ---------------------------------------------------


class ClientError(APIError):
    pass


class ServerError(APIError):
    pass


class ValidationError(ClientError):
    pass


class NotFoundError(ClientError):
    pass


class ConflictError(ClientError):
    pass


class RateLimitError(ClientError):
    pass


class MergeConflictError(ConflictError):
    pass


ERROR_MAP = ErrorMap(
    by_status={
        400: ValidationError,
        404: NotFoundError,
        409: ConflictError,
        422: ValidationError,
        429: RateLimitError,
    },
    by_code={"MERGE_CONFLICT": MergeConflictError},
    client_error=ClientError,
    server_error=ServerError,
)

DEFAULTS = SdkDefaults(
    server_url="https://depot.default.test/api/v1",
    timeout_ms=30_000,
    retry_config=RetryConfig(
        "backoff",
        BackoffStrategy(
            initial_interval=500,
            max_interval=60_000,
            exponent=1.5,
            max_elapsed_time=300_000,
            jitter=0.25,
        ),
        retry_connection_errors=True,
    ),
    api_key_env="MESA_TEST_API_KEY",
    server_url_env="MESA_TEST_SERVER_URL",
    user_agent="mesa-sdk-python/test",
    error_map=ERROR_MAP,
)

# -- models -----------------------------------------------------------------------------------


class Repo(ResponseModel):
    id: str
    name: str


class RepoList(ResponseModel):
    repos: list[Repo]
    next_cursor: str | None
    has_more: bool


class CreateRepo(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    default_branch: str = "main"


class FileEdit(RequestModel):
    path: Annotated[str, Field(min_length=1)]
    action: Literal["create", "update", "delete"]
    content: str | None = None


class CreateCommit(RequestModel):
    branch: str
    edits: Annotated[list[FileEdit], Field(min_length=1)]


class Success(ResponseModel):
    success: bool


# -- operations -----------------------------------------------------------------------------

Org = Annotated[str, Field(min_length=1, max_length=64)]
RepoName = Annotated[str, Field(min_length=1, max_length=100)]
Name = Annotated[str, Field(min_length=1, max_length=255)]

ORG = Param("org", "org", "path", Org, True)
REPO = Param("repo", "repo", "path", RepoName, True)

LIST_REPOS = Operation(
    operation_id="listRepos",
    method_name="repos.list",
    http_method="GET",
    path="/{org}/repos",
    params=(
        ORG,
        Param("limit", "limit", "query", Annotated[int, Field(ge=1, le=100)], False),
        Param("cursor", "cursor", "query", Annotated[str, Field(min_length=1)], False),
    ),
    response_type=RepoList,
    retry_status_codes=RETRYABLE,
    pagination=Pagination(
        cursor_param="cursor", next_cursor_field="next_cursor", items_field="repos"
    ),
)

GET_REPO = Operation(
    operation_id="getRepo",
    method_name="repos.get",
    http_method="GET",
    path="/{org}/{repo}",
    params=(ORG, REPO),
    response_type=Repo,
    retry_status_codes=RETRYABLE,
)

CREATE_REPO = Operation(
    operation_id="createRepo",
    method_name="repos.create",
    http_method="POST",
    path="/{org}/repos",
    params=(ORG,),
    body_model=CreateRepo,
    response_type=Repo,
    idempotency_header="Idempotency-Key",
    retry_status_codes=RETRYABLE,
)

CREATE_COMMIT = Operation(
    operation_id="createCommit",
    method_name="commits.create",
    http_method="POST",
    path="/{org}/{repo}/commits",
    params=(ORG, REPO),
    body_model=CreateCommit,
    response_type=Success,
    idempotency_header="Idempotency-Key",
    retry_status_codes=RETRYABLE,
)

# A POST that takes no idempotency key, so it must never be sent twice.
MERGE_WITHOUT_KEY = Operation(
    operation_id="mergeBranch",
    method_name="merge.perform",
    http_method="POST",
    path="/{org}/{repo}/merge/{base}",
    params=(ORG, REPO, Param("base", "base", "path", Name, True)),
    body_model=None,
    response_type=Success,
    retry_status_codes=RETRYABLE,
)

DELETE_BRANCH = Operation(
    operation_id="deleteBranch",
    method_name="branches.delete",
    http_method="DELETE",
    path="/{org}/{repo}/branches/{branch}",
    params=(ORG, REPO, Param("branch", "branch", "path", Name, True)),
    response_type=Success,
    retry_status_codes=RETRYABLE,
)

GET_CONTENT = Operation(
    operation_id="getContent",
    method_name="content.get",
    http_method="GET",
    path="/{org}/{repo}/content",
    params=(
        ORG,
        REPO,
        Param("path", "path", "query", Annotated[str, Field(max_length=4096)], False),
        Param("recursive", "recursive", "query", bool, False),
        Param("X-Trace", "X-Trace", "header", str, False),
    ),
    response_type=Repo,
    retry_status_codes=RETRYABLE,
)

DELETE_NO_RESPONSE = Operation(
    operation_id="revokeApiKey",
    method_name="admin.revoke_api_key",
    http_method="DELETE",
    path="/{org}/api-keys/{id}",
    params=(ORG, Param("id", "id", "path", str, True)),
    response_type=None,
    retry_status_codes=RETRYABLE,
)


# -- a clock that never waits ---------------------------------------------------------------


class FakeClock:
    """Monotonic time that moves only when the code sleeps or a test advances it."""

    wall_offset = 1_700_000_000.0

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self.wall_offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_core(**overrides: Any) -> ClientCore:
    """A core on SERVER with a fake clock and no jitter, unless told otherwise."""
    arguments: dict[str, Any] = {
        "api_key": API_KEY,
        "server_url": SERVER,
        "param_defaults": {"org": None},
        "timeout_ms": None,
        "retry_config": None,
        "headers": None,
        "http_client": None,
        "async_http_client": None,
    }
    arguments.update(overrides)
    core = ClientCore(DEFAULTS, **arguments)
    core.clock = FakeClock()
    core.random_fraction = lambda: 0.0
    return core


def clock_of(core: ClientCore) -> FakeClock:
    clock = core.clock
    assert isinstance(clock, FakeClock)
    return clock


def envelope(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def repo_json(name: str = "r") -> dict[str, str]:
    return {"id": f"repo_{name}", "name": name}
