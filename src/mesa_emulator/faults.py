"""Scripted faults and the optional global rate limit (the test control plane's state).

In the manner of Google's storage-testbench, a test scripts faults for the next requests that
match a method and a path (exact, or a glob where ``*`` matches within one path segment and
``**`` across segments).  Each matching request consumes the next unconsumed fault of the
oldest matching script, one fault per request, and the consumption is logged so a test can
check that every scripted fault was hit.

Fault kinds (one object each; ``delay_ms`` may be combined with another kind):

* ``{"status": 503, "retry_after": 1}`` answers that status with the error envelope (and
  ``Retry-After``) without running the handler.  ``code``/``message`` override the envelope.
* ``{"delay_ms": 2000}`` sleeps before handling, then handles normally.
* ``{"drop": "before"}`` closes the connection without handling the request.
* ``{"drop": "after"}`` handles the request fully, then closes the connection instead of
  answering.
* ``{"crash": "<point>"}`` kills the whole emulator process (``os._exit``, as a ``kill -9``
  would) when a write sent with an ``Idempotency-Key`` reaches that point, for testing
  recovery: ``after_journal`` (its intent is journalled, no git ref has moved),
  ``before_publish`` (its refs moved; the webhook deliveries journalled with them are not yet
  handed to the delivery worker) or ``before_answer_kept`` (the write is done, its answer not
  yet kept).  A ``git push`` (``POST .../git-receive-pack``) stops at ``before_publish`` too.
  A request that does not reach the point runs normally.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mesa_emulator.errors import ApiError

__all__ = [
    "CRASH_POINTS",
    "Fault",
    "FaultRegistry",
    "RateLimiter",
    "glob_pattern",
    "parse_fault_script",
]

CRASH_POINTS = ("after_journal", "before_publish", "before_answer_kept")

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"}


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    delay_ms: int = 0
    drop: str | None = None  # "before" | "after"
    crash: str | None = None  # one of CRASH_POINTS

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status is not None:
            out["status"] = self.status
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        if self.code is not None:
            out["code"] = self.code
        if self.message is not None:
            out["message"] = self.message
        if self.delay_ms:
            out["delay_ms"] = self.delay_ms
        if self.drop is not None:
            out["drop"] = self.drop
        if self.crash is not None:
            out["crash"] = self.crash
        return out


@dataclass
class _Slot:
    fault: Fault
    consumed_at: datetime | None = None
    request: dict[str, str] | None = None


@dataclass
class _Script:
    id: str
    method: str
    path: str
    pattern: re.Pattern[str]
    created_at: datetime
    slots: list[_Slot] = field(default_factory=list)


def glob_pattern(path: str) -> re.Pattern[str]:
    """``path`` as a regular expression (to match whole): ``*`` and ``?`` within one path
    segment, ``**`` across segments."""
    out: list[str] = []
    i = 0
    while i < len(path):
        if path.startswith("**", i):
            out.append(".*")
            i += 2
        elif path[i] == "*":
            out.append("[^/]*")
            i += 1
        elif path[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(path[i]))
            i += 1
    return re.compile("".join(out))


def _bad(field_name: str, message: str) -> ApiError:
    return ApiError.invalid_request(field_name, message)


def _number(value: Any, field_name: str, *, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(field_name, f"'{field_name}' must be a number")
    if value < minimum:
        raise _bad(field_name, f"'{field_name}' must be at least {minimum:g}")
    return float(value)


def _parse_fault(raw: Any, where: str) -> Fault:
    if not isinstance(raw, dict):
        raise _bad(where, f"'{where}' must be an object")
    known = {"status", "retry_after", "code", "message", "delay_ms", "drop", "crash"}
    for name in raw:
        if name not in known:
            raise _bad(f"{where}.{name}", f"unknown field '{where}.{name}'")
    status = raw.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599
    ):
        raise _bad(f"{where}.status", f"'{where}.status' must be an integer from 400 to 599")
    retry_after = raw.get("retry_after")
    if retry_after is not None:
        retry_after = _number(retry_after, f"{where}.retry_after")
    delay = raw.get("delay_ms", 0)
    delay = int(_number(delay, f"{where}.delay_ms")) if delay is not None else 0
    drop = raw.get("drop")
    if drop is not None and drop not in ("before", "after"):
        raise _bad(f"{where}.drop", f"'{where}.drop' must be 'before' or 'after'")
    if status is not None and drop is not None:
        raise _bad(where, f"'{where}' cannot both answer a status and drop the connection")
    crash = raw.get("crash")
    if crash is not None and crash not in CRASH_POINTS:
        points = "', '".join(CRASH_POINTS)
        raise _bad(f"{where}.crash", f"'{where}.crash' must be one of '{points}'")
    if crash is not None and (status is not None or drop is not None):
        raise _bad(where, f"'{where}' cannot both crash and answer a status or drop")
    if status is None and drop is None and crash is None and not delay:
        raise _bad(where, f"'{where}' needs 'status', 'delay_ms', 'drop' or 'crash'")
    for text_field in ("code", "message"):
        value = raw.get(text_field)
        if value is not None and not isinstance(value, str):
            raise _bad(f"{where}.{text_field}", f"'{where}.{text_field}' must be a string")
    return Fault(
        status=status,
        retry_after=retry_after,
        code=raw.get("code"),
        message=raw.get("message"),
        delay_ms=delay,
        drop=drop,
        crash=crash,
    )


def parse_fault_script(data: Any) -> tuple[str, str, list[Fault]]:
    """Validate a ``POST /_emulator/faults`` body: (method, path pattern, faults)."""
    if not isinstance(data, dict):
        raise _bad("body", "the body must be a JSON object")
    for name in data:
        if name not in ("method", "path", "faults"):
            raise _bad(name, f"unknown field '{name}'")
    method = data.get("method", "*")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise _bad("method", "'method' must be an HTTP method or '*'")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad("path", "'path' must be a path (or glob) starting with '/'")
    raw_faults = data.get("faults")
    if not isinstance(raw_faults, list) or not raw_faults:
        raise _bad("faults", "'faults' must be a non-empty list")
    faults = [_parse_fault(raw, f"faults.{i}") for i, raw in enumerate(raw_faults)]
    return method.upper(), path, faults


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


class FaultRegistry:
    """Thread-safe: scripted from test threads, consumed on the server's event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []

    def add(self, method: str, path: str, faults: list[Fault]) -> str:
        script = _Script(
            id="flt_" + secrets.token_hex(8),
            method=method.upper(),
            path=path,
            pattern=glob_pattern(path),
            created_at=datetime.now(timezone.utc),
            slots=[_Slot(fault) for fault in faults],
        )
        with self._lock:
            self._scripts.append(script)
        return script.id

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()

    def take(self, method: str, path: str, request_id: str) -> Fault | None:
        """Consume the next fault scripted for this request, if any."""
        with self._lock:
            if not self._scripts:
                return None
            for script in self._scripts:
                if script.method not in ("*", method.upper()):
                    continue
                if script.path != path and not script.pattern.fullmatch(path):
                    continue
                for slot in script.slots:
                    if slot.consumed_at is None:
                        slot.consumed_at = datetime.now(timezone.utc)
                        slot.request = {"method": method, "path": path, "request_id": request_id}
                        return slot.fault
        return None

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": script.id,
                    "method": script.method,
                    "path": script.path,
                    "created_at": _iso(script.created_at),
                    "remaining": sum(1 for s in script.slots if s.consumed_at is None),
                    "faults": [
                        {
                            "index": index,
                            "fault": slot.fault.to_json(),
                            "consumed": slot.consumed_at is not None,
                            "consumed_at": _iso(slot.consumed_at),
                            "request": dict(slot.request) if slot.request else None,
                        }
                        for index, slot in enumerate(script.slots)
                    ],
                }
                for script in self._scripts
            ]


class RateLimiter:
    """A global token bucket: ``requests_per_second`` refill, ``burst`` capacity."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: float | None = None
        self._burst = 0.0
        self._tokens = 0.0
        self._stamp = 0.0

    def configure(self, requests_per_second: float | None, burst: float | None = None) -> None:
        with self._lock:
            if requests_per_second is None:
                self._rate = None
                return
            self._rate = float(requests_per_second)
            self._burst = float(burst) if burst is not None else max(1.0, self._rate)
            self._tokens = self._burst
            self._stamp = time.monotonic()

    def settings(self) -> dict[str, float | None]:
        with self._lock:
            if self._rate is None:
                return {"requests_per_second": None, "burst": None}
            return {"requests_per_second": self._rate, "burst": self._burst}

    def acquire(self) -> int | None:
        """None when the request may go ahead, else the seconds to wait (at least 1)."""
        with self._lock:
            if self._rate is None:
                return None
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            if self._rate <= 0:
                return 60
            return max(1, math.ceil((1.0 - self._tokens) / self._rate))
