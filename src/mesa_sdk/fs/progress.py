"""What a mount fetched from the API, and how `mesa-fs` shows it while it serves.

`FetchCounter` counts what a mount fetches: files through the API (their bytes as they arrive,
the file when complete), files a tree fetch brings through git (when the cache keeps them),
and folder listings; `Mount.fetched` reads it as `FetchStats`.

`FetchReporter` turns those counts into what a person at the terminal sees, from a background
thread that looks at them a few times a second:

* on a terminal (`tty=True`), once fetching has gone on for half a second, one line rewritten
  in place (`mesa-fs: fetching 1,204 files, 18.3 MB`); a second after fetching stops it is
  replaced by a summary that stays (`mesa-fs: fetched 3,028 files, 41.0 MB in 12.4 s`);
* with `verbose=True`, instead, one log line per second in which something was fetched
  (`fetched 120 files, 1.6 MB, 4 listings in the last 1.0 s; 3,028 files, 41.0 MB in all`),
  never one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

__all__ = ["FetchCounter", "FetchReporter", "FetchStats", "format_bytes"]

log = logging.getLogger("mesa_sdk.fs")

SHOW_AFTER_SECONDS = 0.5
"""Fetching that ends sooner shows no progress line."""
IDLE_SECONDS = 1.0
"""Fetching has stopped when nothing arrived for this long."""
LOG_EVERY_SECONDS = 1.0
TICK_SECONDS = 0.2

_CLEAR_LINE = "\r\x1b[K"


@dataclass(frozen=True)
class FetchStats:
    """What a mount fetched since it was made."""

    files: int = 0
    """Files (and symlinks) downloaded whole."""
    bytes: int = 0
    """File bytes received, counted as they arrive."""
    listings: int = 0
    """Pages of folder listings received."""

    def __sub__(self, other: FetchStats) -> FetchStats:
        return FetchStats(
            self.files - other.files, self.bytes - other.bytes, self.listings - other.listings
        )


class FetchCounter:
    """Thread-safe counts of what was fetched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = FetchStats()

    def add_bytes(self, count: int) -> None:
        with self._lock:
            s = self._stats
            self._stats = FetchStats(s.files, s.bytes + count, s.listings)

    def add_file(self, count: int = 1) -> None:
        with self._lock:
            s = self._stats
            self._stats = FetchStats(s.files + count, s.bytes, s.listings)

    def add_listing(self) -> None:
        with self._lock:
            s = self._stats
            self._stats = FetchStats(s.files, s.bytes, s.listings + 1)

    def stats(self) -> FetchStats:
        with self._lock:
            return self._stats


def format_bytes(count: int) -> str:
    """`count` bytes for a person: `512 B`, `18.3 kB`, `41.0 MB`, `2.1 GB` (powers of 1000)."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _files(count: int) -> str:
    return f"{count:,} file{'' if count == 1 else 's'}"


class FetchReporter:
    """Shows what `source` reports (see the module); `start()` it, `close()` it."""

    def __init__(
        self,
        source: Callable[[], FetchStats],
        stream: TextIO,
        *,
        tty: bool,
        verbose: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._stream = stream
        self._line = tty and not verbose
        self._verbose = verbose
        self._clock = clock
        now = clock()
        self._last = source()
        self._last_change = now
        self._burst: tuple[float, FetchStats] | None = None  # when it began, counts before
        self._shown = False
        self._logged_at, self._logged = now, self._last
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> FetchReporter:
        if self._line or self._verbose:
            self._thread = threading.Thread(target=self._run, name="mesa-fs-progress", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stops, ending a progress line on the terminal with its summary."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._end_burst(self._clock())

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick()

    def tick(self) -> None:
        """Looks at the counts once (the thread does this every 0.2 s)."""
        now = self._clock()
        stats = self._source()
        if stats != self._last:
            if self._burst is None:
                self._burst = (now, self._last)
            self._last, self._last_change = stats, now
            if self._line and now - self._burst[0] >= SHOW_AFTER_SECONDS:
                self._write(f"{_CLEAR_LINE}mesa-fs: fetching {self._progress(stats)}")
                self._shown = True
        elif now - self._last_change >= IDLE_SECONDS:
            self._end_burst(now)
        if self._verbose and now - self._logged_at >= LOG_EVERY_SECONDS:
            self._log_summary(now, stats)

    def _progress(self, stats: FetchStats) -> str:
        assert self._burst is not None
        done = stats - self._burst[1]
        return f"{_files(done.files)}, {format_bytes(done.bytes)}"

    def _end_burst(self, now: float) -> None:
        if self._burst is not None and self._shown:
            seconds = self._last_change - self._burst[0]
            self._write(
                f"{_CLEAR_LINE}mesa-fs: fetched {self._progress(self._last)} in {seconds:.1f} s\n"
            )
        self._burst, self._shown = None, False

    def _log_summary(self, now: float, stats: FetchStats) -> None:
        recent = stats - self._logged
        if recent != FetchStats():
            log.info(
                "fetched %s, %s, %d listing%s in the last %.1f s; %s, %s in all",
                _files(recent.files),
                format_bytes(recent.bytes),
                recent.listings,
                "" if recent.listings == 1 else "s",
                now - self._logged_at,
                _files(stats.files),
                format_bytes(stats.bytes),
            )
        self._logged_at, self._logged = now, stats

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: nothing left to show
            self._line = False
