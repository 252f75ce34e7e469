"""One logical call's attempts: hooks, logs, error mapping and retry decisions.

Everything but the I/O, so that the sync and async clients share it: the client sends each
request this object builds, reports how it went, and sleeps for as long as it is told.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import httpx

from mesa_sdk._runtime import logs
from mesa_sdk._runtime.credentials import is_credential_header
from mesa_sdk._runtime.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ErrorMap,
    MesaError,
)
from mesa_sdk._runtime.hooks import HookContext, Hooks
from mesa_sdk._runtime.raw_response import ATTEMPTS_EXTENSION
from mesa_sdk._runtime.retries import RetryDecision, RetrySchedule, call_deadline
from mesa_sdk._runtime.retry_after import parse_retry_after
from mesa_sdk._runtime.transport_failures import TransportFailure, classify

if TYPE_CHECKING:
    from mesa_sdk._runtime.clock import Clock
    from mesa_sdk._runtime.credentials import Auth
    from mesa_sdk._runtime.request_builder import PreparedCall

# An error body in a message is cut to this many characters; `APIError.body` keeps it all.
_MAX_BODY_IN_MESSAGE = 500
# A larger error body is no envelope (those are a few hundred bytes), and is not parsed.
_MAX_ENVELOPE_BYTES = 1 << 20
# Methods that send a `Content-Length` even without a body, as httpx does.
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
# `details` nested deeper than this are cut, so that no reader of them runs out of stack.
_MAX_DETAILS_DEPTH = 32


class CallAttempts:
    """The attempts of one call, from the first to the last."""

    def __init__(
        self,
        call: PreparedCall,
        *,
        auth: Auth | None,
        hooks: Hooks,
        error_map: ErrorMap,
        clock: Clock,
        random_fraction: Callable[[], float],
    ) -> None:
        self._call = call
        self._auth = auth
        self._hooks = hooks
        self._error_map = error_map
        self._clock = clock
        self._started_at = clock.monotonic()
        self._random_fraction = random_fraction
        self._deadline = call_deadline(call.retry_config, self._started_at)
        self._retry_schedule: RetrySchedule | None = None
        self._attempt = 0
        self._attempt_started_at = 0.0
        # The error (and its cause) to raise if the deadline passes between attempts.
        self._last_failure: tuple[MesaError, BaseException | None] | None = None

    def start(self, client: httpx.Client | httpx.AsyncClient) -> tuple[HookContext, httpx.Request]:
        """The next attempt's request, after the before-request hooks."""
        timeout = self._attempt_timeout(client)
        self._attempt += 1
        call, operation = self._call, self._call.operation
        context = HookContext(
            operation.operation_id, operation.method_name, self._attempt, call.idempotency_key
        )
        request = _build_request(client, call, call.headers)
        if self._auth is not None:
            self._auth.apply(request, operation, call.headers)
        request = self._hooks.run_before_request(context, request)
        # Set after the hooks, so that a replacement request keeps the call's timeout.
        request.extensions["timeout"] = timeout
        logs.log_attempt(context, request)
        self._attempt_started_at = self._clock.monotonic()
        return context, request

    def _attempt_timeout(self, client: httpx.Client | httpx.AsyncClient) -> dict[str, float | None]:
        """The next attempt's timeout of each phase: the `timeout_ms` of the call or the SDK
        client, else the httpx client's own, cut to the time left before the deadline."""
        left = None if self._deadline is None else self._deadline - self._clock.monotonic()
        if left is not None and left <= 0:
            # The deadline passed while waiting (a sleep may overrun): no new attempt.
            if self._last_failure is not None:
                _raise(*self._last_failure)
            left = None
        seconds = self._call.timeout_seconds
        if seconds is not None:
            if left is not None and left < seconds:
                seconds = left
            return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}
        limits = client.timeout.as_dict()
        if left is None or all(limit is not None and limit <= left for limit in limits.values()):
            return limits
        return {
            phase: left if limit is None else min(limit, left) for phase, limit in limits.items()
        }

    @property
    def _schedule(self) -> RetrySchedule:
        # Built by the first failure: most calls succeed at once and never need it.
        if self._retry_schedule is None:
            self._retry_schedule = RetrySchedule(
                self._call.retry_config,
                self._call.operation,
                started_at=self._started_at,
                random_fraction=self._random_fraction,
            )
        return self._retry_schedule

    def succeeded(self, context: HookContext, response: httpx.Response) -> httpx.Response:
        """The response of a 2xx attempt, after the after-success hooks."""
        logs.log_response(context, response, self._clock.monotonic() - self._attempt_started_at)
        response = self._hooks.run_after_success(context, response)
        response.extensions[ATTEMPTS_EXTENSION] = self._attempt
        return response

    def failed_with_status(
        self, context: HookContext, request: httpx.Request, response: httpx.Response
    ) -> float:
        """Seconds to wait before retrying an error response (read already), or raises its error."""
        logs.log_response(context, response, self._clock.monotonic() - self._attempt_started_at)
        error = api_error_from_response(
            response, self._error_map, attempts=self._attempt, scopes=self._call.operation.scopes
        )
        self._hooks.run_after_error(context, response, error)
        retry_after = parse_retry_after(response.headers, now=self._clock.time())
        decision = self._schedule.after_status(
            response.status_code, error.code, retry_after, self._clock.monotonic()
        )
        # A call that ends with its first answer (a 404, say) is the caller's to report; the
        # log notes it at DEBUG only.
        quiet = self._attempt == 1
        return self._wait_or_raise(context, request, decision, error, None, quiet=quiet)

    def failed_in_transport(
        self, context: HookContext, request: httpx.Request, failure: httpx.RequestError
    ) -> float:
        """Seconds to wait before retrying an attempt that got no response, or raises."""
        now = self._clock.monotonic()
        logs.log_transport_error(context, failure, now - self._attempt_started_at)
        described = classify(failure)
        error = connection_error(
            self._call.operation.method_name,
            request,
            failure,
            described,
            attempts=self._attempt,
            elapsed_seconds=now - self._started_at,
        )
        self._hooks.run_after_error(context, None, error)
        decision = self._schedule.after_transport_error(described, now, self._attempt_started_at)
        return self._wait_or_raise(context, request, decision, error, failure, quiet=False)

    def _wait_or_raise(
        self,
        context: HookContext,
        request: httpx.Request,
        decision: RetryDecision,
        error: MesaError,
        cause: BaseException | None,
        *,
        quiet: bool,
    ) -> float:
        elapsed = self._clock.monotonic() - self._started_at
        if decision.delay is None:
            logs.log_final_failure(
                context,
                request,
                decision.failure,
                decision.note,
                elapsed,
                level=logging.DEBUG if quiet else logging.INFO,
            )
            _raise(error, cause)
        logs.log_retry(context, request, decision.failure, decision.delay, decision.note, elapsed)
        self._last_failure = (error, cause)
        return decision.delay


def _build_request(
    client: httpx.Client | httpx.AsyncClient, call: PreparedCall, headers: dict[str, str]
) -> httpx.Request:
    """What `client.build_request` gives, without its costly merges where nothing needs them.

    The URL is absolute and parsed already, and the call's headers are a plain dict, so merging
    them over the client's headers is one dict merge. A client holding cookies or query
    parameters (a user's client may) takes httpx's own path, which merges them in.
    """
    if client.cookies or client.params:
        return client.build_request(
            call.operation.http_method, call.url, headers=headers, content=call.content
        )
    method, url, content = call.operation.http_method, call.url, call.content
    if not (content is None or isinstance(content, bytes)):
        merged = {**_client_headers(client).lowered, **headers}
        return httpx.Request(method, url, headers=merged, content=content)
    request = httpx.Request(
        method,
        url,
        headers=_request_headers(client, call, content, headers),
        stream=httpx.ByteStream(content or b""),
    )
    # Marked as read, as `Request(content=...)` leaves it: `read()` first looks for a missing
    # attribute, then joins the one-piece stream into a copy of the body.
    request._content = content or b""
    return request


def _request_headers(
    client: httpx.Client | httpx.AsyncClient,
    call: PreparedCall,
    content: bytes | None,
    headers: dict[str, str],
) -> httpx.Headers:
    """The headers of a request whose body is held in memory: the client's, then the call's,
    with what `httpx.Request(content=...)` adds (`Host` first, as httpx puts it, and the
    `Content-Length`).

    Built once for each operation's headers on a client: httpx normalizes every entry of a
    dict it is given, and copies those of an `httpx.Headers` as they are, which costs a fifth
    as much. Headers that may differ from call to call, or hold a secret the caller passed
    (`PreparedCall.headers_repeat`), are built each time and never kept.
    """
    url = call.url
    if content:
        length: str | None = str(len(content))
    elif call.operation.http_method in _METHODS_WITH_BODY:
        length = "0"
    else:
        length = None
    known = _client_headers(client)
    key = (url.netloc, length, *headers.items()) if call.headers_repeat else None
    built = known.built.get(key) if key is not None else None
    if built is None:
        merged = {"host": url.netloc.decode("ascii"), **known.lowered, **headers}
        if length is not None:
            merged.setdefault("content-length", length)
        built = httpx.Headers(merged)
        if key is not None:
            if len(known.built) >= _MAX_BUILT_HEADERS:
                known.built.clear()
            known.built[key] = built
    return built


# Sets of request headers kept for each client; a client sending more clears them.
_MAX_BUILT_HEADERS = 64


@dataclass(slots=True)
class _ClientHeaders:
    """What the SDK has read from one client's headers, and built from them."""

    raw: list[tuple[bytes, bytes]]
    """The client's headers as they were read."""
    lowered: dict[str, str]
    """The same, names lower-cased."""
    built: dict[tuple[object, ...], httpx.Headers] = field(default_factory=dict)
    """Request headers built over them, by the netloc, length and call headers they hold."""


_client_headers_seen: weakref.WeakKeyDictionary[
    httpx.Client | httpx.AsyncClient, _ClientHeaders
] = weakref.WeakKeyDictionary()


def _client_headers(client: httpx.Client | httpx.AsyncClient) -> _ClientHeaders:
    """The client's headers, read again (and what was built from them dropped) only once
    they change: a user's client may change them between calls."""
    raw = client.headers.raw
    seen = _client_headers_seen.get(client)
    if seen is not None and seen.raw == raw:
        return seen
    lowered = {name.lower(): value for name, value in client.headers.items()}
    seen = _client_headers_seen[client] = _ClientHeaders(raw, lowered)
    return seen


def _raise(error: MesaError, cause: BaseException | None) -> NoReturn:
    raise error from cause


def connection_error(
    method_name: str,
    request: httpx.Request,
    failure: httpx.RequestError,
    described: TransportFailure,
    *,
    attempts: int = 1,
    elapsed_seconds: float | None = None,
) -> APIConnectionError:
    """The SDK's error for an attempt that got no response.

    Its message says what was tried and why it failed, and with `elapsed_seconds`, how many
    attempts the call made over how long.
    """
    # Without the query: only the endpoint is needed to tell what failed.
    url = str(request.url.copy_with(query=None, fragment=None))
    tries = f"{attempts} attempt{'' if attempts == 1 else 's'}"
    over = f" ({tries} over {elapsed_seconds:.1f} s)" if elapsed_seconds is not None else ""
    message = f"{method_name}: {request.method} {url} failed: {described.reason}{over}"
    error_class = (
        APITimeoutError if isinstance(failure, httpx.TimeoutException) else APIConnectionError
    )
    return error_class(message, url=url, attempts=attempts)


def api_error_from_response(
    response: httpx.Response,
    error_map: ErrorMap,
    *,
    attempts: int = 1,
    scopes: tuple[str, ...] = (),
) -> APIError:
    """The typed error for an error response, whatever its body holds.

    The `{"error": {"code", "message", "details"}}` envelope gives the code, message and
    details. Any other body (HTML from a proxy, plain text, other JSON, JSON nested too deep
    to read) still raises the status's class, with the start of the body in the message.
    Every credential the request carried, and every API key the SDK has used, is redacted
    from the code, message, details and body: a server may echo the request back. A 403's
    message names the `scopes` the operation needs, unless the server's message did.
    """
    sent = tuple(_credentials_sent(response))

    def scrub(text: str) -> str:
        return logs.scrub_secrets(text, sent)

    body = scrub(response.text)
    # Scrubbed again once parsed: a JSON escape (`\u0041`) can hide a secret in the raw text.
    code, message, details = _read_envelope(body, scrub)
    if message is None:
        message = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        # Only the start is shown: collapsing the whitespace of a huge body would cost.
        excerpt = " ".join(body[: _MAX_BODY_IN_MESSAGE * 4].split())
        if excerpt:
            if len(excerpt) > _MAX_BODY_IN_MESSAGE:
                excerpt = excerpt[: _MAX_BODY_IN_MESSAGE - 1] + "…"
            message = f"{message}: {excerpt}"
    if response.status_code == 403 and scopes and not all(scope in message for scope in scopes):
        needed = ", ".join(scopes)
        message = f"{message} (this call needs the scope{'s' if len(scopes) > 1 else ''} {needed})"
    error_class = error_map.error_class(response.status_code, code)
    request_id = response.headers.get("x-request-id")
    return error_class(
        message,
        status_code=response.status_code,
        code=code,
        details=details,
        request_id=scrub(request_id) if request_id else None,
        headers=response.headers,
        body=body,
        response=response,
        attempts=attempts,
    )


def _credentials_sent(response: httpx.Response) -> Iterator[str]:
    """The values of the credential headers of the request that got `response`."""
    try:
        headers = response.request.headers
    except RuntimeError:  # a response built without a request
        return
    for name, value in headers.items():
        if is_credential_header(name):
            # `Bearer <key>` shows as `Bearer [redacted]`, as in the logs.
            scheme, _, token = value.partition(" ")
            yield token if token and scheme.lower() in ("bearer", "basic", "token") else value


def _read_envelope(
    body: str, scrub: Callable[[str], str]
) -> tuple[str | None, str | None, dict[str, object]]:
    """The code, message and details of an error envelope, each string passed through
    `scrub`; Nones and {} for any other body."""
    import json

    if len(body) > _MAX_ENVELOPE_BYTES:
        return None, None, {}
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, None, {}
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None, {}
    code = error.get("code")
    message = error.get("message")
    details = error.get("details")
    return (
        scrub(code) if isinstance(code, str) and code else None,
        scrub(message) if isinstance(message, str) and message else None,
        _cleaned(details, scrub) if isinstance(details, dict) else {},
    )


def _cleaned(details: Mapping[str, object], scrub: Callable[[str], str]) -> dict[str, object]:
    """`details` with every string passed through `scrub`, and what lies deeper than
    `_MAX_DETAILS_DEPTH` levels replaced by a note saying so."""

    def clean(value: object, depth: int) -> object:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, (dict, list)) and depth == 0:
            return "[nested too deeply]"
        if isinstance(value, dict):
            return {scrub(key): clean(item, depth - 1) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item, depth - 1) for item in value]
        return value

    return {scrub(key): clean(value, _MAX_DETAILS_DEPTH - 1) for key, value in details.items()}
