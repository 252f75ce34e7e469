"""The retry policy: which failures are retried, how long to wait, and the call's deadline.

Pure decisions over times passed in, so the rules are tested without waiting.

- Only failures that may succeed next time are retried: the operation's retryable statuses
  and error codes (`IDEMPOTENCY_KEY_IN_USE`: the first attempt is still running, and its
  answer will be replayed), and (with `retry_connection_errors`) timeouts and dropped or
  refused connections.
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

import httpx

if TYPE_CHECKING:
    from mesa_sdk._runtime.config import BackoffStrategy, RetryConfig
    from mesa_sdk._runtime.operation import Operation

# Methods whose repetition has no extra effect (RFC 9110 §9.2.2).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_replayable(operation: Operation) -> bool:
    """Whether sending the operation twice is safe: an idempotent method or an idempotency key."""
    return operation.http_method in _IDEMPOTENT_METHODS or operation.idempotency_header is not None


def is_transient_transport_error(error: httpx.RequestError) -> bool:
    """Whether a failure to get a response may not happen again.

    Timeouts, refused, reset and dropped connections may pass; an invalid certificate, a
    malformed URL or too many redirects will not.
    """
    if isinstance(error, httpx.TimeoutException):
        return True
    if isinstance(error, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return not _caused_by_certificate_error(error)
    return False


def _caused_by_certificate_error(error: BaseException) -> bool:
    import ssl

    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def backoff_delay(backoff: BackoffStrategy, retries_taken: int, random_fraction: float) -> float:
    """Seconds to wait before retry number `retries_taken + 1`, drawn from [d * (1 - jitter), d]."""
    try:
        interval = backoff.initial_interval * backoff.exponent**retries_taken
    except OverflowError:
        interval = float("inf")
    capped = min(interval, backoff.max_interval) / 1000
    return capped * (1 - backoff.jitter * random_fraction)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, and why: `delay` is the wait in seconds, or None to give up."""

    delay: float | None
    reason: str


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
        self._retry_statuses = operation.retry_status_codes
        self._retry_codes = operation.retry_error_codes
        self._replayable = is_replayable(operation)
        self._method = operation.http_method
        self._random_fraction = random_fraction
        self.retries_taken = 0
        self.deadline = (
            started_at + self._backoff.max_elapsed_time / 1000
            if self._backoff is not None
            else None
        )
        """When the call must be over (monotonic seconds), or None without retries."""

    def attempt_timeout(self, timeout: float, now: float) -> float | None:
        """The next attempt's timeout: `timeout` clipped to the time left, None when none is."""
        if self.deadline is None:
            return timeout
        left = self.deadline - now
        return min(timeout, left) if left > 0 else None

    def after_status(
        self, status_code: int, code: str | None, retry_after: float | None, now: float
    ) -> RetryDecision:
        """What to do after an error response with error `code`; `retry_after` is the server's
        wait, if any."""
        reason = f"status {status_code}" + (f" {code}" if code else "")
        if status_code not in self._retry_statuses and code not in self._retry_codes:
            return RetryDecision(None, f"{reason} is not retryable")
        return self._plan(reason, retry_after, now)

    def after_transport_error(self, error: httpx.RequestError, now: float) -> RetryDecision:
        """What to do after no response came."""
        reason = type(error).__name__
        if not is_transient_transport_error(error):
            return RetryDecision(None, f"{reason} is not transient")
        if not self._retry_connection_errors:
            return RetryDecision(None, f"{reason}: retry_connection_errors is off")
        return self._plan(reason, None, now)

    def _plan(self, reason: str, retry_after: float | None, now: float) -> RetryDecision:
        if self._backoff is None or self.deadline is None:
            return RetryDecision(None, f"{reason}; retries are off")
        if not self._replayable:
            return RetryDecision(
                None, f"{reason}; a {self._method} without an idempotency key is never repeated"
            )
        # A zero wait (or a date already past) would let a server pin the client in a tight
        # loop until the deadline; the backoff applies instead.
        if retry_after is not None and retry_after > 0:
            delay, source = retry_after, "Retry-After"
        else:
            delay = backoff_delay(self._backoff, self.retries_taken, self._random_fraction())
            source = "backoff"
        if now + delay >= self.deadline:
            return RetryDecision(
                None,
                f"{reason}; waiting {delay:.2f} s ({source}) would pass the deadline "
                f"(max_elapsed_time {self._backoff.max_elapsed_time} ms)",
            )
        self.retries_taken += 1
        return RetryDecision(delay, f"{reason} ({source})")
