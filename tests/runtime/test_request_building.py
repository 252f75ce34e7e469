"""What goes on the wire: URL, query, headers and body; and nothing when an input is bad."""

from __future__ import annotations

import dataclasses
import json
import re

import httpx
import pytest
import respx

from mesa_sdk import Mesa
from mesa_sdk._runtime.errors import InvalidOptionsError, InvalidRequestError
from mesa_sdk._runtime.request_builder import JSON

from .support import (
    API_KEY,
    CREATE_COMMIT,
    CREATE_REPO,
    DELETE_BRANCH,
    GET_CONTENT,
    GET_REPO,
    LIST_REPOS,
    SERVER,
    CreateRepo,
    Repo,
    make_core,
    repo_json,
)

OK = {"success": True}
EMPTY_PAGE: dict[str, object] = {"repos": [], "next_cursor": None, "has_more": False}


@pytest.mark.parametrize(
    ("branch", "raw_path"),
    [
        ("feature/login", b"/api/v1/acme/r/branches/feature%2Flogin"),
        ("100%", b"/api/v1/acme/r/branches/100%25"),
        ("with space", b"/api/v1/acme/r/branches/with%20space"),
        ("caf\u00e9-\u65e5\u672c", b"/api/v1/acme/r/branches/caf%C3%A9-%E6%97%A5%E6%9C%AC"),
        ("a?b#c&d=e+f", b"/api/v1/acme/r/branches/a%3Fb%23c%26d%3De%2Bf"),
        ("../../admin", b"/api/v1/acme/r/branches/..%2F..%2Fadmin"),
        ("...", b"/api/v1/acme/r/branches/..."),
    ],
)
def test_path_parameters_are_one_encoded_segment(
    router: respx.MockRouter, branch: str, raw_path: bytes
) -> None:
    route = router.delete(url__regex=r".*").respond(200, json=OK)
    make_core().call(DELETE_BRANCH, {"org": "acme", "repo": "r", "branch": branch}, None, None)
    request = route.calls.last.request
    assert request.method == "DELETE"
    assert request.url.raw_path == raw_path
    assert request.url.host == "depot.test"


@pytest.mark.parametrize("segment", [".", ".."])
def test_dot_segments_are_refused(router: respx.MockRouter, segment: str) -> None:
    route = router.route().respond(200, json=OK)
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(DELETE_BRANCH, {"org": "acme", "repo": "r", "branch": segment}, None, None)
    assert str(caught.value) == (
        f"branches.delete: branch: {segment!r} cannot be sent as a path segment (it names no item)"
    )
    assert not route.called


def test_org_comes_from_the_client_default(router: respx.MockRouter) -> None:
    route = router.get(f"{SERVER}/default-org/r").respond(200, json=repo_json())
    make_core(param_defaults={"org": "default-org"}).call(GET_REPO, {"repo": "r"}, None, None)
    assert route.called
    explicit = router.get(f"{SERVER}/other/r").respond(200, json=repo_json())
    make_core(param_defaults={"org": "default-org"}).call(
        GET_REPO, {"org": "other", "repo": "r"}, None, None
    )
    assert explicit.called


def test_missing_org_says_how_to_give_it(router: respx.MockRouter) -> None:
    route = router.route().respond(201, json=repo_json())
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(CREATE_REPO, {"org": None}, {"name": "r"}, None)
    assert str(caught.value) == ("repos.create: org is required: pass org=... or set Mesa(org=...)")
    assert not route.called


def test_query_parameters(router: respx.MockRouter) -> None:
    route = router.get(url__startswith=f"{SERVER}/acme/r/content").respond(200, json=repo_json())
    make_core().call(
        GET_CONTENT,
        {"org": "acme", "repo": "r", "path": "docs/a b+c.md", "recursive": True, "X-Trace": None},
        None,
        None,
    )
    url = route.calls.last.request.url
    assert url.params.multi_items() == [("path", "docs/a b+c.md"), ("recursive", "true")]
    assert url.query == b"path=docs%2Fa+b%2Bc.md&recursive=true"


def test_none_query_parameters_are_left_out(router: respx.MockRouter) -> None:
    route = router.get(f"{SERVER}/acme/repos").respond(200, json=EMPTY_PAGE)
    make_core().call(LIST_REPOS, {"org": "acme", "limit": None, "cursor": None}, None, None)
    assert route.calls.last.request.url.query == b""


def test_header_parameters_are_sent(router: respx.MockRouter) -> None:
    route = router.get(url__startswith=f"{SERVER}/acme/r/content").respond(200, json=repo_json())
    make_core().call(GET_CONTENT, {"org": "acme", "repo": "r", "X-Trace": "t-1"}, None, None)
    assert route.calls.last.request.headers["X-Trace"] == "t-1"


@pytest.mark.parametrize("value", ["caf\u00e9", "t-1\r\nX-Injected: yes", "t\n1", "t\x001"])
def test_a_header_parameter_that_cannot_go_on_the_wire_is_refused(
    router: respx.MockRouter, value: str
) -> None:
    route = router.route().respond(200, json=repo_json())
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(GET_CONTENT, {"org": "acme", "repo": "r", "X-Trace": value}, None, None)
    # The value is not repeated: a header may carry a secret.
    assert str(caught.value) == "content.get: X-Trace: must be ASCII without line breaks (a header)"
    assert not route.called


def test_out_of_range_and_wrong_type_parameters(router: respx.MockRouter) -> None:
    route = router.route().respond(200, json=EMPTY_PAGE)
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(LIST_REPOS, {"org": "", "limit": 500}, None, None)
    assert str(caught.value) == (
        "repos.list: org: String should have at least 1 character; "
        "limit: Input should be less than or equal to 100"
    )
    assert [error.location for error in caught.value.errors] == ["org", "limit"]
    with pytest.raises(InvalidRequestError, match="limit: Input should be a valid integer"):
        make_core().call(LIST_REPOS, {"org": "acme", "limit": "lots"}, None, None)
    assert not route.called


def test_unexpected_and_missing_arguments(router: respx.MockRouter) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(GET_REPO, {"org": "acme", "colour": "red"}, None, None)
    assert str(caught.value) == "repos.get: colour: unexpected argument; repo is required"


def test_body_dict_is_validated_and_sent_as_compact_json(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/repos").respond(201, json=repo_json("new"))
    repo = make_core().call(CREATE_REPO, {"org": "acme"}, {"name": "new"}, None)
    assert repo == Repo(id="repo_new", name="new")
    request = route.calls.last.request
    # Unset fields are left to the server's defaults.
    assert request.content == b'{"name":"new"}'
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_body_model_instance_is_sent_as_is(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/repos").respond(201, json=repo_json("new"))
    make_core().call(
        CREATE_REPO, {"org": "acme"}, CreateRepo(name="new", default_branch="trunk"), None
    )
    assert json.loads(route.calls.last.request.content) == {
        "name": "new",
        "default_branch": "trunk",
    }


def test_body_errors_name_every_field(router: respx.MockRouter) -> None:
    route = router.route().respond(201, json=OK)
    body = {
        "branch": "main",
        "edits": [{"path": "a.txt", "action": "create"}, {"path": "", "action": "rename"}],
    }
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(CREATE_COMMIT, {"org": "acme", "repo": ""}, body, None)
    assert str(caught.value) == (
        "commits.create: repo: String should have at least 1 character; "
        "body.edits.1.path: String should have at least 1 character; "
        "body.edits.1.action: Input should be 'create', 'update' or 'delete'"
    )
    assert not route.called


def test_body_typos_and_wrong_kinds(router: respx.MockRouter) -> None:
    route = router.route().respond(201, json=repo_json())
    core = make_core()
    with pytest.raises(InvalidRequestError) as caught:
        core.call(CREATE_REPO, {"org": "acme"}, {"name": "r", "nmae": "r"}, None)
    assert str(caught.value) == "repos.create: body.nmae: Extra inputs are not permitted"
    with pytest.raises(InvalidRequestError) as caught:
        core.call(CREATE_REPO, {"org": "acme"}, Repo(id="1", name="r"), None)
    assert str(caught.value) == "repos.create: body: expected CreateRepo or a dict, got Repo"
    with pytest.raises(InvalidRequestError) as caught:
        core.call(CREATE_REPO, {"org": "acme"}, "name=r", None)
    assert str(caught.value) == "repos.create: body: expected CreateRepo or a dict, got str"
    with pytest.raises(InvalidRequestError) as caught:
        core.call(CREATE_REPO, {"org": "acme"}, None, None)
    assert str(caught.value) == "repos.create: body: is required"
    with pytest.raises(InvalidRequestError) as caught:
        core.call(GET_REPO, {"org": "acme", "repo": "r"}, {"x": 1}, None)
    assert str(caught.value) == "repos.get: body: repos.get takes no body"
    assert not route.called


def test_body_content_is_never_echoed_in_errors() -> None:
    secret_content = "-----BEGIN PRIVATE KEY----- abc"
    with pytest.raises(InvalidRequestError) as caught:
        make_core().call(
            CREATE_COMMIT,
            {"org": "acme", "repo": "r"},
            {
                "branch": "main",
                "edits": [{"path": "k", "action": "oops", "content": secret_content}],
            },
            None,
        )
    assert secret_content not in str(caught.value)
    assert "oops" not in str(caught.value)


def test_default_headers(router: respx.MockRouter) -> None:
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    make_core().call(GET_REPO, {"org": "acme", "repo": "r"}, None, None)
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["User-Agent"] == "mesa-sdk-python/test"
    assert headers["Accept"] == "application/json"
    assert "X-Request-Id" not in headers
    assert "Idempotency-Key" not in headers
    assert "Content-Type" not in headers


def test_call_headers_win_over_client_headers_which_win_over_sdk_headers(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    core = make_core(headers={"X-Team": "client", "User-Agent": "my-app/1.0", "X-Only": "c"})
    core.call(
        GET_REPO,
        {"org": "acme", "repo": "r"},
        None,
        {"headers": {"x-team": "call", "X-Request-Id": "mine-1"}},
    )
    headers = route.calls.last.request.headers
    assert headers["X-Team"] == "call"
    assert headers["User-Agent"] == "my-app/1.0"
    assert headers["X-Only"] == "c"
    assert headers["X-Request-Id"] == "mine-1"
    assert headers.get_list("X-Team") == ["call"]


def test_a_change_to_a_given_clients_headers_reaches_the_next_call(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    with httpx.Client(headers={"X-Team": "one"}) as client:
        core = make_core(http_client=client)
        core.call(GET_REPO, {"org": "acme", "repo": "r"}, None, None)
        client.headers["X-Team"] = "two"
        core.call(GET_REPO, {"org": "acme", "repo": "r"}, None, None)
        client.headers = httpx.Headers({"X-Other": "three"})
        core.call(GET_REPO, {"org": "acme", "repo": "r"}, None, None)
    sent = [call.request.headers for call in route.calls]
    assert [headers.get("X-Team") for headers in sent] == ["one", "two", None]
    assert [headers.get("X-Other") for headers in sent] == [None, None, "three"]
    assert all(headers["Authorization"] == f"Bearer {API_KEY}" for headers in sent)


def test_headers_a_call_adds_are_sent_once_and_never_kept(router: respx.MockRouter) -> None:
    from mesa_sdk._runtime import pipeline

    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    with httpx.Client() as client:
        core = make_core(http_client=client)
        for token in ("first-secret", "second-secret"):
            options = {"headers": {"X-Api-Token": token}}
            core.call(GET_REPO, {"org": "acme", "repo": "r"}, None, options)
        core.call(GET_REPO, {"org": "acme", "repo": "r"}, None, None)
        kept = pipeline._client_headers_seen[client].built.values()
    sent = [call.request.headers.get("X-Api-Token") for call in route.calls]
    assert sent == ["first-secret", "second-secret", None]
    # Only the plain call's headers are kept for the next call; no caller's token is.
    assert len(kept) == 1
    assert not any("secret" in value for headers in kept for value in headers.values())


def test_a_call_repeated_with_the_same_arguments_is_prepared_once() -> None:
    core = make_core()
    args = {"org": "acme", "repo": "r"}
    first = core._prepare(GET_REPO, args, None, None, JSON)
    assert core._prepare(GET_REPO, dict(args), None, None, JSON) is first
    other = core._prepare(GET_REPO, {"org": "acme", "repo": "s"}, None, None, JSON)
    assert other is not first
    assert other.url.raw_path == b"/api/v1/acme/s"
    assert first.url.raw_path == b"/api/v1/acme/r"


def test_a_call_whose_headers_are_its_own_or_whose_arguments_may_change_is_never_kept() -> None:
    core = make_core()
    args = {"org": "acme", "repo": "r"}
    # A header parameter and a per-call header may be secrets.
    core._prepare(GET_CONTENT, {**args, "X-Trace": "secret-trace"}, None, None, JSON)
    core._prepare(GET_REPO, args, None, {"headers": {"X-Api-Token": "secret-token"}}, JSON)
    # A number is not a string: 1 and True are the same key.
    core._prepare(LIST_REPOS, {"org": "acme", "limit": 5}, None, None, JSON)
    # Each logical call has its own idempotency key.
    with_key = dataclasses.replace(GET_REPO, idempotency_header="Idempotency-Key")
    keys = {core._prepare(with_key, args, None, None, JSON).idempotency_key for _ in range(2)}
    assert len(keys) == 2
    assert core._prepared_calls._known == {}


def test_an_explicit_authorization_header_is_respected(router: respx.MockRouter) -> None:
    route = router.get(f"{SERVER}/acme/r").respond(200, json=repo_json())
    make_core().call(
        GET_REPO, {"org": "acme", "repo": "r"}, None, {"headers": {"Authorization": "Basic abc"}}
    )
    assert route.calls.last.request.headers.get_list("Authorization") == ["Basic abc"]


def test_idempotency_key_is_generated_or_taken_from_the_options(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/repos").respond(201, json=repo_json())
    core = make_core()
    core.call(CREATE_REPO, {"org": "acme"}, {"name": "r"}, None)
    core.call(CREATE_REPO, {"org": "acme"}, {"name": "r"}, None)
    core.call(CREATE_REPO, {"org": "acme"}, {"name": "r"}, {"idempotency_key": "my-key-1"})
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert re.fullmatch(r"[0-9a-f]{32}", keys[0])
    assert keys[0] != keys[1]
    assert keys[2] == "my-key-1"


def test_idempotency_key_on_an_operation_without_one() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        make_core().call(GET_REPO, {"org": "acme", "repo": "r"}, None, {"idempotency_key": "k"})
    assert (
        str(caught.value) == "request_options.idempotency_key: repos.get takes no idempotency key"
    )


def test_our_specs_idempotency_key_rule_is_checked_before_sending(
    router: respx.MockRouter,
) -> None:
    """openapi.yaml: 1 to 255 visible ASCII characters; the generated SDK carries the rule."""
    route = router.delete(f"{SERVER}/acme/r").respond(200, json=OK)
    refusals = {
        "k" * 256: "String should have at most 255 characters",
        "": "String should have at least 1 character",
        "has space": "String should match pattern '^[\\x21-\\x7e]+$'",
        "caf\u00e9": "String should match pattern '^[\\x21-\\x7e]+$'",
    }
    with Mesa(api_key=API_KEY, server_url=SERVER, org="acme") as client:
        for key, problem in refusals.items():
            with pytest.raises(InvalidOptionsError) as caught:
                client.repos.delete(repo="r", request_options={"idempotency_key": key})
            assert str(caught.value) == (
                f"request_options.idempotency_key: {problem}"
                " (the Idempotency-Key header of repos.delete)"
            )
        assert not route.calls

        longest = "!" + "~" * 254
        client.repos.delete(repo="r", request_options={"idempotency_key": longest})

    sent = route.calls.last.request.headers.raw
    assert [value for name, value in sent if name.lower() == b"idempotency-key"] == [
        longest.encode()
    ]


def test_call_without_a_response_type_returns_none(router: respx.MockRouter) -> None:
    from .support import DELETE_NO_RESPONSE

    route = router.delete(f"{SERVER}/acme/api-keys/key_1").respond(200, json={"anything": 1})
    assert make_core().call(DELETE_NO_RESPONSE, {"org": "acme", "id": "key_1"}, None, None) is None
    assert route.called
