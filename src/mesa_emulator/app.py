"""The emulator's ASGI application: the request pipeline in front of the operation handlers.

For a request under ``/api/v1`` the pipeline is, in order:

1. a scripted fault, if one matches (answer a status, or drop the connection; a delay is
   slept just before the handler runs);
2. the global rate limit (429 ``RATE_LIMITED`` with ``Retry-After``);
3. routing on the raw path (404 ``NOT_FOUND``; 405 with ``Allow`` for a known path);
4. authentication (401) and the operation's scope on the organization (403);
5. path parameters (400 ``INVALID_PARAMETER``), the ``Idempotency-Key`` header;
6. the body, at most 64 MiB (413 ``PAYLOAD_TOO_LARGE``);
7. idempotency (replay, 422 ``IDEMPOTENCY_KEY_REUSED``, 409 ``IDEMPOTENCY_KEY_IN_USE``);
8. the handler, in a worker thread so the event loop is never blocked by git or SQLite.

Every response carries ``X-Request-Id``; every error is the contract's envelope.
``/_emulator/...`` is the test control plane and ``/_lfs/...`` the pre-signed LFS transfers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from mesa_emulator.auth import authenticate, authorize
from mesa_emulator.control import handle_control
from mesa_emulator.errors import ApiError, code_for_status
from mesa_emulator.faults import Fault
from mesa_emulator.operations.base import OperationContext
from mesa_emulator.replies import Reply, error_reply
from mesa_emulator.request import ClientGone, Receive, Request, Scope, Send
from mesa_emulator.routes import API_PREFIX, Route, match_route, split_path
from mesa_emulator.state import EmulatorState
from mesa_emulator.transfers import handle_transfer
from mesa_emulator.validation import check_org, check_repo_name, is_visible_ascii

__all__ = ["DepotApp"]

logger = logging.getLogger("mesa_emulator")

# How much of an oversized body is read (and thrown away) so the client sees the 413 instead
# of a broken pipe; beyond this the connection is closed after answering.
_DRAIN_LIMIT = 256 * 1024 * 1024
# The headers of a response kept for idempotent replay (X-Request-Id is per request).
_STORED_HEADERS = ("content-type", "location")


def _request_id(headers: dict[str, str]) -> str:
    given = headers.get("x-request-id")
    if given is not None and is_visible_ascii(given, 128):
        return given
    return "req_" + secrets.token_hex(12)


def _fingerprint(method: str, raw_path: bytes, body: bytes) -> str:
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    digest.update(method.encode() + b"\n" + raw_path + b"\n")
    digest.update(canonical)
    return digest.hexdigest()


class _Delay:
    """A scripted delay, slept once: just before the handler, or before answering when the
    request fails earlier (so a delayed request is always slow)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def spend(self) -> None:
        seconds, self.seconds = self.seconds, 0.0
        if seconds > 0:
            await asyncio.sleep(seconds)


def _storable(status: int) -> bool:
    """Responses of 400, 401, 403, 429 and 5xx are not kept for idempotent replay."""
    return status not in (400, 401, 403, 429) and status < 500


class DepotApp:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope)
        request_id = _request_id(request.headers)

        if request.path == "/_emulator" or request.path.startswith("/_emulator/"):
            try:
                reply = await handle_control(self.state, request, receive)
            except ApiError as exc:
                reply = error_reply(exc)
            await self._send(send, reply, request_id)
            return

        fault = self.state.faults.take(request.method, request.path, request_id)
        if fault is not None and (fault.status is not None or fault.drop == "before"):
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.drop == "before":
                await self._drop(send)
                return
            await self._send(send, self._fault_reply(fault), request_id)
            return

        delay = _Delay(fault.delay_ms / 1000 if fault is not None else 0.0)
        try:
            reply = await self._dispatch(request, receive, request_id, delay)
        except ClientGone:
            return
        except ApiError as exc:
            reply = error_reply(exc)
        except Exception:
            logger.exception("unexpected error handling %s %s", request.method, request.path)
            reply = error_reply(ApiError("INTERNAL_ERROR", "An unexpected server failure."))
        await delay.spend()
        if fault is not None and fault.drop == "after":
            await self._drop(send)
            return
        await self._send(send, reply, request_id)

    # ---- dispatch -----------------------------------------------------------------------

    async def _dispatch(
        self, request: Request, receive: Receive, request_id: str, delay: _Delay
    ) -> Reply:
        path = request.path
        if path.startswith(API_PREFIX + "/"):
            return await self._api(request, receive, request_id, delay)
        if path.startswith("/_lfs/"):
            await delay.spend()
            return await handle_transfer(self.state, request, receive)
        raise ApiError("NOT_FOUND", f"No route for {request.method} {path}.")

    async def _api(
        self, request: Request, receive: Receive, request_id: str, delay: _Delay
    ) -> Reply:
        state = self.state
        wait = state.rate_limiter.acquire()
        if wait is not None:
            raise ApiError(
                "RATE_LIMITED",
                f"Too many requests; retry after {wait} s.",
                {"retry_after": wait},
                headers={"Retry-After": str(wait)},
            )
        segments = split_path(request.raw_path[len(API_PREFIX) :])
        match = match_route(segments)
        if match is None:
            raise ApiError("NOT_FOUND", f"No route for {request.method} {request.path}.")
        route = match.for_method(request.method)
        if route is None:
            allowed = ", ".join(match.allowed)
            raise ApiError(
                "METHOD_NOT_ALLOWED",
                f"Method {request.method} is not allowed here; allowed: {allowed}.",
                {"allowed_methods": match.allowed},
                headers={"Allow": allowed},
            )
        params = match.params
        principal = await run_in_threadpool(
            authenticate, request.headers.get("authorization"), state.store, state.bootstrap_hash
        )
        org = params["org"]
        check_org(org)
        authorize(principal, org, route.scope)
        if "repo" in params:
            check_repo_name(params["repo"])
        query = request.query()

        idempotency_key: str | None = None
        if route.accepts_idempotency_key:
            idempotency_key = request.headers.get("idempotency-key")
            if idempotency_key is not None and not is_visible_ascii(idempotency_key, 255):
                raise ApiError.invalid_parameter(
                    "Idempotency-Key",
                    "'Idempotency-Key' must be 1 to 255 visible ASCII characters.",
                )
        body = b""
        if request.method in ("POST", "PATCH", "PUT"):
            body = await self._read_body(request, receive)

        ctx = OperationContext(
            state=state,
            principal=principal,
            org=org,
            params=params,
            query=query,
            body=body,
            accept=request.headers.get("accept"),
            base_url=request.base_url(),
            request_id=request_id,
        )
        if idempotency_key is None:
            await delay.spend()
            return await self._run(route, ctx)
        return await self._idempotent(route, ctx, request, idempotency_key, delay)

    async def _run(self, route: Route, ctx: OperationContext) -> Reply:
        try:
            return await run_in_threadpool(route.handler, ctx)
        except ApiError as exc:
            return error_reply(exc)
        except Exception:
            logger.exception("unexpected error in %s", route.operation_id)
            return error_reply(ApiError("INTERNAL_ERROR", "An unexpected server failure."))

    async def _idempotent(
        self,
        route: Route,
        ctx: OperationContext,
        request: Request,
        key: str,
        delay: _Delay,
    ) -> Reply:
        state = self.state
        scope = f"{ctx.principal.key_id}\n{ctx.org}"
        fingerprint = _fingerprint(request.method, request.raw_path, ctx.body)
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
            headers = {k: v for k, v in record.headers.items() if k != "content-type"}
            headers["Idempotent-Replayed"] = "true"
            return Reply(
                status=record.status,
                body=record.body,
                content_type=record.headers.get("content-type"),
                headers=headers,
            )
        try:
            await delay.spend()
            reply = await self._run(route, ctx)
        except BaseException:
            await run_in_threadpool(state.store.idempotency_abandon, scope, key)
            raise
        if _storable(reply.status) and reply.stream is None:
            stored = {k.lower(): v for k, v in reply.headers.items()}
            if reply.content_type is not None:
                stored["content-type"] = reply.content_type
            stored = {k: v for k, v in stored.items() if k in _STORED_HEADERS}
            await run_in_threadpool(
                state.store.idempotency_finish, scope, key, reply.status, stored, reply.body
            )
        else:
            await run_in_threadpool(state.store.idempotency_abandon, scope, key)
        return reply

    # ---- bodies -------------------------------------------------------------------------

    async def _read_body(self, request: Request, receive: Receive) -> bytes:
        limit = self.state.max_body_bytes
        too_large = ApiError(
            "PAYLOAD_TOO_LARGE",
            f"The request body is larger than {limit} bytes.",
            {"limit_bytes": limit},
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self._drain(receive, 0, int(declared) <= _DRAIN_LIMIT)
            raise too_large
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = bytes(message.get("body", b""))
            total += len(chunk)
            more = bool(message.get("more_body", False))
            if total > limit:
                if more:
                    await self._drain(receive, total, True)
                raise too_large
            chunks.append(chunk)
            if not more:
                return b"".join(chunks)

    @staticmethod
    async def _drain(receive: Receive, seen: int, allowed: bool) -> None:
        if not allowed:
            return
        while seen <= _DRAIN_LIMIT:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    # ---- sending ------------------------------------------------------------------------

    @staticmethod
    def _fault_reply(fault: Fault) -> Reply:
        assert fault.status is not None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(max(0, round(fault.retry_after)))
        error = ApiError(
            fault.code or code_for_status(fault.status),
            fault.message or f"Scripted fault: HTTP {fault.status}.",
            {"scripted_fault": True},
            status=fault.status,
            headers=headers,
        )
        return error_reply(error)

    @staticmethod
    async def _send(send: Send, reply: Reply, request_id: str) -> None:
        headers = reply.header_list()
        headers.append((b"x-request-id", request_id.encode("latin-1")))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.stream is None:
            await send({"type": "http.response.body", "body": reply.body, "more_body": False})
            return
        async for chunk in iterate_in_threadpool(reply.stream):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
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

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
