"""`org` comes from the call, else `Mesa(org=...)`, else the MESA_ORG environment variable."""

from __future__ import annotations

import pytest
import respx

from mesa_sdk import InvalidRequestError, Mesa

from .conftest import BASE, KEY, repo_json


@pytest.fixture(autouse=True)
def _no_org_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESA_ORG", raising=False)


def _client(org: str | None = None) -> Mesa:
    return Mesa(api_key=KEY, server_url=BASE, org=org, retry_config={"strategy": "none"})


def test_mesa_org_is_the_default_org(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESA_ORG", "from-env")
    route = api.get("/from-env/widgets").respond(200, json=repo_json(org="from-env"))
    with _client() as client:
        assert client.repos.get(repo="widgets").org == "from-env"
    assert route.call_count == 1


def test_the_constructor_wins_over_mesa_org(
    api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESA_ORG", "from-env")
    route = api.get("/given/widgets").respond(200, json=repo_json(org="given"))
    with _client("given") as client:
        client.repos.get(repo="widgets")
    assert route.call_count == 1


def test_the_call_wins_over_both(api: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESA_ORG", "from-env")
    route = api.get("/per-call/widgets").respond(200, json=repo_json(org="per-call"))
    with _client("given") as client:
        client.repos.get(org="per-call", repo="widgets")
    assert route.call_count == 1


def test_an_empty_mesa_org_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESA_ORG", "")
    with _client() as client, pytest.raises(InvalidRequestError) as caught:
        client.repos.get(repo="widgets")
    assert str(caught.value) == (
        "repos.get: org is required: pass org=..., set Mesa(org=...) "
        "or set the MESA_ORG environment variable"
    )


def test_without_any_org_the_error_names_the_three_ways(api: respx.MockRouter) -> None:
    route = api.route().respond(200, json=repo_json())
    with _client() as client, pytest.raises(InvalidRequestError) as caught:
        client.repos.get(repo="widgets")
    assert str(caught.value) == (
        "repos.get: org is required: pass org=..., set Mesa(org=...) "
        "or set the MESA_ORG environment variable"
    )
    assert not route.called
