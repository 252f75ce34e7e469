"""The emulator's ASGI application: a Starlette app, behind the request pipeline.

For a request under ``/api/v1`` the pipeline is, in order:

1. a scripted fault, if one matches (answer a status, or drop the connection; a delay is
   slept just before the handler runs);
2. the global rate limit (429 ``RATE_LIMITED`` with ``Retry-After``);
3. routing on the raw path (404 ``NOT_FOUND``; 405 with ``Allow`` for a known path);
4. authentication (401) and the operation's scope on the organization (403);
5. path parameters (400 ``INVALID_PARAMETER``), the ``Idempotency-Key`` header;
6. the body, at most 64 MiB (413 ``PAYLOAD_TOO_LARGE``); when there is one, its
   ``Content-Type`` must be JSON (415 ``UNSUPPORTED_MEDIA_TYPE``) and it must be strict JSON
   nested at most 32 levels (400 ``INVALID_REQUEST``, see :mod:`mesa_emulator.request`);
7. idempotency (replay, 422 ``IDEMPOTENCY_KEY_REUSED``, 409 ``IDEMPOTENCY_KEY_IN_USE``);
8. the handler, in a worker thread so the event loop is never blocked by git or SQLite.

Every response carries ``X-Request-Id``; every error is the contract's envelope.
``/_emulator/...`` is the test control plane (no faults), ``/_lfs/...`` the pre-signed LFS
transfers and ``/{org}/{repo}.git/...`` git's smart HTTP (:mod:`mesa_emulator.git_http`,
its own auth and plain-text errors, as git clients expect).

Step 1, ``X-Request-Id`` and the access log (:mod:`mesa_emulator.access_log`) are
:class:`RequestPipeline`, a plain ASGI middleware outside the
Starlette app: it must hold the server's own ``send`` to drop a connection, and see every
response, Starlette's own 500 included.  It also hands Starlette's router the request line as
the emulator reads it: the raw path (percent-escapes kept: ``%2F`` stays inside its segment and
``/%5Flfs`` is not ``/_lfs``) and the method in capitals.  The Starlette app mounts
``/_emulator``, ``/_lfs`` and ``/api/v1``; under ``/api/v1`` :mod:`mesa_emulator.routes`
routes segment by segment.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Mount, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesa_emulator.access_log import log_request
from mesa_emulator.auth import authenticate, authorize
from mesa_emulator.contract import idempotency_key_rule
from mesa_emulator.control import ControlPlane
from mesa_emulator.errors import ApiError, code_for_status
from mesa_emulator.faults import Fault
from mesa_emulator.git.errors import GitOpsError
from mesa_emulator.git_errors import api_error_for
from mesa_emulator.git_http import GIT_PATH, GitHttp
from mesa_emulator.idempotency import IdempotencyClaim
from mesa_emulator.operations.base import OperationContext
from mesa_emulator.replies import error_reply
from mesa_emulator.request import (
    canonical_json,
    check_json_media_type,
    emulator_state,
    header,
    parse_json_body,
    query_params,
    raw_path,
)
from mesa_emulator.routes import API_PREFIX, match_route, split_path
from mesa_emulator.routes import Route as ApiRoute
from mesa_emulator.state import EmulatorState
from mesa_emulator.transfers import transfer
from mesa_emulator.validation import check_org, check_repo_name, is_visible_ascii

__all__ = ["RequestPipeline", "create_app"]

logger = logging.getLogger("mesa_emulator")

# How much of an oversized body is read (and thrown away) so the client sees the 413 instead
# of a broken pipe; beyond this the connection is closed after answering.
_DRAIN_LIMIT = 256 * 1024 * 1024


def create_app(state: EmulatorState) -> ASGIApp:
    """The emulator's ASGI application for ``state``."""
    control = ControlPlane()
    app = Starlette(
        routes=[
            Mount(API_PREFIX, app=request_response(_api)),
            Mount("/_lfs", app=request_response(transfer)),
            Mount("/_emulator", app=control),
            Route("/_emulator", control),  # the bare prefix: the control plane's own 404
            Route(GIT_PATH, GitHttp(state)),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _internal_error,
        },
    )
    app.router.redirect_slashes = False  # a path routes as sent, or is 404
    app.state.emulator = state
    return RequestPipeline(app, state)


# ---- the pipeline in front of the app ----------------------------------------------------


def _request_id(given: str | None) -> str:
    if given is not None and is_visible_ascii(given, 128):
        return given
    return "req_" + secrets.token_hex(12)


def _is_control(path: str) -> bool:
    return path == "/_emulator" or path.startswith("/_emulator/")


class _Delay:
    """A scripted delay, slept once: just before the handler, or before answering when the
    request fails earlier (so a delayed request is always slow)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def spend(self) -> None:
        seconds, self.seconds = self.seconds, 0.0
        if seconds > 0:
            await asyncio.sleep(seconds)


class RequestPipeline:
    """Scripted faults, ``X-Request-Id`` and the access log around the Starlette app (see
    the module)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the lifespan: Starlette's
            return
        started = time.perf_counter()
        path = raw_path(scope).decode("latin-1")
        method = str(scope["method"]).upper()
        scope["path"], scope["method"] = path, method
        request = Request(scope)
        request_id = _request_id(header(request, "x-request-id"))
        fault = None if _is_control(path) else self.state.faults.take(method, path, request_id)
        delay = _Delay(fault.delay_ms / 1000 if fault is not None else 0.0)
        request.state.request_id = request_id
        request.state.delay = delay
        request.state.crash_at = fault.crash if fault is not None else None
        drop_after = fault is not None and fault.drop == "after"
        dropped = complete = False
        status: int | None = None

        async def answer(message: Message) -> None:
            nonlocal dropped, complete, status
            if dropped:
                return
            if message["type"] == "http.response.start":
                await delay.spend()
                if drop_after:
                    await _drop(send)
                    dropped = True
                    return
                status = int(message["status"])
                MutableHeaders(scope=message).append("x-request-id", request_id)
            elif message["type"] == "http.response.body":
                complete = not message.get("more_body", False)
            await send(message)

        try:
            if fault is not None and fault.drop == "before":
                await delay.spend()
                await _drop(send)
                dropped = True
                return
            if fault is not None and fault.status is not None:
                await error_reply(_fault_error(fault))(scope, receive, answer)
            else:
                await self.app(scope, receive, answer)
        except Exception:
            if not (complete or dropped):
                status = status or 500  # the server answers 500, or closes the connection
                raise  # for the server, which closes a connection whose answer broke off
            # Starlette answered it (500 INTERNAL_ERROR), then raised it again for the server.
            logger.exception("unexpected error handling %s %s", method, path)
        finally:
            query = bytes(scope.get("query_string", b"")).decode("latin-1")
            seconds = time.perf_counter() - started
            log_request(method, path, query, None if dropped else status, seconds, request_id)


def _fault_error(fault: Fault) -> ApiError:
    assert fault.status is not None
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(max(0, round(fault.retry_after)))
    return ApiError(
        fault.code or code_for_status(fault.status),
        fault.message or f"Scripted fault: HTTP {fault.status}.",
        {"scripted_fault": True},
        status=fault.status,
        headers=headers,
    )


async def _drop(send: Send) -> None:
    """Close the connection without a response (a scripted ``drop`` fault)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        # Let the server see the connection is gone before the app returns.
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Another server: start a response and fail mid-way, which closes the connection.
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ConnectionAbortedError("scripted fault: connection dropped")


# ---- errors ------------------------------------------------------------------------------


def _method_not_allowed(method: str, allowed: list[str]) -> ApiError:
    listed = ", ".join(allowed)
    return ApiError(
        "METHOD_NOT_ALLOWED",
        f"Method {method} is not allowed here; allowed: {listed}.",
        {"allowed_methods": allowed},
        headers={"Allow": listed},
    )


def _no_route(request: Request) -> ApiError:
    path = raw_path(request.scope).decode("latin-1")
    return ApiError("NOT_FOUND", f"No route for {request.method} {path}.")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_reply(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, as the contract's errors."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_reply(_no_route(request))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = sorted(headers.get("Allow", "").split(", "))
        return error_reply(_method_not_allowed(request.method, allowed))
    code = code_for_status(exc.status_code)
    return error_reply(ApiError(code, exc.detail, status=exc.status_code, headers=headers))


class _NoAnswer(Response):
    """Nothing at all, for a client that has gone."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def _client_gone(request: Request, exc: Exception) -> Response:
    return _NoAnswer()


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error_reply(ApiError("INTERNAL_ERROR", "An unexpected server failure."))


# ---- /api/v1 -----------------------------------------------------------------------------


def _fingerprint(method: str, path: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(method.encode() + b"\n" + path + b"\n")
    digest.update(canonical_json(body))
    return digest.hexdigest()


def _storable(status: int) -> bool:
    """Responses of 400, 401, 403, 429 and 5xx are not kept for idempotent replay."""
    return status not in (400, 401, 403, 429) and status < 500


async def _api(request: Request) -> Response:
    state = emulator_state(request)
    wait = state.rate_limiter.acquire()
    if wait is not None:
        raise ApiError(
            "RATE_LIMITED",
            f"Too many requests; retry after {wait} s.",
            {"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )
    match = match_route(split_path(raw_path(request.scope)[len(API_PREFIX) :]))
    if match is None:
        raise _no_route(request)
    route = match.for_method(request.method)
    if route is None:
        raise _method_not_allowed(request.method, match.allowed)
    params = match.params
    principal = await run_in_threadpool(
        authenticate, header(request, "authorization"), state.store, state.bootstrap_hash
    )
    org = params["org"]
    check_org(org)
    authorize(principal, org, route.scope)
    if "repo" in params:
        check_repo_name(params["repo"])
    query = query_params(request)

    idempotency_key: str | None = None
    if route.accepts_idempotency_key:
        idempotency_key = header(request, "idempotency-key")
        key_rule = idempotency_key_rule(route.operation_id)
        if idempotency_key is not None and not key_rule.admits(idempotency_key):
            raise ApiError.invalid_parameter(
                key_rule.name, f"'{key_rule.name}' must {key_rule.describe()}."
            )
    body = b""
    if request.method in ("POST", "PATCH", "PUT"):
        body = await _read_body(request, state.max_body_bytes)
    if body:
        check_json_media_type(header(request, "content-type"))
        # Refuse what is not strict JSON before anything reads it (in a worker thread: 64 MiB
        # of JSON takes seconds to parse).
        await run_in_threadpool(parse_json_body, body)

    ctx = OperationContext(
        state=state,
        operation_id=route.operation_id,
        principal=principal,
        org=org,
        params=params,
        query=query,
        body=body,
        accept=header(request, "accept"),
        request=request,
        request_id=request.state.request_id,
    )
    delay: _Delay = request.state.delay
    if idempotency_key is None:
        await delay.spend()
        return await _run(route, ctx)
    return await _idempotent(route, ctx, request, idempotency_key, delay)


async def _run(route: ApiRoute, ctx: OperationContext) -> Response:
    succeeded = False
    try:
        response = await run_in_threadpool(route.handler, ctx)
        succeeded = True
        return response
    except ApiError as exc:
        return error_reply(exc)
    except GitOpsError as exc:
        return error_reply(api_error_for(exc))
    except Exception:
        logger.exception("unexpected error in %s", route.operation_id)
        return error_reply(ApiError("INTERNAL_ERROR", "An unexpected server failure."))
    finally:
        # The refs the handler moved have their webhook deliveries queued before it answers.
        if ctx.has_moves:
            await run_in_threadpool(ctx.publish_moves, succeeded)


async def _idempotent(
    route: ApiRoute, ctx: OperationContext, request: Request, key: str, delay: _Delay
) -> Response:
    state = ctx.state
    scope = f"{ctx.principal.key_id}\n{ctx.org}"
    fingerprint = _fingerprint(request.method, raw_path(request.scope), ctx.body)
    outcome, record = await run_in_threadpool(
        state.store.idempotency_begin,
        scope,
        key,
        fingerprint,
        time.time(),
        state.idempotency_ttl,
    )
    if outcome == "mismatch":
        raise ApiError(
            "IDEMPOTENCY_KEY_REUSED",
            "This Idempotency-Key was used for a different request.",
            {"idempotency_key": key},
        )
    if outcome == "running":
        raise ApiError(
            "IDEMPOTENCY_KEY_IN_USE",
            "A request with this Idempotency-Key is still running; retry later.",
            {"idempotency_key": key},
        )
    if outcome == "replay" and record is not None and record.status is not None:
        headers = {**record.headers, "idempotent-replayed": "true"}
        return Response(record.body, record.status, headers)
    claim = IdempotencyClaim(scope, key, request.state.crash_at)
    ctx.idempotency = claim
    try:
        await delay.spend()
        response = await _run(route, ctx)
    except BaseException:
        await run_in_threadpool(state.store.idempotency_abandon, scope, key)
        raise
    if _storable(response.status_code) and not isinstance(response, StreamingResponse):
        claim.crash_if("before_answer_kept")
        # A no-op when the write kept its answer in its own transaction.
        await run_in_threadpool(state.store.idempotency_finish, claim.answer(response))
    else:
        await run_in_threadpool(state.store.idempotency_abandon, scope, key)
    return response


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(
        "PAYLOAD_TOO_LARGE",
        f"The request body is larger than {limit} bytes.",
        {"limit_bytes": limit},
    )
    async with aclosing(request.stream()) as stream:
        declared = header(request, "content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            if int(declared) <= _DRAIN_LIMIT:
                await _drain(stream, 0)
            raise too_large
        chunks: list[bytes] = []
        total = 0
        async for chunk in stream:
            total += len(chunk)
            if total > limit:
                await _drain(stream, total)
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)


async def _drain(stream: AsyncIterator[bytes], seen: int) -> None:
    """Read (and throw away) the rest of a body, until ``_DRAIN_LIMIT`` bytes in all."""
    while seen <= _DRAIN_LIMIT:
        chunk = await anext(stream, None)
        if chunk is None:
            return
        seen += len(chunk)
