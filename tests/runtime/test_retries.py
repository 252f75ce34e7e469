"""The retry rules, sync and async, on a fake clock: what is retried, how long each wait
is, and how the deadline ends a call."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from mesa_sdk._runtime.config import BackoffStrategy, RetryConfig, RetryConfigDict
from mesa_sdk._runtime.errors import APIConnectionError, APITimeoutError
from mesa_sdk._runtime.retries import backoff_delay

from .support import (
    CREATE_REPO,
    DELETE_BRANCH,
    GET_REPO,
    MERGE_WITHOUT_KEY,
    SERVER,
    ConflictError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
    clock_of,
    envelope,
    make_core,
    repo_json,
)

REPO_URL = f"{SERVER}/acme/r"
REPO_ARGS = {"org": "acme", "repo": "r"}
MERGE_ARGS = {"org": "acme", "repo": "r", "base": "main"}


def backoff(**fields: Any) -> RetryConfig:
    settings: dict[str, Any] = {
        "initial_interval": 500,
        "max_interval": 60_000,
        "exponent": 1.5,
        "max_elapsed_time": 300_000,
        "jitter": 0.0,
    }
    settings.update(fields)
    return RetryConfig("backoff", BackoffStrategy(**settings))


def ok() -> httpx.Response:
    return httpx.Response(200, json=repo_json())


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, json=envelope("ERR", f"status {code}"), headers=headers)


# -- the backoff formula --------------------------------------------------------------------


def test_backoff_grows_by_the_exponent_up_to_the_cap() -> None:
    strategy = BackoffStrategy(initial_interval=500, max_interval=2_000, exponent=2, jitter=0)
    delays = [backoff_delay(strategy, n, random_fraction=0.5) for n in range(5)]
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_jitter_takes_off_up_to_its_fraction() -> None:
    strategy = BackoffStrategy(initial_interval=1_000, jitter=0.25)
    assert backoff_delay(strategy, 0, random_fraction=0.0) == 1.0
    assert backoff_delay(strategy, 0, random_fraction=0.5) == 0.875
    assert backoff_delay(strategy, 0, random_fraction=0.999999) == pytest.approx(0.75)


def test_backoff_never_overflows() -> None:
    strategy = BackoffStrategy(initial_interval=500, max_interval=60_000, exponent=10, jitter=0)
    assert backoff_delay(strategy, 100_000, random_fraction=0.0) == 60.0


# -- what is retried ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(router: respx.MockRouter, code: int) -> None:
    route = router.get(REPO_URL).mock(side_effect=[status(code), status(code), ok()])
    core = make_core()
    assert core.call(GET_REPO, REPO_ARGS, None, None).name == "r"
    assert route.call_count == 3
    assert clock_of(core).sleeps == [0.5, 0.75]


@pytest.mark.parametrize(
    ("code", "error_class"), [(400, ValidationError), (404, NotFoundError), (409, ConflictError)]
)
def test_other_statuses_are_not_retried(
    router: respx.MockRouter, code: int, error_class: type[Exception]
) -> None:
    route = router.get(REPO_URL).mock(side_effect=[status(code), ok()])
    core = make_core()
    with pytest.raises(error_class):
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 1
    assert clock_of(core).sleeps == []


def test_post_without_an_idempotency_header_is_never_repeated(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/r/merge/main").mock(side_effect=[status(503), ok()])
    with pytest.raises(ServerError):
        make_core().call(MERGE_WITHOUT_KEY, MERGE_ARGS, None, None)
    assert route.call_count == 1
    assert "Idempotency-Key" not in route.calls.last.request.headers


def test_post_without_an_idempotency_header_is_not_repeated_after_a_dropped_connection(
    router: respx.MockRouter,
) -> None:
    route = router.post(f"{SERVER}/acme/r/merge/main").mock(
        side_effect=[httpx.RemoteProtocolError("Server disconnected"), ok()]
    )
    with pytest.raises(APIConnectionError):
        make_core().call(MERGE_WITHOUT_KEY, MERGE_ARGS, None, None)
    assert route.call_count == 1


def test_post_with_an_idempotency_header_is_retried_with_the_same_key(
    router: respx.MockRouter,
) -> None:
    route = router.post(f"{SERVER}/acme/repos").mock(
        side_effect=[
            status(503),
            httpx.ReadTimeout("timed out"),
            httpx.Response(201, json=repo_json()),
        ]
    )
    make_core().call(CREATE_REPO, {"org": "acme"}, {"name": "r"}, None)
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert route.call_count == 3
    assert len(keys) == 1
    assert all(call.request.content == b'{"name":"r"}' for call in route.calls)


def test_the_caller_s_idempotency_key_is_sent_on_every_attempt(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/repos").mock(
        side_effect=[status(500), httpx.Response(201, json=repo_json())]
    )
    make_core().call(CREATE_REPO, {"org": "acme"}, {"name": "r"}, {"idempotency_key": "abc-1"})
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == ["abc-1", "abc-1"]


def test_delete_is_retried(router: respx.MockRouter) -> None:
    route = router.delete(f"{SERVER}/acme/r/branches/b").mock(
        side_effect=[status(502), httpx.Response(200, json={"success": True})]
    )
    make_core().call(DELETE_BRANCH, {"org": "acme", "repo": "r", "branch": "b"}, None, None)
    assert route.call_count == 2


def test_strategy_none_makes_one_attempt(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=[status(503), ok()])
    with pytest.raises(ServerError):
        make_core(retry_config={"strategy": "none"}).call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 1


def test_call_retries_beat_client_retries(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=[status(503), ok(), status(503), ok()])
    core = make_core(retry_config={"strategy": "none"})
    on: RetryConfigDict = {"strategy": "backoff", "backoff": {"initial_interval": 10, "jitter": 0}}
    assert core.call(GET_REPO, REPO_ARGS, None, {"retries": on}).name == "r"
    assert clock_of(core).sleeps == [0.01]
    with pytest.raises(ServerError):
        make_core().call(GET_REPO, REPO_ARGS, None, {"retries": RetryConfig("none")})
    assert route.call_count == 3


def test_exhausted_retries_raise_the_status_s_typed_error(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(return_value=status(429))
    core = make_core(retry_config=backoff(max_elapsed_time=3_000))
    with pytest.raises(RateLimitError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    # 0.5 + 0.75 + 1.125 = 2.375 s; the next wait (1.6875 s) would pass 3 s.
    assert clock_of(core).sleeps == [0.5, 0.75, 1.125]
    assert caught.value.attempts == 4
    assert str(caught.value) == "status 429 (429 ERR, after 4 attempts)"


# -- Retry-After ----------------------------------------------------------------------------


def test_retry_after_seconds_replace_the_backoff(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(side_effect=[status(429, **{"Retry-After": "7"}), ok()])
    core = make_core()
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [7.0]


def test_retry_after_is_not_capped_by_max_interval(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(side_effect=[status(503, **{"Retry-After": "90"}), ok()])
    core = make_core(retry_config=backoff(max_interval=1_000))
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [90.0]


def test_retry_after_http_date_is_measured_from_the_response_date(
    router: respx.MockRouter,
) -> None:
    headers = {
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
        "Retry-After": "Wed, 21 Oct 2015 07:28:03 GMT",
    }
    router.get(REPO_URL).mock(side_effect=[status(503, **headers), ok()])
    core = make_core()
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [3.0]


def test_retry_after_http_date_without_a_date_header_uses_the_clock(
    router: respx.MockRouter,
) -> None:
    from email.utils import formatdate

    core = make_core()
    in_four_seconds = formatdate(clock_of(core).time() + 4, usegmt=True)
    router.get(REPO_URL).mock(side_effect=[status(503, **{"Retry-After": in_four_seconds}), ok()])
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [pytest.approx(4.0, abs=1.0)]


def test_retry_after_ms(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(side_effect=[status(503, **{"retry-after-ms": "250"}), ok()])
    core = make_core()
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [0.25]


def test_retry_after_past_the_deadline_fails_at_once(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=[status(429, **{"Retry-After": "400"}), ok()])
    core = make_core()  # max_elapsed_time: 300 s
    with pytest.raises(RateLimitError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 1
    assert clock_of(core).sleeps == []
    assert caught.value.retry_after == 400.0


# -- the deadline ---------------------------------------------------------------------------


def test_deadline_stops_the_call_before_a_wait_that_would_pass_it(
    router: respx.MockRouter,
) -> None:
    route = router.get(REPO_URL).mock(return_value=status(503))
    core = make_core(retry_config=backoff(initial_interval=500, exponent=2, max_elapsed_time=2_000))
    with pytest.raises(ServerError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    clock = clock_of(core)
    # Waits of 0.5 and 1 s fit in 2 s; the next (2 s) would end past the deadline.
    assert clock.sleeps == [0.5, 1.0]
    assert route.call_count == 3
    assert caught.value.attempts == 3
    assert sum(clock.sleeps) < 2.0


def test_each_attempt_timeout_is_clipped_to_the_time_left(router: respx.MockRouter) -> None:
    core = make_core(
        timeout_ms=4_000,
        retry_config=backoff(initial_interval=1_000, exponent=1, max_elapsed_time=10_000),
    )
    clock = clock_of(core)
    timeouts: list[float] = []

    def slow_failure(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        clock.advance(2.5)  # each attempt takes 2.5 s
        return status(503)

    router.get(REPO_URL).mock(side_effect=slow_failure)
    with pytest.raises(ServerError):
        core.call(GET_REPO, REPO_ARGS, None, None)
    # Attempts start at 0, 3.5 and 7 s: the third has 3 s left; no fourth can start in time.
    assert timeouts == [4.0, 4.0, 3.0]
    assert clock.now - 1000.0 == pytest.approx(9.5)


def test_a_hanging_attempt_ends_at_the_deadline(router: respx.MockRouter) -> None:
    core = make_core(timeout_ms=60_000, retry_config=backoff(max_elapsed_time=5_000))
    clock = clock_of(core)

    def hang(request: httpx.Request) -> httpx.Response:
        clock.advance(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("timed out", request=request)

    route = router.get(REPO_URL).mock(side_effect=hang)
    with pytest.raises(APITimeoutError):
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 1
    assert clock.now - 1000.0 == pytest.approx(5.0)


def test_deadline_passed_while_sleeping_starts_no_new_attempt(router: respx.MockRouter) -> None:
    class OversleepingClock(type(clock_of(make_core()))):  # type: ignore[misc]
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds + 10)  # the process was suspended

    core = make_core(retry_config=backoff(max_elapsed_time=5_000))
    core.clock = OversleepingClock()
    route = router.get(REPO_URL).mock(return_value=status(503))
    with pytest.raises(ServerError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 1
    assert caught.value.attempts == 1


# -- transport failures ---------------------------------------------------------------------


def test_per_attempt_timeout_raises_api_timeout_error(router: respx.MockRouter) -> None:
    router.get(url__startswith=REPO_URL).mock(side_effect=httpx.ReadTimeout("timed out"))
    core = make_core(timeout_ms=2_500, retry_config={"strategy": "none"})
    with pytest.raises(APITimeoutError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert str(caught.value) == (
        f"repos.get: GET {REPO_URL} failed: read timed out after 2.5 s (1 attempt over 0.0 s)"
    )
    assert caught.value.url == REPO_URL
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_timeout_is_retried_then_succeeds(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=[httpx.ConnectTimeout("slow"), ok()])
    make_core().call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 2


def test_dropped_connection_is_retried_then_raises_connection_error(
    router: respx.MockRouter,
) -> None:
    route = router.get(REPO_URL).mock(
        side_effect=httpx.RemoteProtocolError("Server disconnected without sending a response.")
    )
    core = make_core(
        retry_config=backoff(initial_interval=1_000, exponent=1, max_elapsed_time=3_500)
    )
    with pytest.raises(APIConnectionError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert type(caught.value) is APIConnectionError
    assert route.call_count == 4
    assert str(caught.value) == (
        f"repos.get: GET {REPO_URL} failed: RemoteProtocolError: Server disconnected without "
        "sending a response. (4 attempts over 3.0 s)"
    )


def test_connection_errors_are_not_retried_when_turned_off(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=[httpx.ConnectError("refused"), ok()])
    config = {"strategy": "backoff", "backoff": {}, "retry_connection_errors": False}
    with pytest.raises(APIConnectionError) as caught:
        make_core(retry_config=config).call(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 1
    assert str(caught.value) == (
        f"repos.get: GET {REPO_URL} failed: cannot connect to https://depot.test:443: refused "
        "(1 attempt over 0.0 s)"
    )


def test_an_invalid_certificate_is_not_retried() -> None:
    attempts: list[httpx.Request] = []

    def bad_certificate(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as error:
            raise httpx.ConnectError("certificate verify failed", request=request) from error

    # respx rewrites exception chains, so a plain transport stands in for the network here.
    client = httpx.Client(transport=httpx.MockTransport(bad_certificate))
    with pytest.raises(APIConnectionError):
        make_core(http_client=client).call(GET_REPO, REPO_ARGS, None, None)
    assert len(attempts) == 1


def test_connection_error_message_leaves_out_the_query(router: respx.MockRouter) -> None:
    from .support import LIST_REPOS

    router.get(url__startswith=f"{SERVER}/acme/repos").mock(side_effect=httpx.ConnectError("no"))
    with pytest.raises(APIConnectionError) as caught:
        make_core(retry_config={"strategy": "none"}).call(
            LIST_REPOS, {"org": "acme", "cursor": "c_secretish"}, None, None
        )
    assert "c_secretish" not in str(caught.value)
    assert caught.value.url == f"{SERVER}/acme/repos"


# -- async ----------------------------------------------------------------------------------


async def test_async_retries_statuses_with_backoff(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=[status(503), status(429), ok()])
    core = make_core()
    assert (await core.call_async(GET_REPO, REPO_ARGS, None, None)).name == "r"
    assert route.call_count == 3
    assert clock_of(core).sleeps == [0.5, 0.75]


async def test_async_post_keeps_its_idempotency_key(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/repos").mock(
        side_effect=[httpx.RemoteProtocolError("dropped"), httpx.Response(201, json=repo_json())]
    )
    await make_core().call_async(CREATE_REPO, {"org": "acme"}, {"name": "r"}, None)
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert len(keys) == 2 and keys[0] == keys[1]


async def test_async_post_without_a_key_is_not_repeated(router: respx.MockRouter) -> None:
    route = router.post(f"{SERVER}/acme/r/merge/main").mock(side_effect=[status(500), ok()])
    with pytest.raises(ServerError):
        await make_core().call_async(MERGE_WITHOUT_KEY, MERGE_ARGS, None, None)
    assert route.call_count == 1


async def test_async_retry_after_and_deadline(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(
        side_effect=[
            status(503, **{"Retry-After": "2"}),
            status(503, **{"Retry-After": "400"}),
            ok(),
        ]
    )
    core = make_core()
    with pytest.raises(ServerError) as caught:
        await core.call_async(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [2.0]
    assert caught.value.attempts == 2


async def test_async_timeout_becomes_api_timeout_error(router: respx.MockRouter) -> None:
    route = router.get(REPO_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    core = make_core(
        retry_config=backoff(initial_interval=1_000, exponent=1, max_elapsed_time=2_500)
    )
    with pytest.raises(APITimeoutError) as caught:
        await core.call_async(GET_REPO, REPO_ARGS, None, None)
    assert route.call_count == 3
    assert caught.value.attempts == 3


@pytest.mark.parametrize("make_failure", [lambda: status(404), lambda: httpx.ConnectError("x")])
async def test_async_never_sleeps_for_failures_that_are_final(
    router: respx.MockRouter, make_failure: Callable[[], Any]
) -> None:
    failure = make_failure()
    router.get(REPO_URL).mock(
        side_effect=[failure] if isinstance(failure, Exception) else None,
        return_value=None if isinstance(failure, Exception) else failure,
    )
    core = make_core(
        retry_config=RetryConfig("backoff", BackoffStrategy(), retry_connection_errors=False)
    )
    with pytest.raises((NotFoundError, APIConnectionError)):
        await core.call_async(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == []


def test_retry_after_zero_falls_back_to_the_backoff(router: respx.MockRouter) -> None:
    router.get(REPO_URL).mock(side_effect=[status(503, **{"Retry-After": "0"}), ok()])
    core = make_core()
    core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [0.5]


def test_a_deadline_passed_after_a_transport_failure_keeps_its_cause(
    router: respx.MockRouter,
) -> None:
    core = make_core(retry_config=backoff(max_elapsed_time=5_000))
    clock = clock_of(core)
    original_sleep = clock.sleep

    def oversleep(seconds: float) -> None:
        original_sleep(seconds + 10)

    clock.sleep = oversleep  # type: ignore[method-assign]
    router.get(REPO_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
