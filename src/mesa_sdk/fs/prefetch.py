"""Read-ahead across files: when a folder's first file is downloaded, its other small files
follow in the background (a few at a time), since tools that read one file of a folder
(`grep -r`, a build, an editor's project scan) usually read the others next.

Bounded: files up to `max_size`, at most `per_folder` of them, `workers` downloads at once,
each folder once per commit. Downloads start `grace` seconds after the read that queued them:
that reader, often in this same process, gets its bytes (and the GIL) first; busy read-ahead
threads made it wait out the interpreter's 5 ms switch interval. A prefetched file goes
through the same blob cache and the same per-blob de-duplication as a read, so a reader
arriving mid-download waits for that download instead of starting another. Failures are only
logged (at debug): the read that needs the file will try again and report.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mesa_sdk.fs.remote import Entry
    from mesa_sdk.fs.snapshot import Snapshot

__all__ = ["Prefetcher"]

log = logging.getLogger("mesa_sdk.fs")


class Prefetcher:
    def __init__(
        self,
        workers: int = 4,
        max_size: int = 1 << 20,
        per_folder: int = 256,
        grace: float = 0.01,
    ) -> None:
        self.workers = workers
        self.grace = grace
        self.max_size = max_size
        self.per_folder = per_folder
        self._lock = threading.Lock()
        self._seen: set[tuple[str | None, str]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def folder(self, snapshot: Snapshot, folder: str) -> None:
        """Queues the small, not yet cached files of `folder` (once per commit)."""
        key = (snapshot.commit, folder)
        with self._lock:
            if self._closed or key in self._seen:
                return
            self._seen.add(key)
        try:
            listing = snapshot.peek_children(folder)
        except Exception:  # not listed (never the case after a read): skip
            return
        if not listing:
            return
        wanted = [
            entry
            for _, entry in sorted(listing.items())
            if entry.kind == "file"
            and 0 < entry.size <= self.max_size
            and not os.path.exists(snapshot.blobs.path(entry.sha))
        ][: self.per_folder]
        if not wanted:
            return
        start = time.monotonic() + self.grace
        with self._lock:
            if self._closed:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="mesa-fs-prefetch"
                )
            for entry in wanted:
                self._executor.submit(self._fetch, snapshot, entry, start)

    def _fetch(self, snapshot: Snapshot, entry: Entry, start: float) -> None:
        time.sleep(max(0.0, start - time.monotonic()))
        if self._closed:
            return
        try:
            snapshot.blob_file(entry, prefetch=False)
        except Exception as error:
            log.debug("prefetching %s failed: %s", entry.path, error)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
