"""The retry policy: which failures are retried, how long to wait, and the call's deadline.

Pure decisions over times passed in, so the rules are tested without waiting.

- Only failures that may succeed next time are retried: the operation's retryable statuses
  and error codes (`IDEMPOTENCY_KEY_IN_USE`: the first attempt is still running, and its
  answer will be replayed), and (with `retry_connection_errors`) connections that could not
  be made, timed out, or were reset or dropped. A failed TLS handshake is never retried.
- A server that cannot be reached (refused, no route, name not resolved) is retried only
  while it has been so for less than `max_unreachable_time`: a restarting server is back
  within seconds, and a dead one should not hold the caller until the deadline.
- A POST or PATCH is retried only when it carries an idempotency key; GET, PUT and DELETE
  are safe to repeat.
- The n-th retry waits `min(initial * exponent**n, max_interval)`, less up to `jitter` of it,
  unless the server said how long to wait (`Retry-After`, more than 0), which then wins.
- `max_elapsed_time` is a deadline for the whole call: each attempt's timeout is clipped to
  the time left, a wait that would end past it is not started (the call fails at once with
  the last error), and no attempt starts after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesa_sdk._runtime.config import BackoffStrategy, RetryConfig
    from mesa_sdk._runtime.operation import Operation
    from mesa_sdk._runtime.transport_failures import TransportFailure

# Methods whose repetition has no extra effect (RFC 9110 §9.2.2).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_replayable(operation: Operation) -> bool:
    """Whether sending the operation twice is safe: an idempotent method or an idempotency key."""
    return operation.http_method in _IDEMPOTENT_METHODS or operation.idempotency_header is not None


def backoff_delay(backoff: BackoffStrategy, retries_taken: int, random_fraction: float) -> float:
    """Seconds to wait before retry number `retries_taken + 1`, drawn from [d * (1 - jitter), d]."""
    try:
        interval = backoff.initial_interval * backoff.exponent**retries_taken
    except OverflowError:
        interval = float("inf")
    capped = min(interval, backoff.max_interval) / 1000
    return capped * (1 - backoff.jitter * random_fraction)


def call_deadline(config: RetryConfig, started_at: float) -> float | None:
    """When a call started at `started_at` must be over (monotonic seconds), or None without
    retries."""
    if config.strategy != "backoff" or config.backoff is None:
        return None
    return started_at + config.backoff.max_elapsed_time / 1000


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again: `delay` is the wait in seconds, or None to give up.

    `failure` says what went wrong; `note` says where the wait came from (`backoff`,
    `Retry-After`) or, when giving up, why.
    """

    delay: float | None
    failure: str
    note: str


class RetrySchedule:
    """The retry state of one call: its deadline and the retries it has taken."""

    def __init__(
        self,
        config: RetryConfig,
        operation: Operation,
        *,
        started_at: float,
        random_fraction: Callable[[], float],
    ) -> None:
        self._backoff = config.backoff if config.strategy == "backoff" else None
        self._retry_connection_errors = config.retry_connection_errors
        self._max_unreachable_time = config.max_unreachable_time
        self._retry_statuses = operation.retry_status_codes
        self._retry_codes = operation.retry_error_codes
        self._replayable = is_replayable(operation)
        self._method = operation.http_method
        self._random_fraction = random_fraction
        self.retries_taken = 0
        self.deadline = call_deadline(config, started_at)
        """When the call must be over (monotonic seconds), or None without retries."""
        # When the current run of failures to reach the server began, if one is running.
        self._unreachable_since: float | None = None

    def after_status(
        self, status_code: int, code: str | None, retry_after: float | None, now: float
    ) -> RetryDecision:
        """What to do after an error response with error `code`; `retry_after` is the server's
        wait, if any."""
        self._unreachable_since = None
        failure = f"status {status_code}" + (f" {code}" if code else "")
        if status_code not in self._retry_statuses and code not in self._retry_codes:
            return RetryDecision(None, failure, "not retryable")
        return self._plan(failure, retry_after, now, self.deadline)

    def after_transport_error(
        self, failure: TransportFailure, now: float, attempt_started_at: float
    ) -> RetryDecision:
        """What to do after no response came to the attempt started at `attempt_started_at`."""
        if failure.kind != "unreachable":
            self._unreachable_since = None
        if failure.kind == "tls":
            return RetryDecision(None, failure.reason, "a failed TLS handshake is not retried")
        if failure.kind == "final":
            return RetryDecision(None, failure.reason, "not transient")
        if not self._retry_connection_errors:
            return RetryDecision(None, failure.reason, "retry_connection_errors is off")
        if failure.kind == "interrupted":
            return self._plan(failure.reason, None, now, self.deadline)
        if self._unreachable_since is None:
            # From the attempt's start: a connect that timed out after 60 s has been
            # unreachable for those 60 s.
            self._unreachable_since = attempt_started_at
        give_up_at = self._unreachable_since + self._max_unreachable_time / 1000
        return self._plan(failure.reason, None, now, give_up_at)

    def _plan(
        self, failure: str, retry_after: float | None, now: float, give_up_at: float | None
    ) -> RetryDecision:
        if self._backoff is None or self.deadline is None or give_up_at is None:
            return RetryDecision(None, failure, "retries are off")
        if not self._replayable:
            return RetryDecision(
                None, failure, f"a {self._method} without an idempotency key is never repeated"
            )
        # A zero wait (or a date already past) would let a server pin the client in a tight
        # loop until the deadline; the backoff applies instead.
        if retry_after is not None and retry_after > 0:
            delay, source = retry_after, "Retry-After"
        else:
            delay = backoff_delay(self._backoff, self.retries_taken, self._random_fraction())
            source = "backoff"
        if now + delay >= min(give_up_at, self.deadline):
            limit = (
                f"max_elapsed_time ({self._backoff.max_elapsed_time} ms)"
                if self.deadline <= give_up_at
                else f"max_unreachable_time ({self._max_unreachable_time} ms)"
            )
            return RetryDecision(
                None, failure, f"waiting {delay:.2f} s ({source}) would pass {limit}"
            )
        self.retries_taken += 1
        return RetryDecision(delay, failure, source)
