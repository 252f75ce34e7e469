"""Hooks run around every attempt, in registration order, and their errors reach the caller."""

from __future__ import annotations

import httpx
import pytest
import respx

from mesa_sdk._runtime.errors import APIConnectionError, MesaError
from mesa_sdk._runtime.hooks import HookContext

from .support import (
    CREATE_REPO,
    GET_REPO,
    SERVER,
    NotFoundError,
    ServerError,
    envelope,
    make_core,
    repo_json,
)

REPO_URL = f"{SERVER}/acme/r"
REPO_ARGS = {"org": "acme", "repo": "r"}


def test_hooks_run_in_order_on_every_attempt(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=repo_json()),
        ]
    )
    core = make_core()
    seen: list[str] = []

    @core.hooks.register_before_request
    def first(context: HookContext, request: httpx.Request) -> None:
        seen.append(f"before-1 #{context.attempt}")

    @core.hooks.register_before_request
    def second(context: HookContext, request: httpx.Request) -> None:
        seen.append(f"before-2 #{context.attempt}")

    @core.hooks.register_after_error
    def failed(context: HookContext, response: httpx.Response | None, error: MesaError) -> None:
        status = response.status_code if response is not None else None
        seen.append(f"error #{context.attempt} {status} {type(error).__name__}")

    @core.hooks.register_after_success
    def succeeded(context: HookContext, response: httpx.Response) -> None:
        seen.append(f"success #{context.attempt} {response.status_code}")

    core.call(GET_REPO, REPO_ARGS, None, None)
    assert seen == [
        "before-1 #1",
        "before-2 #1",
        "error #1 503 ServerError",
        "before-1 #2",
        "before-2 #2",
        "error #2 None APIConnectionError",
        "before-1 #3",
        "before-2 #3",
        "success #3 200",
    ]
    assert first is not None and callable(first)  # the decorator returns the function


def test_context_names_the_call_and_its_idempotency_key(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/repos").mock(
        side_effect=[httpx.Response(500), httpx.Response(201, json=repo_json())]
    )
    core = make_core()
    contexts: list[HookContext] = []
    core.hooks.register_before_request(lambda context, request: contexts.append(context))
    core.call(CREATE_REPO, {"org": "acme"}, {"name": "r"}, None)
    key = route.calls.last.request.headers["Idempotency-Key"]
    assert contexts == [
        HookContext("createRepo", "repos.create", 1, key),
        HookContext("createRepo", "repos.create", 2, key),
    ]


def test_before_request_may_change_or_replace_the_request(router: respx.MockRouter) -> None:
    route = router.get(url__startswith=SERVER).respond(200, json=repo_json())
    core = make_core()

    def add_trace(context: HookContext, request: httpx.Request) -> None:
        request.headers["traceparent"] = "00-abc-def-01"

    def reroute(context: HookContext, request: httpx.Request) -> httpx.Request:
        return httpx.Request(request.method, f"{SERVER}/acme/elsewhere", headers=request.headers)

    core.hooks.register_before_request(add_trace)
    core.hooks.register_before_request(reroute)
    core.call(GET_REPO, REPO_ARGS, None, None)
    request = route.calls.last.request
    assert request.url.path == "/api/v1/acme/elsewhere"
    assert request.headers["traceparent"] == "00-abc-def-01"
    # The call's timeout survives a replacement request.
    assert request.extensions["timeout"]["read"] == 30.0


def test_after_success_may_replace_the_response(router: respx.MockRouter) -> None:
    router.get(REPO_URL).respond(200, json=repo_json("original"))
    core = make_core()
    core.hooks.register_after_success(
        lambda context, response: httpx.Response(200, json=repo_json("replaced"))
    )
    assert core.call(GET_REPO, REPO_ARGS, None, None).name == "replaced"


def test_after_error_runs_once_per_failed_attempt_before_the_final_error(
    router: respx.MockRouter,
) -> None:
    router.get(REPO_URL).respond(404, json=envelope("REPO_NOT_FOUND", "gone"))
    core = make_core()
    errors: list[MesaError] = []
    core.hooks.register_after_error(lambda context, response, error: errors.append(error))
    with pytest.raises(NotFoundError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert errors == [caught.value]


def test_hook_exceptions_propagate_and_stop_the_call(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).respond(200, json=repo_json())
    core = make_core()

    def refuse(context: HookContext, request: httpx.Request) -> None:
        raise PermissionError("not during a freeze")

    core.hooks.register_before_request(refuse)
    with pytest.raises(PermissionError, match="not during a freeze"):
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert not route.called


def test_an_after_error_hook_can_stop_retries(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).respond(503)
    core = make_core()

    class Abort(Exception):
        pass

    def abort(context: HookContext, response: httpx.Response | None, error: MesaError) -> None:
        raise Abort from error

    core.hooks.register_after_error(abort)
    with pytest.raises(Abort) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert isinstance(caught.value.__cause__, ServerError)
    assert route.call_count == 1


async def test_hooks_run_for_async_calls(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(
        side_effect=[httpx.ConnectError("x"), httpx.Response(200, json=repo_json())]
    )
    core = make_core()
    seen: list[tuple[str, int]] = []
    core.hooks.register_before_request(lambda c, r: seen.append(("before", c.attempt)))
    core.hooks.register_after_error(lambda c, r, e: seen.append((type(e).__name__, c.attempt)))
    core.hooks.register_after_success(lambda c, r: seen.append(("success", c.attempt)))
    await core.call_async(GET_REPO, REPO_ARGS, None, None)
    assert seen == [
        ("before", 1),
        (APIConnectionError.__name__, 1),
        ("before", 2),
        ("success", 2),
    ]


def test_hooks_repr_counts_them() -> None:
    core = make_core()
    core.hooks.register_after_success(lambda c, r: None)
    assert repr(core.hooks) == "Hooks(before_request=0, after_success=1, after_error=0)"
