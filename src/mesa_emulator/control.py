"""The test control plane under ``/_emulator/`` (no API key; loopback clients only).

=======  ========================  ==========================================================
method   path                      what it does
=======  ========================  ==========================================================
GET      /_emulator/health         ``{"status": "ok"}``
POST     /_emulator/faults         script faults: ``{"method", "path", "faults": [...]}``
                                   → 201 ``{"id": ...}`` (see :mod:`mesa_emulator.faults`)
GET      /_emulator/faults         every script and whether/when each fault was consumed
DELETE   /_emulator/faults         forget every script
GET      /_emulator/rate-limit     the global rate limit
POST     /_emulator/rate-limit     ``{"requests_per_second": N, "burst": M}``; N null: off
POST     /_emulator/reset          wipe all state except the bootstrap key
GET      /_emulator/deliveries     every webhook delivery kept, oldest first: ``{"deliveries":
                                   [{"id", "webhook_id", "repo_id", "event", "status",
                                   "attempts", "response_status", "last_error", "created_at",
                                   "delivered_at"}]}``; ``status`` is ``pending`` (queued or
                                   waiting to retry), ``delivered`` or ``failed`` (gave up)
=======  ========================  ==========================================================
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from mesa_emulator.errors import ApiError
from mesa_emulator.faults import parse_fault_script
from mesa_emulator.request import (
    check_json_media_type,
    emulator_state,
    header,
    parse_json_body,
    raw_path,
)
from mesa_emulator.store import DeliveryRecord

__all__ = ["ControlPlane", "delivery_json"]

_MAX_CONTROL_BODY = 1024 * 1024


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _json_body(request: Request) -> Any:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > _MAX_CONTROL_BODY:
            raise ApiError("PAYLOAD_TOO_LARGE", "The control request body is too large.")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        return None
    check_json_media_type(header(request, "content-type"))
    return parse_json_body(body)


def _rate_limit(data: Any) -> tuple[float | None, float | None]:
    if not isinstance(data, dict):
        raise ApiError.invalid_request("body", "The body must be a JSON object.")
    for name in data:
        if name not in ("requests_per_second", "burst"):
            raise ApiError.invalid_request(name, f"Unknown field '{name}'.")
    rate = data.get("requests_per_second")
    burst = data.get("burst")
    for name, value in (("requests_per_second", rate), ("burst", burst)):
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ApiError.invalid_request(name, f"'{name}' must be a number >= 0 or null.")
    if burst is not None and burst < 1:
        raise ApiError.invalid_request("burst", "'burst' must be at least 1.")
    return (
        float(rate) if rate is not None else None,
        float(burst) if burst is not None else None,
    )


Handler = Callable[[Request], Awaitable[Response]]


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _add_faults(request: Request) -> Response:
    method, path, faults = parse_fault_script(await _json_body(request))
    return JSONResponse({"id": emulator_state(request).faults.add(method, path, faults)}, 201)


async def _list_faults(request: Request) -> Response:
    return JSONResponse({"scripts": emulator_state(request).faults.log()})


async def _clear_faults(request: Request) -> Response:
    emulator_state(request).faults.clear()
    return JSONResponse({"success": True})


async def _get_rate_limit(request: Request) -> Response:
    return JSONResponse(emulator_state(request).rate_limiter.settings())


async def _set_rate_limit(request: Request) -> Response:
    rate, burst = _rate_limit(await _json_body(request))
    limiter = emulator_state(request).rate_limiter
    limiter.configure(rate, burst)
    return JSONResponse(limiter.settings())


def delivery_json(record: DeliveryRecord) -> dict[str, Any]:
    """A webhook delivery as the control plane lists it."""
    return {
        "id": record.id,
        "webhook_id": record.webhook_id,
        "repo_id": record.repo_id,
        "event": record.event,
        # A delivery journalled with a ref move still being made is queued too.
        "status": "pending" if record.state == "prepared" else record.state,
        "attempts": record.attempts,
        "response_status": record.response_status,
        "last_error": record.last_error,
        "created_at": record.created_at.isoformat(),
        "delivered_at": None if record.delivered_at is None else record.delivered_at.isoformat(),
    }


async def _list_deliveries(request: Request) -> Response:
    records = await run_in_threadpool(emulator_state(request).store.list_deliveries)
    return JSONResponse({"deliveries": [delivery_json(record) for record in records]})


async def _reset(request: Request) -> Response:
    await run_in_threadpool(emulator_state(request).reset)
    return JSONResponse({"success": True})


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    """One path and its handler for each method (405 with ``Allow`` for any other)."""

    async def endpoint(request: Request) -> Response:
        return await handlers[request.method](request)

    route = Route(path, endpoint, methods=list(handlers))
    route.methods = set(handlers)  # exactly these: Starlette would also answer HEAD for GET
    return route


async def _no_route(scope: Scope, receive: Receive, send: Send) -> None:
    raise ApiError("NOT_FOUND", f"No control route {raw_path(scope).decode('latin-1')}.")


class ControlPlane:
    """The control plane's ASGI app: loopback clients only (403 for any other, whatever the
    path), then its routes; a trailing ``/`` is ignored."""

    def __init__(self) -> None:
        routes = [
            _route("/health", {"GET": _health}),
            _route("/faults", {"GET": _list_faults, "POST": _add_faults, "DELETE": _clear_faults}),
            _route("/rate-limit", {"GET": _get_rate_limit, "POST": _set_rate_limit}),
            _route("/reset", {"POST": _reset}),
            _route("/deliveries", {"GET": _list_deliveries}),
        ]
        self.router: ASGIApp = Router(routes, redirect_slashes=False, default=_no_route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if not _is_loopback(str(client[0]) if client else None):
            raise ApiError("FORBIDDEN", "The control plane answers loopback clients only.")
        scope["path"] = str(scope["path"]).rstrip("/")
        await self.router(scope, receive, send)
