"""Every error code of the contract's ``ErrorCode`` schema, raised through the SDK as its
typed error with ``.code``, ``.status_code``, ``.details`` and ``.request_id``.

The codes are read from ``openapi.yaml`` when the tests are collected: a code added to the
contract without a scenario here fails ``test_every_spec_code_has_a_scenario``.  Codes that the
SDK cannot produce are listed in ``HTTPX_ONLY`` with the reason, and sent with plain httpx.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from e2e_support import commit, raised, spec_error_codes
from tests.shared import AUTHOR, create, update

from mesa_emulator.server import Emulator
from mesa_sdk import (
    APIError,
    AuthenticationError,
    AuthorizationError,
    ClientError,
    ConflictError,
    HookContext,
    InvalidRequestError,
    MergeConflictError,
    Mesa,
    NotFoundError,
    RateLimitError,
    RequestOptions,
    ServerError,
    ValidationError,
)

SPEC_CODES = spec_error_codes()

Scenario = Callable[[Mesa, Emulator, str], APIError]
SCENARIOS: dict[str, Scenario] = {}


def scenario(code: str) -> Callable[[Scenario], Scenario]:
    def register(func: Scenario) -> Scenario:
        assert code not in SCENARIOS, code
        SCENARIOS[code] = func
        return func

    return register


def _repo(client: Mesa, name: str = "r", *, with_commit: bool = True) -> str | None:
    client.repos.create(body={"name": name})
    if not with_commit:
        return None
    return commit(client, name, [create("a.txt", "a\n")]).sha


def _other_client(emu: Emulator, org: str, key: str) -> Mesa:
    return Mesa(api_key=key, server_url=emu.url, org=org, retry_config={"strategy": "none"})


# ---- 400 -----------------------------------------------------------------------------------


@scenario("INVALID_REQUEST")
def _invalid_request(client: Mesa, emu: Emulator, org: str) -> APIError:
    # The body matches the schema (so the SDK sends it), but a `create` edit needs content or
    # lfs: a rule the server checks.  Schema violations never leave the SDK: see
    # test_schema_invalid_bodies_are_refused_client_side.
    _repo(client)
    error = raised(lambda: commit(client, "r", [{"path": "b.txt", "action": "create"}]))
    assert error.details["field"] == "edits.0.content"
    return error


@scenario("INVALID_PARAMETER")
def _invalid_parameter(client: Mesa, emu: Emulator, org: str) -> APIError:
    # Matches the SDK's pattern for `repo`, but no repository may end in ".git".
    error = raised(lambda: client.repos.get(repo="mirror.git"))
    assert error.details == {"parameter": "repo"}
    return error


@scenario("INVALID_CURSOR")
def _invalid_cursor(client: Mesa, emu: Emulator, org: str) -> APIError:
    head = _repo(client) or ""
    client.branches.create(repo="r", body={"name": "b", "head_sha": head})
    # A cursor of another list is not a cursor of this one.
    other = client.branches.list(repo="r", limit=1).result.next_cursor
    assert other is not None
    assert raised(lambda: client.repos.list(cursor=other)).code == "INVALID_CURSOR"
    return raised(lambda: client.repos.list(cursor="not-a-cursor"))


@scenario("INVALID_PATH")
def _invalid_path(client: Mesa, emu: Emulator, org: str) -> APIError:
    head = _repo(client)
    for bad in ("/etc/passwd", "a/../b", ".git/config", "a//b"):
        error = raised(lambda bad=bad: commit(client, "r", [create(bad, "x")]))
        assert (error.code, error.details["field"]) == ("INVALID_PATH", "edits.0.path"), bad
    assert client.repos.get(repo="r").head_sha == head
    return raised(lambda: client.content.get(repo="r", path="../etc"))


@scenario("INVALID_REF_NAME")
def _invalid_ref_name(client: Mesa, emu: Emulator, org: str) -> APIError:
    head = _repo(client) or ""
    for bad in ("a..b", "ends.lock", "has space", "-leading"):
        error = raised(
            lambda bad=bad: client.branches.create(repo="r", body={"name": bad, "head_sha": head})
        )
        assert error.code == "INVALID_REF_NAME", bad
    return raised(lambda: commit(client, "r", [create("b", "b")], branch="x~1"))


# ---- 401, 403 ------------------------------------------------------------------------------


@scenario("UNAUTHENTICATED")
def _unauthenticated(client: Mesa, emu: Emulator, org: str) -> APIError:
    made = client.admin.create_api_key(body={"name": "soon revoked", "scopes": ["repo:read"]})
    with _other_client(emu, org, made.key) as holder:
        holder.repos.list()
        client.admin.revoke_api_key(id=made.id)
        error = raised(lambda: holder.repos.list())
    with _other_client(emu, org, "mesa_" + "x" * 43) as stranger:
        assert raised(lambda: stranger.repos.list()).code == "UNAUTHENTICATED"
    return error


@scenario("FORBIDDEN")
def _forbidden(client: Mesa, emu: Emulator, org: str) -> APIError:
    reader = client.admin.create_api_key(body={"scopes": ["repo:read"]})
    with _other_client(emu, org, reader.key) as holder:
        holder.repos.list()
        return raised(lambda: holder.repos.create(body={"name": "nope"}))


# ---- 404 -----------------------------------------------------------------------------------


@scenario("NOT_FOUND")
def _not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    # No SDK call names an unknown route, but a client pointed at the wrong base URL does.
    with Mesa(
        api_key=emu.api_key, server_url=emu.base_url + "/api/v2", retry_config={"strategy": "none"}
    ) as misconfigured:
        return raised(lambda: misconfigured.repos.list(org=org))


@scenario("REPO_NOT_FOUND")
def _repo_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    return raised(lambda: client.repos.get(repo="missing"))


@scenario("BRANCH_NOT_FOUND")
def _branch_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client)
    return raised(lambda: client.branches.delete(repo="r", branch="missing"))


@scenario("REF_NOT_FOUND")
def _ref_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client)
    error = raised(lambda: client.commits.list(repo="r", ref="missing"))
    assert error.details == {"parameter": "ref", "ref": "missing"}
    return error


@scenario("COMMIT_NOT_FOUND")
def _commit_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client)
    return raised(lambda: client.commits.get(repo="r", sha="abcdef1"))


@scenario("PATH_NOT_FOUND")
def _path_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    head = _repo(client)
    edit = raised(lambda: commit(client, "r", [update("missing.txt", "x")]))
    assert edit.code == "PATH_NOT_FOUND"
    assert client.repos.get(repo="r").head_sha == head
    return raised(lambda: client.content.get(repo="r", path="missing.txt"))


@scenario("UPSTREAM_NOT_FOUND")
def _upstream_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client, with_commit=False)
    return raised(lambda: client.repos.sync(repo="r"))


@scenario("API_KEY_NOT_FOUND")
def _api_key_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    return raised(lambda: client.admin.revoke_api_key(id="key_0000000000000000"))


@scenario("WEBHOOK_NOT_FOUND")
def _webhook_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client, with_commit=False)
    return raised(lambda: client.webhooks.delete(repo="r", webhook_id="wh_0000000000000000"))


@scenario("LFS_OBJECT_NOT_FOUND")
def _lfs_object_not_found(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client, with_commit=False)
    lfs = {"oid": hashlib.sha256(b"never uploaded").hexdigest(), "size": 14}
    return raised(lambda: commit(client, "r", [{"path": "x.bin", "action": "create", "lfs": lfs}]))


# ---- 405, 406 ------------------------------------------------------------------------------


@scenario("METHOD_NOT_ALLOWED")
def _method_not_allowed(client: Mesa, emu: Emulator, org: str) -> APIError:
    # Every SDK method uses its operation's method; a before-request hook that rewrites the
    # request is the only way to send another one through the SDK.
    def to_put(context: HookContext, request: httpx.Request) -> httpx.Request:
        return httpx.Request("PUT", request.url, headers=request.headers)

    with _other_client(emu, org, emu.api_key) as hooked:
        hooked.hooks.register_before_request(to_put)
        error = raised(lambda: hooked.repos.list())
    assert error.headers.get("allow") == "GET, POST"
    return error


@scenario("NOT_ACCEPTABLE")
def _not_acceptable(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client)
    return raised(lambda: client.content.get_raw(repo="r"))


# ---- 409 -----------------------------------------------------------------------------------


@scenario("REPO_EXISTS")
def _repo_exists(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client, with_commit=False)
    client.repos.create(body={"name": "other"})
    renamed = raised(lambda: client.repos.update(repo="other", body={"name": "r"}))
    assert renamed.code == "REPO_EXISTS"
    return raised(lambda: client.repos.create(body={"name": "r"}))


@scenario("BRANCH_EXISTS")
def _branch_exists(client: Mesa, emu: Emulator, org: str) -> APIError:
    head = _repo(client) or ""
    return raised(lambda: client.branches.create(repo="r", body={"name": "main", "head_sha": head}))


@scenario("PATH_EXISTS")
def _path_exists(client: Mesa, emu: Emulator, org: str) -> APIError:
    head = _repo(client)
    through = raised(lambda: commit(client, "r", [create("a.txt/inner", "x")]))
    assert through.code == "PATH_EXISTS"
    error = raised(lambda: commit(client, "r", [create("new.txt", "n"), create("a.txt", "again")]))
    assert client.repos.get(repo="r").head_sha == head
    assert raised(lambda: client.content.get(repo="r", path="new.txt")).code == "PATH_NOT_FOUND"
    return error


@scenario("BRANCH_MOVED")
def _branch_moved(client: Mesa, emu: Emulator, org: str) -> APIError:
    root = _repo(client) or ""
    head = commit(client, "r", [create("b.txt", "b")]).sha
    error = raised(lambda: commit(client, "r", [create("c.txt", "c")], base_sha=root))
    assert client.repos.get(repo="r").head_sha == head
    return error


@scenario("DEFAULT_BRANCH")
def _default_branch(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client)
    return raised(lambda: client.branches.delete(repo="r", branch="main"))


@scenario("MERGE_CONFLICT")
def _merge_conflict(client: Mesa, emu: Emulator, org: str) -> APIError:
    root = _repo(client) or ""
    client.branches.create(repo="r", body={"name": "f", "head_sha": root})
    commit(client, "r", [update("a.txt", "feature\n")], branch="f")
    commit(client, "r", [update("a.txt", "main\n")])
    error = raised(
        lambda: client.merge.perform(repo="r", base="main", body={"head": "f", "author": AUTHOR})
    )
    assert error.details["conflict_paths"] == ["a.txt"]
    return error


@scenario("SYNC_FAILED")
def _sync_failed(client: Mesa, emu: Emulator, org: str) -> APIError:
    missing = emu.data_dir / "no-such-upstream.git"
    client.repos.create(body={"name": "r", "upstream": {"uri": str(missing)}})
    error = raised(lambda: client.repos.sync(repo="r"))
    assert error.message.startswith(f"Could not fetch {missing}: fatal: ")
    return error


@scenario("IDEMPOTENCY_KEY_IN_USE")
def _idempotency_key_in_use(client: Mesa, emu: Emulator, org: str) -> APIError:
    _repo(client, with_commit=False)
    emu.script_faults(f"/api/v1/{org}/r/commits", [{"delay_ms": 1200}], method="POST")
    options = {"idempotency_key": f"slow-{org}"}
    body = {"branch": "main", "message": "slow", "author": AUTHOR, "edits": [create("s", "s")]}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.commits.create, repo="r", body=body, request_options=options)
        deadline = time.monotonic() + 5
        while not emu.fault_log()[-1]["faults"][0]["consumed"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)  # the first request has taken the key before its delay
        error = raised(lambda: client.commits.create(repo="r", body=body, request_options=options))
        made = first.result(timeout=10)
    # Once the first request is done, the key replays its answer.
    replay = client.commits.create(repo="r", body=body, request_options=options)
    assert replay == made
    return error


@scenario("API_KEY_ALREADY_CREATED")
def _api_key_already_created(client: Mesa, emu: Emulator, org: str) -> APIError:
    options = {"idempotency_key": f"key-{org}"}
    made = client.admin.create_api_key(body={"name": "once"}, request_options=options)
    client.admin.revoke_api_key(id=made.id)  # which drops the kept secret
    error = raised(
        lambda: client.admin.create_api_key(body={"name": "once"}, request_options=options)
    )
    assert error.details == {"id": made.id}
    assert [k.id for k in client.admin.list_api_keys().api_keys if k.name == "once"] == [made.id]
    return error


# ---- 413, 422 ------------------------------------------------------------------------------


@scenario("PAYLOAD_TOO_LARGE")
def _payload_too_large(client: Mesa, emu: Emulator, org: str) -> APIError:
    # The session emulator takes 64 MiB; one with a small limit shows the same answer.
    with Emulator(max_body_bytes=8192) as small, _other_client(small, org, small.api_key) as sdk:
        sdk.repos.create(body={"name": "r"})
        error = raised(lambda: commit(sdk, "r", [create("big.txt", "x" * 10_000)]))
        assert sdk.repos.get(repo="r").head_sha is None
    assert error.details == {"limit_bytes": 8192}
    return error


@scenario("UNSUPPORTED_MEDIA_TYPE")
def _unsupported_media_type(client: Mesa, emu: Emulator, org: str) -> APIError:
    # The SDK sends JSON as application/json; a caller's header can override it.
    options: RequestOptions = {"headers": {"Content-Type": "text/plain"}}
    error = raised(lambda: client.repos.create(body={"name": "r"}, request_options=options))
    assert error.details == {"content_type": "text/plain"}
    assert [r.name for r in client.repos.list()] == []
    return error


@scenario("IDEMPOTENCY_KEY_REUSED")
def _idempotency_key_reused(client: Mesa, emu: Emulator, org: str) -> APIError:
    options = {"idempotency_key": "create-once"}
    client.repos.create(body={"name": "one"}, request_options=options)
    error = raised(lambda: client.repos.create(body={"name": "two"}, request_options=options))
    assert [r.name for r in client.repos.list()] == ["one"]
    return error


# ---- 429, 5xx ------------------------------------------------------------------------------


@scenario("RATE_LIMITED")
def _rate_limited(client: Mesa, emu: Emulator, org: str) -> APIError:
    emu.set_rate_limit(0.5, burst=1)
    try:
        client.repos.list()
        error = raised(lambda: client.repos.list())
    finally:
        emu.set_rate_limit(None)
    assert isinstance(error, RateLimitError) and error.retry_after is not None
    assert error.retry_after > 0 and error.headers["retry-after"]
    return error


@scenario("INTERNAL_ERROR")
def _internal_error(client: Mesa, emu: Emulator, org: str) -> APIError:
    emu.script_faults(f"/api/v1/{org}/repos", [{"status": 500}], method="GET")
    return raised(lambda: client.repos.list())


@scenario("SERVICE_UNAVAILABLE")
def _service_unavailable(client: Mesa, emu: Emulator, org: str) -> APIError:
    emu.script_faults(f"/api/v1/{org}/repos", [{"status": 503, "retry_after": 7}], method="POST")
    error = raised(lambda: client.repos.create(body={"name": "r"}))
    assert error.retry_after == 7
    assert raised(lambda: client.repos.get(repo="r")).code == "REPO_NOT_FOUND"
    return error


# ---- codes the SDK cannot produce ----------------------------------------------------------


def _lfs_verification_failed(client: Mesa, emu: Emulator, org: str) -> httpx.Response:
    # Sent by the pre-signed `upload_url`, which the user PUTs to with any HTTP client: no SDK
    # method sends the bytes.
    _repo(client, with_commit=False)
    data = b"the real bytes"
    spec = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
    (slot,) = client.lfs.upload(repo="r", body={"objects": [spec]}).objects
    assert slot.upload_url is not None
    response = httpx.put(slot.upload_url, content=b"other bytes!!!")
    assert client.lfs.download(repo="r", body={"objects": [spec]}).objects[0].exists is False
    return response


HTTPX_ONLY: dict[str, Callable[[Mesa, Emulator, str], httpx.Response]] = {
    "LFS_VERIFICATION_FAILED": _lfs_verification_failed,
}

EXPECTED_CLASS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    405: ClientError,
    406: ValidationError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    429: RateLimitError,
    500: ServerError,
    503: ServerError,
}


def test_every_spec_code_has_a_scenario() -> None:
    assert not set(SCENARIOS) & set(HTTPX_ONLY)
    assert set(SCENARIOS) | set(HTTPX_ONLY) == set(SPEC_CODES)


@pytest.mark.parametrize("code", sorted(SPEC_CODES))
def test_error_code_through_the_sdk(code: str, client: Mesa, emu: Emulator, mesa_org: str) -> None:
    status = SPEC_CODES[code]
    if code in HTTPX_ONLY:
        response = HTTPX_ONLY[code](client, emu, mesa_org)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        return
    if code not in SCENARIOS:
        pytest.fail(f"no scenario raises {code} yet")
    error = SCENARIOS[code](client, emu, mesa_org)
    expected = MergeConflictError if code == "MERGE_CONFLICT" else EXPECTED_CLASS[status]
    assert type(error) is expected, repr(error)
    assert (error.status_code, error.code) == (status, code), repr(error)
    assert error.message and error.request_id and error.request_id.startswith("req_")
    assert str(error) == f"{error.message} ({status} {code}, request id {error.request_id})"
    assert isinstance(error.details, dict)
    assert error.headers["x-request-id"] == error.request_id


def test_schema_invalid_bodies_are_refused_client_side(
    client: Mesa, emu: Emulator, mesa_org: str
) -> None:
    """``INVALID_REQUEST`` for a body that breaks the schema cannot come from the server through
    the SDK: the SDK validates the body and sends nothing.  The same bodies over httpx are
    answered 400 ``INVALID_REQUEST`` naming the field."""
    sent: list[str] = []
    lock = threading.Lock()

    def count(context: HookContext, request: httpx.Request) -> None:
        with lock:
            sent.append(context.method_name)

    client.hooks.register_before_request(count)
    client.repos.create(body={"name": "r"})
    bad_bodies: list[tuple[str, dict[str, object], str]] = [
        ("repos", {"name": ""}, "name"),
        ("repos", {"name": "r2", "colour": "red"}, "colour"),
        ("r/commits", {"branch": "main", "message": "m", "author": AUTHOR, "edits": []}, "edits"),
        (
            "r/commits",
            {
                "branch": "main",
                "message": "m",
                "author": AUTHOR,
                "edits": [{"path": "a", "action": "rename", "content": "x"}],
            },
            "edits.0.action",
        ),
    ]
    for path, body, field in bad_bodies:
        if path == "repos":
            with pytest.raises(InvalidRequestError) as caught:
                client.repos.create(body=body)
        else:
            with pytest.raises(InvalidRequestError) as caught:
                client.commits.create(repo="r", body=body)
        assert field.split(".")[0] in str(caught.value)
        response = httpx.post(
            f"{emu.url}/{mesa_org}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {emu.api_key}"},
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert error["details"]["field"].startswith(field.split(".")[0]), error
    assert sent == ["repos.create"]
