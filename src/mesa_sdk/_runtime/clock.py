"""Time as the runtime sees it: one object, so tests can replace waiting with bookkeeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the runtime asks of time. Tests set a fake one on `ClientCore.clock`."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for deadlines and elapsed times."""
        ...

    def time(self) -> float:
        """Seconds since the epoch, for HTTP dates."""
        ...

    def sleep(self, seconds: float) -> None: ...

    async def async_sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        # Imported here: a client that never runs async code never loads asyncio.
        import asyncio

        await asyncio.sleep(seconds)
