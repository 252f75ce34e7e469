"""`max_elapsed_time` bounds a whole call in real time, the server's `Retry-After` is
honoured but never waited for past the deadline, and a caller's own httpx client keeps its
timeout unless `timeout_ms` is given.

These are the only timed assertions of the suite: the promise itself is a bound. The fake
clock tests of tests/runtime/test_retries.py pin the arithmetic; these check it holds against
a real server, with margins of a few hundred milliseconds for a loaded machine.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import APITimeoutError, Mesa, ServerError

from .support import HookRecorder, fast_retries, script_for, sdk_client

DEADLINE_S = 2.0
# Waits of 50 ms growing to at most 200 ms: each attempt is a few ms, so the call makes many.
RETRIES = fast_retries(max_elapsed_ms=int(DEADLINE_S * 1000), initial_ms=50, max_interval_ms=200)
MAX_WAIT_S = 0.2
# One slow request on a busy machine, plus the scheduler's slack.
SLACK_S = 0.75


def test_a_server_that_always_fails_gets_a_server_error_at_the_deadline(
    emu: Emulator, org: str
) -> None:
    script = emu.script_faults(f"/api/v1/{org}/repos", [{"status": 503}] * 500, "GET")
    with sdk_client(emu, org, retry_config=RETRIES) as client:
        started = time.monotonic()
        with pytest.raises((ServerError, APITimeoutError)) as caught:
            client.repos.list()
        elapsed = time.monotonic() - started
    # No wait is started that would end past the deadline, so the call ends at most one wait
    # early, and no later than the deadline plus the attempt in flight.
    assert DEADLINE_S - MAX_WAIT_S - 0.05 <= elapsed <= DEADLINE_S + SLACK_S, elapsed
    error = caught.value
    if isinstance(error, APITimeoutError):
        # Rarely, the last attempt starts a few ms before the deadline: its timeout is the
        # time left, so it is cut at the deadline, and the timeout is the last error.
        assert elapsed >= DEADLINE_S - 0.01, elapsed
    else:
        assert isinstance(error, ServerError) and error.status_code == 503
    assert error.attempts >= 5
    # Every attempt reached the server and got its 503 (the cut one may not have arrived).
    consumed = sum(fault["consumed"] for fault in script_for(emu, script)["faults"])
    assert consumed == error.attempts or (
        isinstance(error, APITimeoutError) and consumed == error.attempts - 1
    )


def test_a_retry_after_beyond_the_deadline_is_not_waited_for(emu: Emulator, org: str) -> None:
    script = emu.script_faults(
        f"/api/v1/{org}/repos", [{"status": 503, "retry_after": 30}] * 3, "GET"
    )
    with sdk_client(emu, org, retry_config=RETRIES) as client:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            client.repos.list()
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S / 2, elapsed
    assert caught.value.attempts == 1
    assert caught.value.retry_after == 30
    assert script_for(emu, script)["remaining"] == 2


def test_a_hanging_attempt_is_cut_at_the_deadline(emu: Emulator, org: str) -> None:
    """A 60 s per-attempt timeout does not stretch a 2 s call: the attempt's timeout is
    clipped to the time left (openai-python#3828: 30 s x 3 attempts took 91.6 s)."""
    emu.script_faults(f"/api/v1/{org}/repos", [{"delay_ms": 4000}] * 2, "GET")
    with sdk_client(emu, org, retry_config=RETRIES, timeout_ms=60_000) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            client.repos.list()
        elapsed = time.monotonic() - started
    assert DEADLINE_S - 0.05 <= elapsed <= DEADLINE_S + SLACK_S, elapsed
    assert caught.value.attempts == 1


def test_a_rate_limited_call_waits_as_long_as_the_server_says(
    emu: Emulator, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The emulator's own limiter (not a scripted fault), at 1 request a second, answers the
    second call 429 with `Retry-After: 1`; the SDK waits that second (not its 10 ms backoff),
    by when the limiter has a token again, and the call succeeds."""
    caplog.set_level(logging.INFO, logger="mesa_sdk")
    with sdk_client(emu, org) as client:
        recorder = HookRecorder().install(client)
        emu.set_rate_limit(1, burst=1)
        try:
            client.repos.list()
            client.repos.list()
        finally:
            emu.set_rate_limit(None)
    assert recorder.outcomes() == ["ok", "RateLimitError", "ok"]
    retries = [r.getMessage() for r in caplog.records if ": retrying " in r.getMessage()]
    assert len(retries) == 1
    assert re.fullmatch(
        rf"repos\.list: retrying GET /api/v1/{org}/repos in 1\.00 s \(Retry-After; attempt 2 "
        r"of the call, \d+\.\d s elapsed\): status 429 RATE_LIMITED",
        retries[0],
    ), retries[0]


# -- a caller's own httpx client --------------------------------------------------------------

NO_RETRIES = {"strategy": "none"}


def _timed_out_after(client: Mesa, **options: Any) -> tuple[float, APITimeoutError]:
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as caught:
        client.repos.list(**options)
    return time.monotonic() - started, caught.value


def test_a_given_httpx_client_keeps_its_own_timeout(emu: Emulator, org: str) -> None:
    """`httpx.Client(timeout=1.0)` passed in cuts a hanging attempt at 1 s, not at the SDK's
    60 s default."""
    emu.script_faults(f"/api/v1/{org}/repos", [{"delay_ms": 4000}], "GET")
    with (
        httpx.Client(timeout=1.0) as given,
        sdk_client(emu, org, client=given, retry_config=NO_RETRIES) as client,
    ):
        elapsed, error = _timed_out_after(client)
    assert 1.0 - 0.05 <= elapsed <= 1.0 + SLACK_S, elapsed
    assert re.fullmatch(
        rf"repos\.list: GET {re.escape(emu.url)}/{org}/repos failed: read timed out after 1 s "
        r"\(1 attempt over \d\.\d s\)",
        str(error),
    ), str(error)


def test_timeout_ms_given_explicitly_wins_over_the_given_client_s(emu: Emulator, org: str) -> None:
    emu.script_faults(f"/api/v1/{org}/repos", [{"delay_ms": 4000}] * 2, "GET")
    with httpx.Client(timeout=5.0) as given:
        with sdk_client(emu, org, client=given, retry_config=NO_RETRIES, timeout_ms=300) as client:
            elapsed, error = _timed_out_after(client)
        assert 0.3 - 0.05 <= elapsed <= 0.3 + SLACK_S, elapsed
        assert "read timed out after 0.3 s" in str(error)
        with sdk_client(emu, org, client=given, retry_config=NO_RETRIES) as client:
            elapsed, error = _timed_out_after(client, request_options={"timeout_ms": 200})
        assert 0.2 - 0.05 <= elapsed <= 0.2 + SLACK_S, elapsed
        assert "read timed out after 0.2 s" in str(error)
