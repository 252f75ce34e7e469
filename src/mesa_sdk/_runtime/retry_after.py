"""Reading how long a server asks a client to wait: `Retry-After` and `retry-after-ms`."""

from __future__ import annotations

import math

import httpx


def parse_retry_after(headers: httpx.Headers, *, now: float) -> float | None:
    """Seconds to wait, or None when the headers do not say (or say it unreadably).

    `retry-after-ms` (milliseconds) is read first, then `Retry-After` as seconds or as an
    HTTP date. A date is measured from the response's own `Date` header when it has one, so
    that a skewed local clock does not stretch or cut the wait; `now` (epoch seconds) is the
    fallback. A date in the past means "now": 0.
    """
    milliseconds = _non_negative_number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _non_negative_number(value)
    if seconds is not None:
        return seconds
    until = _http_date(value)
    if until is None:
        return None
    sent_at = _http_date(headers.get("date"))
    return max(0.0, until - (sent_at if sent_at is not None else now))


def _non_negative_number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    # Imported here: only a date-valued header needs it.
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are always GMT; `-0000` parses as naive.
        from datetime import timezone

        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
