"""The API key never shows: not in reprs, errors or logs, and not sent to another host."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator

import httpx
import pytest
import respx

from mesa_sdk._runtime.client import BaseClient
from mesa_sdk._runtime.errors import APIConnectionError, APIError, InvalidRequestError, MesaError
from mesa_sdk._runtime.logs import log_to_stderr_from_environment, redact_headers

from .support import (
    API_KEY,
    CREATE_REPO,
    GET_REPO,
    LIST_REPOS,
    SERVER,
    envelope,
    make_core,
    repo_json,
)

REPO_URL = f"{SERVER}/acme/r"
REPO_ARGS = {"org": "acme", "repo": "r"}


def test_reprs_never_show_the_key() -> None:
    core = make_core()
    client = BaseClient(core)
    for text in (repr(core), repr(client), str(client), repr(core.settings), repr(vars(core))):
        assert API_KEY not in text
    assert repr(client) == "BaseClient(server_url='https://depot.test/api/v1')"
    assert "ApiKey('[redacted]')" in repr(core.settings)


def test_key_functions_are_not_called_by_repr() -> None:
    calls: list[int] = []

    def key() -> str:
        calls.append(1)
        return API_KEY

    core = make_core(api_key=key)
    repr(core.settings)
    assert calls == []


def test_errors_never_show_the_key(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(
        side_effect=[
            httpx.Response(401, json=envelope("UNAUTHENTICATED", "Unknown API key")),
            httpx.ConnectError("refused"),
        ]
    )
    core = make_core(retry_config={"strategy": "none"})
    errors: list[MesaError] = []
    for _ in range(2):
        with pytest.raises(MesaError) as caught:
            core.call(GET_REPO, REPO_ARGS, None, None)
        errors.append(caught.value)
    with pytest.raises(InvalidRequestError) as caught_invalid:
        core.call(GET_REPO, {"org": "acme"}, None, None)
    errors.append(caught_invalid.value)
    assert isinstance(errors[0], APIError) and isinstance(errors[1], APIConnectionError)
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY not in repr(error)
        assert API_KEY not in repr(vars(error))
    assert API_KEY not in repr(pickle.loads(pickle.dumps(errors[0])).__dict__)


def test_debug_logs_redact_credentials_and_leave_out_bodies(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mesa_sdk")
    router.post(f"{SERVER}/acme/repos").mock(
        side_effect=[
            httpx.Response(503, headers={"X-Request-Id": "req_1"}),
            httpx.Response(201, json=repo_json(), headers={"X-Request-Id": "req_2"}),
        ]
    )
    core = make_core(headers={"X-Api-Token": "tok_other_secret", "X-Team": "blue"})
    core.call(CREATE_REPO, {"org": "acme"}, {"name": "file-content-marker"}, None)
    text = caplog.text
    assert API_KEY not in text
    assert "tok_other_secret" not in text
    assert "file-content-marker" not in text
    assert "'authorization': 'Bearer [redacted]'" in text
    assert "'x-api-token': '[redacted]'" in text
    assert "'x-team': 'blue'" in text
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith(
        "repos.create attempt 1: POST https://depot.test/api/v1/acme/repos headers="
    )
    assert "body=30 bytes idempotency key " in messages[0]
    assert (
        messages[1] == "repos.create attempt 1: 503 Service Unavailable in 0 ms (request id req_1)"
    )
    assert messages[2] == (
        "repos.create: retrying POST /api/v1/acme/repos in 0.50 s "
        "(attempt 2 of the call, 0.0 s elapsed): status 503"
    )
    assert [r.levelname for r in caplog.records][:3] == ["DEBUG", "DEBUG", "INFO"]
    assert messages[-1] == "repos.create attempt 2: 201 Created in 0 ms (request id req_2)"


def test_logs_say_why_a_call_is_not_retried(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mesa_sdk")
    router.get(REPO_URL).respond(404)
    with pytest.raises(APIError):
        make_core().call(GET_REPO, REPO_ARGS, None, None)
    # At DEBUG: an answer that was never worth retrying is the caller's to report.
    assert caplog.records[-1].levelname == "DEBUG"
    assert caplog.records[-1].getMessage() == (
        "repos.get: giving up on GET /api/v1/acme/r after 1 attempt over 0.0 s: status 404; "
        "not retryable"
    )


def test_the_log_filter_scrubs_keys_from_any_record(caplog: pytest.LogCaptureFixture) -> None:
    make_core()  # registers the key
    caplog.set_level(logging.DEBUG, logger="mesa_sdk")
    logging.getLogger("mesa_sdk").warning("oops, the key is %s", API_KEY)
    assert caplog.records[-1].getMessage() == "oops, the key is [redacted]"


def test_keys_from_functions_are_scrubbed_too(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    router.get(REPO_URL).respond(200, json=repo_json())
    make_core(api_key=lambda: "rotated_key_98765").call(GET_REPO, REPO_ARGS, None, None)
    caplog.set_level(logging.DEBUG, logger="mesa_sdk")
    logging.getLogger("mesa_sdk").info("rotated_key_98765")
    assert "rotated_key_98765" not in caplog.text


def test_header_redaction_rules() -> None:
    headers = httpx.Headers(
        {
            "Authorization": "Bearer abc",
            "Proxy-Authorization": "Basic xyz",
            "X-API-Key": "k",
            "X-Session-Token": "t",
            "X-Client-Secret": "s",
            "Cookie": "c=1",
            "Accept": "application/json",
        }
    )
    assert redact_headers(headers) == {
        "authorization": "Bearer [redacted]",
        "proxy-authorization": "[redacted]",
        "x-api-key": "[redacted]",
        "x-session-token": "[redacted]",
        "x-client-secret": "[redacted]",
        "cookie": "[redacted]",
        "accept": "application/json",
    }


def test_a_redirect_to_another_host_does_not_carry_the_key(router: respx.MockRouter) -> None:
    router.get(REPO_URL).respond(302, headers={"Location": "https://attacker.test/collect"})
    elsewhere = router.get("https://attacker.test/collect").respond(200, json=repo_json())
    make_core().call(GET_REPO, REPO_ARGS, None, None)
    assert elsewhere.called
    assert "Authorization" not in elsewhere.calls.last.request.headers


def test_a_redirect_on_the_same_origin_keeps_the_key(router: respx.MockRouter) -> None:
    router.get(REPO_URL).respond(301, headers={"Location": f"{SERVER}/acme/renamed"})
    moved = router.get(f"{SERVER}/acme/renamed").respond(200, json=repo_json())
    make_core().call(GET_REPO, REPO_ARGS, None, None)
    assert moved.calls.last.request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_a_key_that_contains_another_key_is_scrubbed_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_core(api_key="abcdefgh")
    make_core(api_key="abcdefgh_longer_key")
    caplog.set_level(logging.DEBUG, logger="mesa_sdk")
    logging.getLogger("mesa_sdk").info("abcdefgh_longer_key and abcdefgh")
    assert caplog.records[-1].getMessage() == "[redacted] and [redacted]"


# -- MESA_LOG -------------------------------------------------------------------------------


@pytest.fixture
def sdk_logger_restored() -> Iterator[logging.Logger]:
    """The `mesa_sdk` logger, with its level and handlers put back after the test."""
    logger = logging.getLogger("mesa_sdk")
    level, handlers = logger.level, list(logger.handlers)
    try:
        yield logger
    finally:
        for handler in logger.handlers:
            if handler not in handlers:
                logger.removeHandler(handler)
        logger.setLevel(level)


def test_mesa_log_info_prints_retries_on_stderr_without_the_key(
    router: respx.MockRouter,
    capsys: pytest.CaptureFixture[str],
    sdk_logger_restored: logging.Logger,
) -> None:
    sdk_logger_restored.setLevel(logging.NOTSET)
    handler = log_to_stderr_from_environment({"MESA_LOG": "INFO"})
    assert handler is not None and sdk_logger_restored.level == logging.INFO
    router.get(REPO_URL).mock(
        side_effect=[
            httpx.Response(503, text=f"echo {API_KEY}"),
            httpx.Response(200, json=repo_json()),
        ]
    )
    make_core().call(GET_REPO, REPO_ARGS, None, None)
    sdk_logger_restored.info("the key %s", API_KEY)
    lines = [line.split(" mesa_sdk ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "INFO: repos.get: retrying GET /api/v1/acme/r in 0.50 s (attempt 2 of the call, "
        "0.0 s elapsed): status 503",
        "INFO: the key [redacted]",
    ]


def test_mesa_log_unset_or_unknown_adds_no_handler(sdk_logger_restored: logging.Logger) -> None:
    before = list(sdk_logger_restored.handlers)
    assert log_to_stderr_from_environment({}) is None
    with pytest.warns(
        UserWarning, match="^MESA_LOG='loud' is ignored: expected one of info, debug$"
    ):
        assert log_to_stderr_from_environment({"MESA_LOG": "loud"}) is None
    assert sdk_logger_restored.handlers == before


EMPTY_LIST = {"repos": [], "next_cursor": None, "has_more": False}


def test_retry_lines_show_the_path_as_sent_without_the_query(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mesa_sdk")
    router.get(url__startswith=f"{SERVER}/ac%2Fme/repos").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=EMPTY_LIST)]
    )
    make_core().call(LIST_REPOS, {"org": "ac/me", "cursor": "c_secretish"}, None, None)
    assert [record.getMessage() for record in caplog.records] == [
        "repos.list: retrying GET /api/v1/ac%2Fme/repos in 0.50 s (attempt 2 of the call, "
        "0.0 s elapsed): status 503"
    ]
