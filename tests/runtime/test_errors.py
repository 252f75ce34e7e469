"""Error responses become typed errors that read well, whatever the body holds."""

from __future__ import annotations

import json
import pickle

import httpx
import pydantic
import pytest
import respx

from mesa_sdk._runtime.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    FieldError,
    InvalidApiUrlError,
    InvalidOptionsError,
    InvalidRequestError,
    MesaError,
    ResponseValidationError,
)
from mesa_sdk._runtime.pipeline import api_error_from_response

from .support import (
    ERROR_MAP,
    GET_REPO,
    SERVER,
    ClientError,
    ConflictError,
    MergeConflictError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
    envelope,
    make_core,
)

REPO_ARGS = {"org": "acme", "repo": "x"}


def response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("GET", f"{SERVER}/acme/x")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


def test_envelope_gives_class_code_message_details_and_request_id() -> None:
    error = api_error_from_response(
        response(
            404,
            json=envelope("REPO_NOT_FOUND", "Repository 'x' not found", repo="x"),
            headers={"X-Request-Id": "req_123"},
        ),
        ERROR_MAP,
    )
    assert type(error) is NotFoundError
    assert error.status_code == 404
    assert error.code == "REPO_NOT_FOUND"
    assert error.message == "Repository 'x' not found"
    assert error.details == {"repo": "x"}
    assert error.request_id == "req_123"
    assert error.headers["x-request-id"] == "req_123"
    assert '"REPO_NOT_FOUND"' in error.body
    assert str(error) == "Repository 'x' not found (404 REPO_NOT_FOUND, request id req_123)"


def test_code_class_wins_when_it_belongs_to_the_status() -> None:
    error = api_error_from_response(
        response(409, json=envelope("MERGE_CONFLICT", "Conflict", conflict_paths=["a.txt"])),
        ERROR_MAP,
    )
    assert type(error) is MergeConflictError
    assert isinstance(error, ConflictError)
    assert error.details["conflict_paths"] == ["a.txt"]


def test_code_sent_with_an_unexpected_status_keeps_the_status_class() -> None:
    error = api_error_from_response(response(500, json=envelope("MERGE_CONFLICT", "?")), ERROR_MAP)
    assert type(error) is ServerError
    assert error.code == "MERGE_CONFLICT"


def test_unknown_code_gives_the_status_class() -> None:
    error = api_error_from_response(
        response(409, json=envelope("SOMETHING_NEW", "A new kind of conflict")), ERROR_MAP
    )
    assert type(error) is ConflictError
    assert error.code == "SOMETHING_NEW"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ValidationError),
        (418, ClientError),
        (429, RateLimitError),
        (500, ServerError),
        (501, ServerError),
        (599, ServerError),
    ],
)
def test_statuses_without_their_own_class_fall_back(status: int, expected: type[APIError]) -> None:
    error = api_error_from_response(response(status, json=envelope("X", "m")), ERROR_MAP)
    assert type(error) is expected


def test_html_body_gives_the_status_class_with_a_truncated_excerpt() -> None:
    html = "<html>\n<body>\n" + "<p>Bad gateway</p>\n" * 100 + "</body></html>"
    error = api_error_from_response(
        response(502, text=html, headers={"content-type": "text/html"}), ERROR_MAP
    )
    assert type(error) is ServerError
    assert error.code is None
    assert error.details == {}
    assert error.message.startswith("HTTP 502 Bad Gateway: <html> <body> <p>Bad gateway</p>")
    assert len(error.message) <= len("HTTP 502 Bad Gateway: ") + 500
    assert error.message.endswith("…")
    assert error.body == html
    assert str(error).endswith("(502)")


@pytest.mark.parametrize(
    "body",
    [
        '{"detail": "nope"}',
        '["a"]',
        '{"error": "flat string"}',
        "null",
        "plain words",
        '{"error": {}}',
    ],
)
def test_bodies_that_are_not_the_envelope_never_raise_pydantic_errors(body: str) -> None:
    error = api_error_from_response(response(404, text=body), ERROR_MAP)
    assert type(error) is NotFoundError
    assert error.code is None
    assert error.message == f"HTTP 404 Not Found: {body}"


def test_empty_body_message_is_the_status_line() -> None:
    error = api_error_from_response(response(503), ERROR_MAP)
    assert error.message == "HTTP 503 Service Unavailable"
    assert str(error) == "HTTP 503 Service Unavailable (503)"


def test_envelope_with_odd_fields_keeps_what_it_can() -> None:
    body = {"error": {"code": "NOT_FOUND", "message": "gone", "details": ["not", "a", "dict"]}}
    error = api_error_from_response(response(404, json=body), ERROR_MAP)
    assert (error.code, error.message, error.details) == ("NOT_FOUND", "gone", {})


def test_retry_after_in_seconds_and_as_http_date() -> None:
    seconds = api_error_from_response(response(429, headers={"Retry-After": "12"}), ERROR_MAP)
    assert seconds.retry_after == 12.0
    dated = api_error_from_response(
        response(
            503,
            headers={
                "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
                "Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT",
            },
        ),
        ERROR_MAP,
    )
    assert dated.retry_after == 30.0
    assert api_error_from_response(response(503), ERROR_MAP).retry_after is None
    garbage = api_error_from_response(response(503, headers={"Retry-After": "soon"}), ERROR_MAP)
    assert garbage.retry_after is None


def test_api_error_pickles_without_its_response() -> None:
    error = api_error_from_response(
        response(404, json=envelope("REPO_NOT_FOUND", "gone"), headers={"X-Request-Id": "r1"}),
        ERROR_MAP,
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFoundError
    assert (copy.status_code, copy.code, copy.request_id) == (404, "REPO_NOT_FOUND", "r1")
    assert str(copy) == str(error)
    assert copy.response is None


def test_builtin_bases_let_generic_handlers_catch_sdk_errors() -> None:
    assert issubclass(APIConnectionError, ConnectionError)
    assert issubclass(APITimeoutError, TimeoutError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(InvalidRequestError, ValueError)
    assert issubclass(InvalidApiUrlError, ValueError)
    assert issubclass(InvalidOptionsError, ValueError)
    for error_class in (APIError, APIConnectionError, ResponseValidationError, InvalidRequestError):
        assert issubclass(error_class, MesaError)
    timeout = APITimeoutError("slow", url="https://h/x", attempts=2)
    assert (str(timeout), timeout.url, timeout.attempts) == ("slow", "https://h/x", 2)
    assert pickle.loads(pickle.dumps(timeout)).url == "https://h/x"


def test_invalid_request_error_lists_every_field() -> None:
    error = InvalidRequestError(
        "repos.create",
        [FieldError("body.name", "too short"), FieldError("", "org is required")],
    )
    assert str(error) == "repos.create: body.name: too short; org is required"
    assert error.errors[0].location == "body.name"


def test_error_status_through_the_client(router: respx.MockRouter) -> None:
    router.get(f"{SERVER}/acme/x").respond(
        404,
        json=envelope("REPO_NOT_FOUND", "Repository 'x' not found"),
        headers={"X-Request-Id": "req_9"},
    )
    with pytest.raises(NotFoundError) as caught:
        make_core().call(GET_REPO, REPO_ARGS, None, None)
    assert str(caught.value) == "Repository 'x' not found (404 REPO_NOT_FOUND, request id req_9)"
    assert caught.value.response is not None
    assert caught.value.attempts == 1


def test_success_body_that_does_not_parse(router: respx.MockRouter) -> None:
    router.get(f"{SERVER}/acme/x").respond(
        200, json={"id": "repo_1"}, headers={"X-Request-Id": "req_7"}
    )
    with pytest.raises(ResponseValidationError) as caught:
        make_core().call(GET_REPO, REPO_ARGS, None, None)
    error = caught.value
    assert str(error) == (
        "repos.get: the 200 response does not match Repo: name: Field required (request id req_7)"
    )
    assert isinstance(error.cause, pydantic.ValidationError)
    assert error.status_code == 200
    assert error.body == '{"id":"repo_1"}'
    assert error.request_id == "req_7"


def test_success_body_that_is_not_json(router: respx.MockRouter) -> None:
    router.get(f"{SERVER}/acme/x").respond(200, text="<html>maintenance</html>")
    with pytest.raises(ResponseValidationError) as caught:
        make_core().call(GET_REPO, REPO_ARGS, None, None)
    assert caught.value.body == "<html>maintenance</html>"
    assert "Invalid JSON" in str(caught.value)


def test_extra_fields_in_a_success_body_are_kept(router: respx.MockRouter) -> None:
    router.get(f"{SERVER}/acme/x").respond(200, json={"id": "1", "name": "x", "stars": 3})
    repo = make_core().call(GET_REPO, REPO_ARGS, None, None)
    assert repo.model_extra == {"stars": 3}


# -- server text that echoes a credential, and bodies that are not an envelope ------------------

ECHOED_KEY = "mesa_echoed_key_0123456789abcdef"


def echoing(status: int, body: str, **headers: str) -> httpx.Response:
    request = httpx.Request(
        "GET",
        f"{SERVER}/acme/x",
        headers={"Authorization": f"Bearer {ECHOED_KEY}", **headers},
    )
    return httpx.Response(status, request=request, text=body)


def assert_nowhere(error: APIError, *secrets: str) -> None:
    for secret in secrets:
        for text in (str(error), repr(error), error.message, repr(error.details), error.body):
            assert secret not in text, text


def test_a_key_echoed_in_the_envelope_is_redacted_everywhere() -> None:
    body = json.dumps(
        envelope(
            "UNAUTHORIZED",
            f"bad header 'Authorization: Bearer {ECHOED_KEY}'",
            received={"authorization": f"Bearer {ECHOED_KEY}", "also": [ECHOED_KEY]},
            **{ECHOED_KEY: "as a key"},
        )
    )
    error = api_error_from_response(echoing(401, body), ERROR_MAP)
    assert type(error) is ClientError
    assert error.message == "bad header 'Authorization: Bearer [redacted]'"
    assert error.details == {
        "received": {"authorization": "Bearer [redacted]", "also": ["[redacted]"]},
        "[redacted]": "as a key",
    }
    assert_nowhere(error, ECHOED_KEY)


def test_a_key_hidden_by_json_escapes_is_redacted_once_parsed() -> None:
    escaped = "".join(f"\\u{ord(char):04x}" for char in ECHOED_KEY)
    body = '{"error": {"code": "X", "message": "key ' + escaped + '"}}'
    error = api_error_from_response(echoing(400, body), ERROR_MAP)
    assert error.message == "key [redacted]"
    assert_nowhere(error, ECHOED_KEY)


def test_a_credential_header_of_the_caller_echoed_in_plain_text_is_redacted() -> None:
    body = f"<html>proxy says: X-Api-Token: tok_custom_secret_42 and {ECHOED_KEY}</html>"
    error = api_error_from_response(
        echoing(502, body, **{"X-Api-Token": "tok_custom_secret_42"}), ERROR_MAP
    )
    assert type(error) is ServerError
    assert error.message == (
        "HTTP 502 Bad Gateway: <html>proxy says: X-Api-Token: [redacted] and [redacted]</html>"
    )
    assert_nowhere(error, ECHOED_KEY, "tok_custom_secret_42")


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, ValidationError), (404, NotFoundError), (500, ServerError)]
)
def test_a_body_nested_ten_thousand_deep_raises_the_status_s_class(
    status: int, error_class: type[APIError]
) -> None:
    body = "[" * 10_000 + "]" * 10_000
    error = api_error_from_response(response(status, text=body), ERROR_MAP)
    assert type(error) is error_class
    assert error.code is None and error.details == {}
    assert error.message.endswith(": " + "[" * 499 + "…")


def test_details_nested_deeper_than_32_levels_are_cut() -> None:
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(100):
        deep = {"d": deep}
    error = api_error_from_response(
        response(409, json=envelope("CONFLICT", "deep", nested=deep)), ERROR_MAP
    )
    level: object = error.details
    depth = 0
    while isinstance(level, dict):
        level = next(iter(level.values()))
        depth += 1
    assert (depth, level) == (32, "[nested too deeply]")
    pickle.dumps(error)  # nothing left too deep to copy


def test_a_huge_body_is_not_parsed_and_raises_the_status_s_class() -> None:
    message = "x" * (2 << 20)
    error = api_error_from_response(response(503, json=envelope("UNAVAILABLE", message)), ERROR_MAP)
    assert type(error) is ServerError
    assert error.code is None
    assert len(error.message) == len("HTTP 503 Service Unavailable: ") + 500
    assert len(error.body) > 2 << 20
