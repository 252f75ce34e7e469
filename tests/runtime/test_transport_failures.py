"""Failures to get a response, on a fake clock: how each is told apart from its cause chain,
how long each kind is retried, what the error says, and the log lines of the retries.

A plain `httpx.MockTransport` stands in for the network: respx rewrites exception chains, and
the chain is what the SDK reads. Each chain is built as httpx builds it (checked against real
loopback failures by tests/reliability/test_deadlines.py).
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections.abc import Callable, Iterator

import httpx
import pytest

from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.errors import APIConnectionError, APITimeoutError, InvalidOptionsError
from mesa_sdk._runtime.transport_failures import TransportFailure, classify

from .support import (
    GET_REPO,
    MERGE_WITHOUT_KEY,
    SERVER,
    clock_of,
    envelope,
    make_core,
    repo_json,
)

REPO_URL = f"{SERVER}/acme/r"
REPO_ARGS = {"org": "acme", "repo": "r"}
ORIGIN = "https://depot.test:443"
# The waits of the default backoff without jitter: 0.5 s growing by 1.5.
DEFAULT_WAITS = [0.5, 0.75, 1.125, 1.6875, 2.53125]

Outcome = Callable[[httpx.Request], httpx.Response]


# -- httpx's errors, with the causes it chains to them -----------------------------------------


def _chained(error: httpx.RequestError, *causes: BaseException) -> httpx.RequestError:
    """`error` raised from the first cause, raised from the next...: as httpx chains them."""
    for outer, inner in zip((error, *causes), causes, strict=False):
        outer.__cause__ = inner
    return error


def refused(request: httpx.Request) -> httpx.ConnectError:
    return _chained(
        httpx.ConnectError("[Errno 111] Connection refused", request=request),
        ConnectionRefusedError(111, "Connection refused"),
    )


def refused_async(request: httpx.Request) -> httpx.ConnectError:
    # anyio's form: the refusal is the context of a summary error.
    summary = OSError("All connection attempts failed")
    summary.__context__ = ConnectionRefusedError(111, "Connect call failed")
    return _chained(httpx.ConnectError("All connection attempts failed", request=request), summary)


def not_resolved(request: httpx.Request) -> httpx.ConnectError:
    return _chained(
        httpx.ConnectError("[Errno -2] Name or service not known", request=request),
        socket.gaierror(-2, "Name or service not known"),
    )


def no_route(request: httpx.Request) -> httpx.ConnectError:
    return _chained(
        httpx.ConnectError("[Errno 113] No route to host", request=request),
        OSError(errno.EHOSTUNREACH, "No route to host"),
    )


def wrong_tls_version(request: httpx.Request) -> httpx.ConnectError:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    cause.reason = "WRONG_VERSION_NUMBER"
    return _chained(httpx.ConnectError(str(cause), request=request), cause)


def self_signed(request: httpx.Request) -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    cause.reason = "CERTIFICATE_VERIFY_FAILED"
    cause.verify_message = "self-signed certificate"
    return _chained(httpx.ConnectError(str(cause), request=request), cause)


def reset(request: httpx.Request) -> httpx.ReadError:
    return _chained(
        httpx.ReadError("[Errno 104] Connection reset by peer", request=request),
        ConnectionResetError(104, "Connection reset by peer"),
    )


def timed_request() -> httpx.Request:
    request = httpx.Request("GET", REPO_URL)
    request.extensions["timeout"] = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    return request


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (refused, "unreachable", f"cannot connect to {ORIGIN}: connection refused"),
        (refused_async, "unreachable", f"cannot connect to {ORIGIN}: connection refused"),
        (not_resolved, "unreachable", f"cannot connect to {ORIGIN}: name not resolved"),
        (no_route, "unreachable", f"cannot connect to {ORIGIN}: no route to host"),
        (
            lambda r: httpx.ConnectTimeout("timed out", request=r),
            "unreachable",
            "connect timed out after 5 s",
        ),
        (
            wrong_tls_version,
            "tls",
            f"cannot connect to {ORIGIN}: TLS handshake failed: wrong version number, "
            "is the server speaking plain HTTP?",
        ),
        (
            self_signed,
            "tls",
            f"cannot connect to {ORIGIN}: TLS handshake failed: certificate verify failed "
            "(self-signed certificate)",
        ),
        (
            lambda r: httpx.ReadTimeout("timed out", request=r),
            "interrupted",
            "read timed out after 5 s",
        ),
        (lambda r: httpx.WriteTimeout("", request=r), "interrupted", "write timed out after 5 s"),
        (
            lambda r: httpx.PoolTimeout("", request=r),
            "interrupted",
            "no connection of the pool came free after 5 s",
        ),
        (reset, "interrupted", "connection reset by the server"),
        (
            lambda r: httpx.RemoteProtocolError("Server disconnected", request=r),
            "interrupted",
            "RemoteProtocolError: Server disconnected",
        ),
        (
            lambda r: httpx.LocalProtocolError("bad header", request=r),
            "final",
            "LocalProtocolError: bad header",
        ),
        (
            lambda r: httpx.UnsupportedProtocol("ftp", request=r),
            "final",
            "UnsupportedProtocol: ftp",
        ),
        (lambda r: httpx.TooManyRedirects("loop", request=r), "final", "TooManyRedirects: loop"),
        (lambda r: httpx.DecodingError("bad gzip", request=r), "final", "DecodingError: bad gzip"),
    ],
)
def test_each_transport_error_is_classified_by_its_cause(
    error: Callable[[httpx.Request], httpx.RequestError], kind: str, reason: str
) -> None:
    assert classify(error(timed_request())) == TransportFailure(kind, reason)  # type: ignore[arg-type]


def test_the_origin_shows_the_default_port_and_brackets_an_ipv6_host() -> None:
    plain = classify(refused(httpx.Request("GET", "http://example.test/api")))
    assert plain.reason == "cannot connect to http://example.test:80: connection refused"
    ipv6 = classify(refused(httpx.Request("GET", "http://[::1]:8080/api")))
    assert ipv6.reason == "cannot connect to http://[::1]:8080: connection refused"


# -- how long each kind is retried ------------------------------------------------------------


def core_over(outcomes: Iterator[Outcome], **overrides: object) -> tuple[ClientCore, list[float]]:
    """A core whose transport answers each attempt with the next outcome; also the times (on
    the fake clock) at which attempts were made."""
    attempts: list[float] = []
    core: ClientCore | None = None

    def handle(request: httpx.Request) -> httpx.Response:
        assert core is not None
        attempts.append(clock_of(core).now)
        outcome = next(outcomes)
        return outcome(request)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    core = make_core(http_client=client, **overrides)
    return core, attempts


def always(error: Callable[[httpx.Request], httpx.RequestError]) -> Iterator[Outcome]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error(request)

    while True:
        yield fail


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=repo_json())


def unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json=envelope("UNAVAILABLE", "restarting"))


def test_a_refused_connection_is_retried_for_max_unreachable_time_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mesa_sdk")
    core, attempts = core_over(always(refused))
    with pytest.raises(APIConnectionError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    # The next wait, 3.8 s, would end 10.4 s after the first refusal: past the 10 s allowed,
    # and far before the 300 s deadline.
    assert clock_of(core).sleeps == DEFAULT_WAITS
    assert len(attempts) == 6
    error = caught.value
    assert type(error) is APIConnectionError
    assert error.attempts == 6
    assert str(error) == (
        f"repos.get: GET {REPO_URL} failed: cannot connect to {ORIGIN}: connection refused "
        "(6 attempts over 6.6 s)"
    )
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert [record.levelname for record in caplog.records] == ["INFO"] * 6
    assert [record.getMessage() for record in caplog.records] == [
        "repos.get: retrying GET /api/v1/acme/r in 0.50 s (attempt 2 of the call, 0.0 s "
        f"elapsed): cannot connect to {ORIGIN}: connection refused",
        "repos.get: retrying GET /api/v1/acme/r in 0.75 s (attempt 3 of the call, 0.5 s "
        f"elapsed): cannot connect to {ORIGIN}: connection refused",
        "repos.get: retrying GET /api/v1/acme/r in 1.12 s (attempt 4 of the call, 1.2 s "
        f"elapsed): cannot connect to {ORIGIN}: connection refused",
        "repos.get: retrying GET /api/v1/acme/r in 1.69 s (attempt 5 of the call, 2.4 s "
        f"elapsed): cannot connect to {ORIGIN}: connection refused",
        "repos.get: retrying GET /api/v1/acme/r in 2.53 s (attempt 6 of the call, 4.1 s "
        f"elapsed): cannot connect to {ORIGIN}: connection refused",
        "repos.get: giving up on GET /api/v1/acme/r after 6 attempts over 6.6 s: cannot "
        f"connect to {ORIGIN}: connection refused; waiting 3.80 s (backoff) would pass "
        "max_unreachable_time (10000 ms)",
    ]


def test_a_name_that_does_not_resolve_is_retried_as_briefly() -> None:
    core, attempts = core_over(always(not_resolved))
    with pytest.raises(APIConnectionError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert len(attempts) == 6
    assert str(caught.value) == (
        f"repos.get: GET {REPO_URL} failed: cannot connect to {ORIGIN}: name not resolved "
        "(6 attempts over 6.6 s)"
    )


@pytest.mark.parametrize("error", [wrong_tls_version, self_signed])
def test_a_failed_tls_handshake_is_never_retried(
    error: Callable[[httpx.Request], httpx.RequestError], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mesa_sdk")
    core, attempts = core_over(always(error))
    with pytest.raises(APIConnectionError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert len(attempts) == 1 and clock_of(core).sleeps == []
    assert caught.value.attempts == 1
    reason = classify(error(timed_request())).reason
    assert str(caught.value) == f"repos.get: GET {REPO_URL} failed: {reason} (1 attempt over 0.0 s)"
    assert [record.getMessage() for record in caplog.records] == [
        f"repos.get: giving up on GET /api/v1/acme/r after 1 attempt over 0.0 s: {reason}; "
        "a failed TLS handshake is not retried"
    ]


def test_max_unreachable_time_is_a_setting() -> None:
    config = {"strategy": "backoff", "backoff": {"jitter": 0}, "max_unreachable_time": 2_000}
    core, _ = core_over(always(refused), retry_config=config)
    with pytest.raises(APIConnectionError, match=r"\(3 attempts over 1\.2 s\)$"):
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert clock_of(core).sleeps == [0.5, 0.75]


def test_max_unreachable_time_is_checked() -> None:
    with pytest.raises(InvalidOptionsError) as caught:
        make_core(retry_config={"strategy": "none", "max_unreachable_time": 0})
    assert str(caught.value) == "retry_config.max_unreachable_time: must be > 0, got 0"


def test_a_server_back_within_max_unreachable_time_is_reached() -> None:
    outcomes = iter([*[next(always(refused))] * 4, ok])
    core, attempts = core_over(outcomes)
    assert core.call(GET_REPO, REPO_ARGS, None, None).name == "r"
    assert len(attempts) == 5
    assert clock_of(core).sleeps == DEFAULT_WAITS[:4]


def test_each_run_of_refusals_gets_its_own_max_unreachable_time() -> None:
    """A server restarting twice in one call: the allowance starts again after it answered."""
    refusal = next(always(refused))
    outcomes = iter([*[refusal] * 5, unavailable, refusal, ok])
    core, attempts = core_over(outcomes)
    assert core.call(GET_REPO, REPO_ARGS, None, None).name == "r"
    # The second refusals start 10.4 s into the call, past the first run's 10 s, and the
    # 5.7 s wait after it is taken.
    assert attempts[6] - attempts[0] > 10
    assert len(attempts) == 8


def test_the_allowance_starts_at_the_first_refusal_not_at_the_call_s_start() -> None:
    """30 s of 503s (within the 300 s deadline), then refusals: 10 s of them are retried."""
    config = {
        "strategy": "backoff",
        "backoff": {"initial_interval": 3_000, "exponent": 1, "jitter": 0},
        "max_unreachable_time": 10_000,
    }
    refusal = next(always(refused))
    core, attempts = core_over(iter([*[unavailable] * 10, *[refusal] * 10]), retry_config=config)
    with pytest.raises(
        APIConnectionError, match=r"connection refused \(14 attempts over 39\.0 s\)$"
    ):
        core.call(GET_REPO, REPO_ARGS, None, None)
    # Refusals at 30, 33, 36 and 39 s; the wait after the last would end 12 s after the first.
    assert attempts[10:] == [1030.0, 1033.0, 1036.0, 1039.0]


@pytest.mark.parametrize(
    "error", [reset, lambda r: httpx.RemoteProtocolError("Server disconnected", request=r)]
)
def test_a_connection_lost_after_connecting_is_retried_until_the_deadline(
    error: Callable[[httpx.Request], httpx.RequestError],
) -> None:
    config = {
        "strategy": "backoff",
        "backoff": {
            "initial_interval": 5_000,
            "exponent": 1,
            "jitter": 0,
            "max_elapsed_time": 30_000,
        },
    }
    core, attempts = core_over(always(error), retry_config=config)
    with pytest.raises(APIConnectionError, match=r"\(6 attempts over 25\.0 s\)$"):
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert len(attempts) == 6


def test_a_read_timeout_is_retried_until_the_deadline() -> None:
    config = {
        "strategy": "backoff",
        "backoff": {
            "initial_interval": 5_000,
            "exponent": 1,
            "jitter": 0,
            "max_elapsed_time": 30_000,
        },
    }
    timeout = next(always(lambda r: httpx.ReadTimeout("timed out", request=r)))
    core, attempts = core_over(iter([timeout] * 6), retry_config=config)
    with pytest.raises(APITimeoutError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert len(attempts) == 6
    assert str(caught.value) == (
        # The last attempt's timeout was cut to the 5 s left before the deadline.
        f"repos.get: GET {REPO_URL} failed: read timed out after 5 s (6 attempts over 25.0 s)"
    )


def test_a_post_without_a_key_is_still_never_repeated_after_a_refusal() -> None:
    core, attempts = core_over(always(refused))
    with pytest.raises(APIConnectionError):
        core.call(MERGE_WITHOUT_KEY, {"org": "acme", "repo": "r", "base": "main"}, None, None)
    assert len(attempts) == 1


async def test_async_refusals_are_retried_as_briefly() -> None:
    attempts: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise refused_async(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    core = make_core(async_http_client=client)
    with pytest.raises(APIConnectionError) as caught:
        await core.call_async(GET_REPO, REPO_ARGS, None, None)
    assert len(attempts) == 6
    assert str(caught.value).endswith(": connection refused (6 attempts over 6.6 s)")


def connect_times_out(core_clock: Callable[[], ClientCore]) -> Outcome:
    """An attempt that spends its whole connect timeout (on the fake clock), then fails."""

    def fail(request: httpx.Request) -> httpx.Response:
        clock_of(core_clock()).advance(request.extensions["timeout"]["connect"])
        raise httpx.ConnectTimeout("timed out", request=request)

    return fail


@pytest.mark.parametrize(
    ("timeout_ms", "message_end"),
    [
        # One 30 s connect timeout is already past the 10 s allowed.
        (30_000, "connect timed out after 30 s (1 attempt over 30.0 s)"),
        # Attempts start at 0, 2.5, 5.25 and 8.4 s; the next would start past 10 s.
        (2_000, "connect timed out after 2 s (4 attempts over 10.4 s)"),
    ],
)
def test_unreachable_time_counts_from_the_start_of_the_first_failed_attempt(
    timeout_ms: int, message_end: str
) -> None:
    holder: list[ClientCore] = []
    fail = connect_times_out(lambda: holder[0])
    core, _ = core_over(iter([fail] * 10), timeout_ms=timeout_ms)
    holder.append(core)
    with pytest.raises(APITimeoutError) as caught:
        core.call(GET_REPO, REPO_ARGS, None, None)
    assert str(caught.value) == f"repos.get: GET {REPO_URL} failed: {message_end}"
