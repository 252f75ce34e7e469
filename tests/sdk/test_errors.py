"""Error responses raise the typed error of their status or code, with everything a user needs."""

from __future__ import annotations

import re

import pytest
import respx

from mesa_sdk import (
    APIError,
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    MergeConflictError,
    Mesa,
    MesaError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from tests.shared import AUTHOR

from .conftest import KEY


def envelope(code: str, message: str, **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details}}


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (400, "INVALID_REQUEST", ValidationError),
        (401, "UNAUTHENTICATED", AuthenticationError),
        (403, "FORBIDDEN", AuthorizationError),
        (404, "REPO_NOT_FOUND", NotFoundError),
        (406, "NOT_ACCEPTABLE", ValidationError),
        (409, "REPO_EXISTS", ConflictError),
        (422, "IDEMPOTENCY_KEY_REUSED", ValidationError),
        (429, "RATE_LIMITED", RateLimitError),
        (500, "INTERNAL_ERROR", ServerError),
        (503, "SERVICE_UNAVAILABLE", ServerError),
    ],
)
def test_each_status_raises_its_error(
    client: Mesa, api: respx.MockRouter, status: int, code: str, error_type: type[APIError]
) -> None:
    api.get("/acme/missing").respond(
        status, json=envelope(code, "It went wrong"), headers={"X-Request-Id": "req_42"}
    )
    with pytest.raises(error_type) as caught:
        client.repos.get(repo="missing")
    error = caught.value
    assert isinstance(error, MesaError)
    # A 403 names the scope the operation needs, which the server's message did not.
    message = "It went wrong" + (" (this call needs the scope repo:read)" if status == 403 else "")
    assert (error.status_code, error.code, error.message) == (status, code, message)
    assert error.request_id == "req_42"
    assert error.headers["x-request-id"] == "req_42"


def test_merge_conflict_has_its_own_error_with_the_paths(
    client: Mesa, api: respx.MockRouter
) -> None:
    api.post("/acme/widgets/merge/main").respond(
        409, json=envelope("MERGE_CONFLICT", "Conflicts in 2 paths", conflict_paths=["a", "b"])
    )
    with pytest.raises(MergeConflictError) as caught:
        client.merge.perform(repo="widgets", base="main", body={"head": "f", "author": AUTHOR})
    assert isinstance(caught.value, ConflictError)
    assert caught.value.details == {"conflict_paths": ["a", "b"]}
    assert "Conflicts in 2 paths" in str(caught.value)


def test_rate_limit_error_says_how_long_to_wait(client: Mesa, api: respx.MockRouter) -> None:
    api.get("/acme/widgets").respond(
        429, json=envelope("RATE_LIMITED", "Slow down"), headers={"Retry-After": "7"}
    )
    with pytest.raises(RateLimitError) as caught:
        client.repos.get(repo="widgets")
    assert caught.value.retry_after == 7


def test_a_body_that_is_not_the_envelope_still_gives_the_status_error(
    client: Mesa, api: respx.MockRouter
) -> None:
    api.get("/acme/widgets").respond(502, text="<html>Bad Gateway</html>")
    with pytest.raises(ServerError) as caught:
        client.repos.get(repo="widgets")
    assert caught.value.status_code == 502
    assert caught.value.code is None
    assert caught.value.body == "<html>Bad Gateway</html>"
    assert "502" in str(caught.value)


def test_an_unknown_error_code_keeps_its_status_class(client: Mesa, api: respx.MockRouter) -> None:
    api.get("/acme/widgets").respond(409, json=envelope("BRAND_NEW_CODE", "New"))
    with pytest.raises(ConflictError) as caught:
        client.repos.get(repo="widgets")
    assert caught.value.code == "BRAND_NEW_CODE"
    assert not isinstance(caught.value, MergeConflictError)


def test_the_key_is_in_no_error_and_no_repr(client: Mesa, api: respx.MockRouter) -> None:
    api.get("/acme/widgets").respond(401, json=envelope("UNAUTHENTICATED", "Bad key"))
    with pytest.raises(AuthenticationError) as caught:
        client.repos.get(repo="widgets")
    for text in (str(caught.value), repr(caught.value), repr(client), repr(client.repos)):
        assert KEY not in text


def test_every_public_error_presents_as_mesa_sdk_errors() -> None:
    import mesa_sdk.errors

    modules = {name: getattr(mesa_sdk.errors, name).__module__ for name in mesa_sdk.errors.__all__}
    assert modules == dict.fromkeys(mesa_sdk.errors.__all__, "mesa_sdk.errors")


def test_a_traceback_names_the_public_module() -> None:
    import traceback

    # An unreachable port: connection refused at once, no retries.
    with Mesa(api_key=KEY, server_url="http://127.0.0.1:9", retry_config={"strategy": "none"}) as c:
        try:
            c.repos.get(org="acme", repo="widgets")
        except MesaError as error:
            last_line = traceback.format_exception(error)[-1]
    # Only the elapsed time (its digits) varies.
    assert re.fullmatch(
        r"mesa_sdk\.errors\.APIConnectionError: repos\.get: GET http://127\.0\.0\.1:9/acme/widgets "
        r"failed: cannot connect to http://127\.0\.0\.1:9: connection refused "
        r"\(1 attempt over \d+\.\d s\)\n",
        last_line,
    )
