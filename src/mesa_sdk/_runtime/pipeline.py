"""One logical call's attempts: hooks, logs, error mapping and retry decisions.

Everything but the I/O, so that the sync and async clients share it: the client sends each
request this object builds, reports how it went, and sleeps for as long as it is told.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import httpx

from mesa_sdk._runtime import logs
from mesa_sdk._runtime.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ErrorMap,
    MesaError,
)
from mesa_sdk._runtime.hooks import HookContext, Hooks
from mesa_sdk._runtime.retries import RetrySchedule
from mesa_sdk._runtime.retry_after import parse_retry_after

if TYPE_CHECKING:
    from mesa_sdk._runtime.clock import Clock
    from mesa_sdk._runtime.credentials import ApiKey
    from mesa_sdk._runtime.request_builder import PreparedCall

# An error body in a message is cut to this many characters; `APIError.body` keeps it all.
_MAX_BODY_IN_MESSAGE = 500


class CallAttempts:
    """The attempts of one call, from the first to the last."""

    def __init__(
        self,
        call: PreparedCall,
        *,
        api_key: ApiKey,
        hooks: Hooks,
        error_map: ErrorMap,
        clock: Clock,
        random_fraction: Callable[[], float],
    ) -> None:
        self._call = call
        self._api_key = api_key
        self._hooks = hooks
        self._error_map = error_map
        self._clock = clock
        self._schedule = RetrySchedule(
            call.retry_config,
            call.operation,
            started_at=clock.monotonic(),
            random_fraction=random_fraction,
        )
        self._attempt = 0
        self._attempt_started_at = 0.0
        # The error (and its cause) to raise if the deadline passes between attempts.
        self._last_failure: tuple[MesaError, BaseException | None] | None = None

    def start(self, client: httpx.Client | httpx.AsyncClient) -> tuple[HookContext, httpx.Request]:
        """The next attempt's request, after the before-request hooks."""
        timeout = self._schedule.attempt_timeout(
            self._call.timeout_seconds, self._clock.monotonic()
        )
        if timeout is None:
            # The deadline passed while waiting (a sleep may overrun): no new attempt.
            if self._last_failure is not None:
                _raise(*self._last_failure)
            timeout = self._call.timeout_seconds
        self._attempt += 1
        context = HookContext(
            operation_id=self._call.operation.operation_id,
            method_name=self._call.operation.method_name,
            attempt=self._attempt,
            idempotency_key=self._call.idempotency_key,
        )
        headers = self._call.headers
        if "authorization" not in headers:
            headers = {**headers, "authorization": f"Bearer {self._api_key.resolve()}"}
        request = _build_request(client, self._call, headers)
        request = self._hooks.run_before_request(context, request)
        # Set after the hooks, so that a replacement request keeps the call's timeout.
        request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
        logs.log_attempt(context, request)
        self._attempt_started_at = self._clock.monotonic()
        return context, request

    def succeeded(self, context: HookContext, response: httpx.Response) -> httpx.Response:
        """The response of a 2xx attempt, after the after-success hooks."""
        logs.log_response(context, response, self._clock.monotonic() - self._attempt_started_at)
        return self._hooks.run_after_success(context, response)

    def failed_with_status(self, context: HookContext, response: httpx.Response) -> float:
        """Seconds to wait before retrying an error response (read already), or raises its error."""
        logs.log_response(context, response, self._clock.monotonic() - self._attempt_started_at)
        error = api_error_from_response(response, self._error_map, attempts=self._attempt)
        self._hooks.run_after_error(context, response, error)
        retry_after = parse_retry_after(response.headers, now=self._clock.time())
        decision = self._schedule.after_status(
            response.status_code, error.code, retry_after, self._clock.monotonic()
        )
        return self._wait_or_raise(context, decision.delay, decision.reason, error, None)

    def failed_in_transport(
        self, context: HookContext, request: httpx.Request, failure: httpx.RequestError
    ) -> float:
        """Seconds to wait before retrying an attempt that got no response, or raises."""
        logs.log_transport_error(
            context, failure, self._clock.monotonic() - self._attempt_started_at
        )
        error = connection_error(
            self._call.operation.method_name, request, failure, attempts=self._attempt
        )
        self._hooks.run_after_error(context, None, error)
        decision = self._schedule.after_transport_error(failure, self._clock.monotonic())
        return self._wait_or_raise(context, decision.delay, decision.reason, error, failure)

    def _wait_or_raise(
        self,
        context: HookContext,
        delay: float | None,
        reason: str,
        error: MesaError,
        cause: BaseException | None,
    ) -> float:
        if delay is None:
            logs.log_no_retry(context, reason)
            _raise(error, cause)
        logs.log_retry(context, reason, delay)
        self._last_failure = (error, cause)
        return delay


def _build_request(
    client: httpx.Client | httpx.AsyncClient, call: PreparedCall, headers: dict[str, str]
) -> httpx.Request:
    """What `client.build_request` gives, without its costly merges where nothing needs them.

    The URL is absolute and parsed already, and the call's headers are a plain dict, so merging
    them over the client's headers is one dict merge. A client holding cookies takes httpx's
    own path, which merges them in.
    """
    if client.cookies:
        return client.build_request(
            call.operation.http_method, call.url, headers=headers, content=call.content
        )
    merged = {name.lower(): value for name, value in client.headers.items()}
    merged.update(headers)
    return httpx.Request(call.operation.http_method, call.url, headers=merged, content=call.content)


def _raise(error: MesaError, cause: BaseException | None) -> NoReturn:
    raise error from cause


def connection_error(
    method_name: str, request: httpx.Request, failure: httpx.RequestError, *, attempts: int = 1
) -> APIConnectionError:
    """The SDK's error for an attempt that got no response."""
    # Without the query: only the endpoint is needed to tell what failed.
    url = str(request.url.copy_with(query=None, fragment=None))
    method = method_name
    tries = f", after {attempts} attempts" if attempts > 1 else ""
    if isinstance(failure, httpx.TimeoutException):
        seconds = request.extensions.get("timeout", {}).get("read")
        limit = f", timeout {seconds:g} s" if isinstance(seconds, (int, float)) else ""
        return APITimeoutError(
            f"{method}: {request.method} {url} timed out ({type(failure).__name__}{limit}{tries})",
            url=url,
            attempts=attempts,
        )
    detail = str(failure) or "no detail"
    return APIConnectionError(
        f"{method}: {request.method} {url} failed ({type(failure).__name__}: {detail}{tries})",
        url=url,
        attempts=attempts,
    )


def api_error_from_response(
    response: httpx.Response, error_map: ErrorMap, *, attempts: int = 1
) -> APIError:
    """The typed error for an error response, whatever its body holds.

    The `{"error": {"code", "message", "details"}}` envelope gives the code, message and
    details. Any other body (HTML from a proxy, plain text, other JSON) still raises the
    status's class, with the start of the body in the message.
    """
    body = response.text
    code, message, details = _read_envelope(body)
    if message is None:
        message = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        excerpt = " ".join(body.split())
        if excerpt:
            if len(excerpt) > _MAX_BODY_IN_MESSAGE:
                excerpt = excerpt[: _MAX_BODY_IN_MESSAGE - 1] + "…"
            message = f"{message}: {excerpt}"
    error_class = error_map.error_class(response.status_code, code)
    return error_class(
        message,
        status_code=response.status_code,
        code=code,
        details=details,
        request_id=response.headers.get("x-request-id"),
        headers=response.headers,
        body=body,
        response=response,
        attempts=attempts,
    )


def _read_envelope(body: str) -> tuple[str | None, str | None, dict[str, object]]:
    import json

    try:
        document = json.loads(body)
    except ValueError:
        return None, None, {}
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None, {}
    code = error.get("code")
    message = error.get("message")
    details = error.get("details")
    return (
        code if isinstance(code, str) and code else None,
        message if isinstance(message, str) and message else None,
        details if isinstance(details, dict) else {},
    )
