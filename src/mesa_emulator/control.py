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
=======  ========================  ==========================================================
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from mesa_emulator.errors import ApiError
from mesa_emulator.faults import parse_fault_script
from mesa_emulator.replies import Reply, json_data_reply
from mesa_emulator.request import ClientGone, Receive, Request
from mesa_emulator.state import EmulatorState

__all__ = ["handle_control"]

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


async def _json_body(receive: Receive) -> Any:
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = bytes(message.get("body", b""))
        total += len(chunk)
        if total > _MAX_CONTROL_BODY:
            raise ApiError("PAYLOAD_TOO_LARGE", "The control request body is too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return json.loads(b"".join(chunks) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError.invalid_request("body", f"The body is not valid JSON: {exc}.") from None


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


Handler = Callable[[EmulatorState, Receive], Awaitable[Reply]]


async def _health(state: EmulatorState, receive: Receive) -> Reply:
    return json_data_reply(200, {"status": "ok"})


async def _add_faults(state: EmulatorState, receive: Receive) -> Reply:
    method, path, faults = parse_fault_script(await _json_body(receive))
    return json_data_reply(201, {"id": state.faults.add(method, path, faults)})


async def _list_faults(state: EmulatorState, receive: Receive) -> Reply:
    return json_data_reply(200, {"scripts": state.faults.log()})


async def _clear_faults(state: EmulatorState, receive: Receive) -> Reply:
    state.faults.clear()
    return json_data_reply(200, {"success": True})


async def _get_rate_limit(state: EmulatorState, receive: Receive) -> Reply:
    return json_data_reply(200, state.rate_limiter.settings())


async def _set_rate_limit(state: EmulatorState, receive: Receive) -> Reply:
    rate, burst = _rate_limit(await _json_body(receive))
    state.rate_limiter.configure(rate, burst)
    return json_data_reply(200, state.rate_limiter.settings())


async def _reset(state: EmulatorState, receive: Receive) -> Reply:
    await run_in_threadpool(state.reset)
    return json_data_reply(200, {"success": True})


_ROUTES: dict[str, dict[str, Handler]] = {
    "/_emulator/health": {"GET": _health},
    "/_emulator/faults": {"GET": _list_faults, "POST": _add_faults, "DELETE": _clear_faults},
    "/_emulator/rate-limit": {"GET": _get_rate_limit, "POST": _set_rate_limit},
    "/_emulator/reset": {"POST": _reset},
}


async def handle_control(state: EmulatorState, request: Request, receive: Receive) -> Reply:
    if not _is_loopback(request.client_host):
        raise ApiError("FORBIDDEN", "The control plane answers loopback clients only.")
    methods = _ROUTES.get(request.path.rstrip("/"))
    if methods is None:
        raise ApiError("NOT_FOUND", f"No control route {request.path}.")
    handler = methods.get(request.method)
    if handler is None:
        allowed = ", ".join(sorted(methods))
        raise ApiError(
            "METHOD_NOT_ALLOWED",
            f"Method {request.method} is not allowed here; allowed: {allowed}.",
            {"allowed_methods": sorted(methods)},
            headers={"Allow": allowed},
        )
    return await handler(state, receive)
