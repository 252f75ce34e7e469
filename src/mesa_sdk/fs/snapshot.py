"""The repository's tree at one commit, read lazily and cached.

A commit never changes, so nothing read about it goes stale: each folder is listed once
(`content.get(path=folder, ref=<sha>, depth=1, limit=1000)`, following `next_cursor`) and
every child's kind, size, mode and blob id are kept from that listing, so a `stat` of any
path whose folder was listed makes no request. A folder listed for its contents (`readdir`,
not a path lookup) is first asked for `SUBTREE_DEPTH` levels in one page: `ls -R`, `find`
and `grep -r` go on into the subfolders, whose listings that page usually holds whole.
File bytes live in the blob cache, symlink targets in memory. Concurrent misses on one
folder or one symlink make one request. A walk's files may come in one fetch of the whole
folder tree (`treefetch.py`): a read waits for the blob that fetch is bringing.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mesa_sdk.fs.blobs import BlobCache
from mesa_sdk.fs.paths import ancestors, parent_of
from mesa_sdk.fs.remote import Entry, Remote
from mesa_sdk.fs.singleflight import SingleFlight

if TYPE_CHECKING:
    from mesa_sdk.fs.prefetch import Prefetcher
    from mesa_sdk.fs.treefetch import TreeFetcher

__all__ = ["ROOT", "SUBTREE_DEPTH", "NeedListing", "Snapshot", "complete_listings"]

ROOT = Entry(path="", kind="dir", sha="", size=0, executable=False)

_MAX_DEPTH = 64  # the API's deepest listing

SUBTREE_DEPTH = 10
"""Levels of a folder asked for in one page when it is listed for its contents."""


def complete_listings(
    folder: str, entries: list[Entry], depth: int, whole: bool
) -> dict[str, dict[str, Entry]]:
    """The folder listings that a run of `folder`'s entries holds whole, by folder.

    `entries` are `folder`'s entries up to `depth` levels below it, in path order, from the
    first one on: all of them (`whole`), or the first page only. The API sorts by path, so a
    folder's contents are one run, right after the folder ("a/..." follows "a"). A page then
    holds the listing of every folder whose contents all sort before its last entry, not
    `folder`'s own: only the last page would tell that it is complete.
    """
    if not whole and not entries:
        return {}
    base = folder.count("/") + 1 if folder else 0
    listings: dict[str, dict[str, Entry]] = {folder: {}}
    for entry in entries:
        listing = listings.get(parent_of(entry.path))
        if listing is not None:
            listing[entry.path.rpartition("/")[2]] = entry
        if entry.kind == "dir" and entry.path.count("/") + 1 - base < depth:
            listings[entry.path] = {}
    if whole:
        return listings
    last = entries[-1].path
    return {
        path: listing
        for path, listing in listings.items()
        if path != folder and last > path + "/" and not last.startswith(path + "/")
    }


class NeedListing(Exception):
    """Raised by the `peek` methods: `folder` must be listed (with `children`) first."""

    def __init__(self, folder: str) -> None:
        super().__init__(folder)
        self.folder = folder


class Snapshot:
    """The tree of `commit` (None: an empty repository, whose root is empty)."""

    def __init__(
        self,
        remote: Remote,
        blobs: BlobCache,
        commit: str | None,
        time_ns: int,
        listings: dict[str, dict[str, Entry]] | None = None,
        prefetcher: Prefetcher | None = None,
        trees: TreeFetcher | None = None,
    ) -> None:
        self.remote = remote
        self.blobs = blobs
        self.prefetcher = prefetcher
        self.trees = trees
        self.commit = commit
        self.time_ns = time_ns
        self._lock = threading.Lock()
        self._listings: dict[str, dict[str, Entry]] = dict(listings or {})
        if commit is None:
            self._listings[""] = {}
        self._missing: set[str] = set()  # folders known not to be folders
        self._links: dict[str, str] = {}
        self._flight: SingleFlight[dict[str, Entry] | None] = SingleFlight()
        self._link_flight: SingleFlight[str] = SingleFlight()

    # ---- lookups ----------------------------------------------------------------------

    def lookup(self, path: str) -> Entry | None:
        """The entry at `path`, or None. Lists `path`'s folder if it was not listed yet."""
        if not path:
            return ROOT
        parent = parent_of(path)
        listing = self.children(parent)
        if listing is None:
            return None
        return listing.get(path.rpartition("/")[2])

    def children(self, folder: str, subtree: bool = False) -> dict[str, Entry] | None:
        """`folder`'s entries by name, or None when it is not a folder. `subtree`: it is
        listed for its contents, so its subfolders are likely next (see the module's note)."""
        with self._lock:
            listing = self._listings.get(folder)
            if listing is None and folder in self._missing:
                return None
        if listing is not None:
            return listing
        if folder:
            # Never ask for a folder whose parent's listing says it is not one.
            entry = self.lookup(folder)
            if entry is None or entry.kind != "dir":
                with self._lock:
                    self._missing.add(folder)
                return None
        return self._flight.do(folder, lambda: self._list(folder, subtree))

    def peek(self, path: str) -> Entry | None:
        """`lookup` without any request: raises NeedListing when a listing is missing."""
        if not path:
            return ROOT
        listing = self.peek_children(parent_of(path))
        if listing is None:
            return None
        return listing.get(path.rpartition("/")[2])

    def peek_children(self, folder: str) -> dict[str, Entry] | None:
        """`children` without any request: raises NeedListing when it is not listed yet."""
        with self._lock:
            listing = self._listings.get(folder)
            if listing is not None:
                return listing
            if folder in self._missing:
                return None
        raise NeedListing(folder)

    def _list(self, folder: str, subtree: bool) -> dict[str, Entry] | None:
        with self._lock:
            listing = self._listings.get(folder)
        if listing is not None:
            return listing
        assert self.commit is not None
        if subtree:
            page = self.remote.list_page(self.commit, folder, SUBTREE_DEPTH)
            if page is None:
                with self._lock:
                    self._missing.add(folder)
                return None
            entries, more = page
            self._keep(complete_listings(folder, entries, SUBTREE_DEPTH, whole=more is None))
            with self._lock:
                listing = self._listings.get(folder)
            if listing is not None:
                return listing
            # More than a page below `folder`: the page listed some of its subfolders; its
            # own entries come from a plain listing.
        found = self.remote.list_dir(self.commit, folder, depth=1)
        if found is None:
            with self._lock:
                self._missing.add(folder)
            return None
        listing = {entry.path.rpartition("/")[2]: entry for entry in found}
        with self._lock:
            self._listings[folder] = listing
        return listing

    def _keep(self, listings: dict[str, dict[str, Entry]]) -> None:
        with self._lock:
            for folder, listing in listings.items():
                self._listings.setdefault(folder, listing)

    def files_under(self, path: str) -> dict[str, Entry]:
        """Every non-folder entry at or below `path`, by path (deep listings, few requests)."""
        entry = self.lookup(path)
        if entry is None:
            return {}
        if entry.kind != "dir":
            return {path: entry}
        found: dict[str, Entry] = {}
        for item in self._walk(path):
            if item.kind != "dir":
                found[item.path] = item
        return found

    def _walk(self, folder: str) -> Iterator[Entry]:
        if self.commit is None:
            return
        entries = self.remote.list_dir(self.commit, folder, depth=_MAX_DEPTH) or []
        listings = complete_listings(folder, entries, _MAX_DEPTH, whole=True)
        self._keep(listings)
        yield from entries
        for entry in entries:
            if entry.kind == "dir" and entry.path not in listings:  # deeper than one listing
                yield from self._walk(entry.path)

    # ---- bytes ------------------------------------------------------------------------

    def blob_file(self, entry: Entry, prefetch: bool = True) -> str:
        """The local file holding `entry`'s bytes (downloaded once, into the blob cache); a
        download also starts the prefetch of its folder's other small files."""
        found, fetched = self.fetch_blob(entry)
        if prefetch and fetched:
            self.read_ahead(entry)
        return found

    def fetch_blob(self, entry: Entry) -> tuple[str, bool]:
        """The local file holding `entry`'s bytes, and whether it was not in the cache yet
        (then `read_ahead` is due, once the caller has what it needs)."""
        commit = self.commit
        assert commit is not None
        cached = os.path.exists(self.blobs.path(entry.sha))
        left: float | None = None  # of the read's bound, after waiting for a tree fetch
        if not cached and self.trees is not None:
            waited = self.trees.wait_for(self, entry)
            cached = os.path.exists(self.blobs.path(entry.sha))
            if waited:
                left = self.remote.read_timeout - waited
                if not cached and left <= 0:
                    raise OSError(errno.EIO, "the tree fetch bringing this file stalled")
        found = self.blobs.get(
            entry.sha, entry.size, lambda: self.remote.stream(commit, entry.path, left)
        )
        return found, not cached

    def read_ahead(self, entry: Entry) -> None:
        """Starts the prefetch of the other small files of `entry`'s folder."""
        if self.prefetcher is not None and entry.size > 0:
            self.prefetcher.folder(self, parent_of(entry.path))

    def readlink(self, entry: Entry) -> str:
        with self._lock:
            target = self._links.get(entry.sha)
        if target is not None:
            return target
        return self._link_flight.do(entry.sha, lambda: self._read_link(entry))

    def _read_link(self, entry: Entry) -> str:
        assert self.commit is not None
        target = self.remote.read_raw(self.commit, entry.path).decode("utf-8", "surrogateescape")
        with self._lock:
            self._links[entry.sha] = target
        return target

    # ---- moving on --------------------------------------------------------------------

    def advanced(self, commit: str, time_ns: int, changed: list[str]) -> Snapshot:
        """The snapshot of `commit`, a child of this one that changed exactly the files
        `changed`: listings of folders holding no changed path are carried over, the others
        are read again when next needed; the blob cache is shared."""
        holding: set[str] = set()  # folders at or above a changed path
        for path in changed:
            holding.update(ancestors(path))
        gone = set(changed)  # a listing at or below a changed path is not one any more
        with self._lock:
            kept = {
                folder: listing
                for folder, listing in self._listings.items()
                if folder not in holding
                and folder not in gone
                and not any(above in gone for above in ancestors(folder))
            }
        return Snapshot(self.remote, self.blobs, commit, time_ns, kept, self.prefetcher, self.trees)

    def walk_starts(self, folder: str) -> None:
        """`folder` is listed for its contents: a walk below it is likely (see treefetch)."""
        if self.trees is not None:
            self.trees.walk(self, folder)
