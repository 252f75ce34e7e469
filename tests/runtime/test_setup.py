"""Building a client: credentials, server URL, and the environment fallbacks."""

from __future__ import annotations

import httpx
import pytest
import respx

from mesa_sdk._runtime.errors import InvalidApiUrlError, InvalidOptionsError, MissingCredentialError

from .support import API_KEY, GET_REPO, SERVER, make_core, repo_json

ARGS = {"org": "acme", "repo": "r"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESA_TEST_API_KEY", raising=False)
    monkeypatch.delenv("MESA_TEST_SERVER_URL", raising=False)


def test_missing_key_says_how_to_pass_one() -> None:
    with pytest.raises(MissingCredentialError) as caught:
        make_core(api_key=None)
    assert str(caught.value) == (
        "No API key: pass Mesa(api_key=...) or set the MESA_TEST_API_KEY environment variable."
    )


def test_empty_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingCredentialError):
        make_core(api_key="")
    monkeypatch.setenv("MESA_TEST_API_KEY", "")
    with pytest.raises(MissingCredentialError):
        make_core(api_key=None)


def test_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, router: respx.MockRouter
) -> None:
    monkeypatch.setenv("MESA_TEST_API_KEY", "env_key_123")
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    make_core(api_key=None).call(GET_REPO, ARGS, None, None)
    assert route.calls.last.request.headers["Authorization"] == "Bearer env_key_123"


def test_key_argument_beats_the_environment(
    monkeypatch: pytest.MonkeyPatch, router: respx.MockRouter
) -> None:
    monkeypatch.setenv("MESA_TEST_API_KEY", "env_key_123")
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    make_core().call(GET_REPO, ARGS, None, None)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_key_function_is_called_for_each_request(router: respx.MockRouter) -> None:
    keys = iter(["key_one_aaaa", "key_two_bbbb"])
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    core = make_core(api_key=lambda: next(keys))
    core.call(GET_REPO, ARGS, None, None)
    core.call(GET_REPO, ARGS, None, None)
    sent = [call.request.headers["Authorization"] for call in route.calls]
    assert sent == ["Bearer key_one_aaaa", "Bearer key_two_bbbb"]


def test_key_function_returning_nothing_fails_before_sending(router: respx.MockRouter) -> None:
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    with pytest.raises(MissingCredentialError, match="the api_key function returned NoneType"):
        make_core(api_key=lambda: None).call(GET_REPO, ARGS, None, None)
    assert not route.called


def test_key_of_the_wrong_type() -> None:
    with pytest.raises(InvalidOptionsError, match="api_key: expected a str or a function"):
        make_core(api_key=12345)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://depot.test/api", "server_url must be an http or https URL"),
        ("depot.test/api/v1", "server_url must be an http or https URL"),
        ("https://", "server_url must name a host"),
        ("https:///api/v1", "server_url must name a host"),
        ("https://depot.test/api?token=1", "server_url must not have a query"),
        ("https://depot.test/api#top", "server_url must not have a query"),
        ("https://depot.test/api?", "server_url must not have a query"),
        (" https://depot.test/api", "server_url must not contain whitespace"),
        ("https://depot.test:99999/api", "server_url: not a valid URL"),
    ],
)
def test_bad_server_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidApiUrlError, match=message):
        make_core(server_url=url)


def test_credentials_in_the_url_are_refused_without_being_echoed() -> None:
    with pytest.raises(InvalidApiUrlError) as caught:
        make_core(server_url="https://user:hunter2@depot.test/api")
    assert "hunter2" not in str(caught.value)
    assert "must not hold credentials" in str(caught.value)


def test_server_url_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_core(server_url=None).server_url == "https://depot.default.test/api/v1"
    monkeypatch.setenv("MESA_TEST_SERVER_URL", "http://localhost:8787/api/v1/")
    assert make_core(server_url=None).server_url == "http://localhost:8787/api/v1"
    assert make_core(server_url="https://other.test/v1//").server_url == "https://other.test/v1"
    monkeypatch.setenv("MESA_TEST_SERVER_URL", "localhost:8787")
    with pytest.raises(InvalidApiUrlError, match=r"^MESA_TEST_SERVER_URL must be an http"):
        make_core(server_url=None)


def test_http_clients_of_the_wrong_kind() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with pytest.raises(InvalidOptionsError, match=r"http_client: expected an httpx\.Client"):
        make_core(http_client=httpx.AsyncClient(transport=transport))
    with pytest.raises(
        InvalidOptionsError, match=r"async_http_client: expected an httpx\.AsyncClient"
    ):
        make_core(async_http_client=httpx.Client(transport=transport))


def test_param_defaults_must_be_strings() -> None:
    with pytest.raises(InvalidOptionsError, match="org: expected a str, got int"):
        make_core(param_defaults={"org": 5})
