"""`mount()`: a repository at a ref as a local folder, served by FUSE from a background thread."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

from mesa_sdk.fs._fusepy import load_fuse, require_fusepy
from mesa_sdk.fs.blobs import BlobCache
from mesa_sdk.fs.changes import PendingChange
from mesa_sdk.fs.committing import (
    DEFAULT_AUTHOR,
    commit_changes,
    finish_open_commit,
    recorded_manifest,
    signature,
)
from mesa_sdk.fs.errors import MountError, PendingChangesError, RebaseConflictError
from mesa_sdk.fs.operations import operations_for
from mesa_sdk.fs.overlay import Overlay, OverlayError, overlay_info
from mesa_sdk.fs.paths import inside
from mesa_sdk.fs.prefetch import Prefetcher
from mesa_sdk.fs.progress import FetchStats
from mesa_sdk.fs.remote import DEFAULT_READ_TIMEOUT, Remote, ResolvedRef
from mesa_sdk.fs.shell import DEFAULT_EXEC_TIMEOUT, ExecResult, run
from mesa_sdk.fs.snapshot import Snapshot
from mesa_sdk.fs.tree import MountedTree
from mesa_sdk.fs.treefetch import TreeFetcher

if TYPE_CHECKING:
    from mesa_sdk import Mesa, RequestOptions
    from mesa_sdk.models import AuthorTypedDict, CommitResult

__all__ = ["DEFAULT_AUTHOR", "Mount", "mount"]

log = logging.getLogger("mesa_sdk.fs")

READ_ONLY_CACHE_SECONDS = 24 * 3600
"""Kernel attribute/entry cache lifetime on a read-only mount: the tree is a fixed commit."""

WRITABLE_CACHE_SECONDS = 1
"""The same on a writable mount (libfuse's default)."""


def mount(
    client: Mesa,
    *,
    repo: str,
    org: str | None = None,
    ref: str | None = None,
    path: str | os.PathLike[str] | None = None,
    writable: bool = False,
    message: str | None = None,
    author: AuthorTypedDict | Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    overlay_dir: str | os.PathLike[str] | None = None,
    request_options: RequestOptions | None = None,
    prefetch: bool = True,
    ready_timeout: float = 15.0,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    vcs_url: str | None = None,
) -> Mount:
    """Mounts `org/repo` at `ref` on `path` and returns the `Mount`, already serving.

    Use it as a context manager: `with mount(client, org="acme", repo="app") as m:`; leaving
    the block unmounts (also when the body raised). Without `with`, call `m.close()`.

    Args:
        client: The SDK client; every request goes through it.
        repo: The repository name.
        org: The organization; the client's `org` when None.
        ref: A branch, tag or commit SHA, resolved to a commit once, now; the repository's
            default branch when None. A writable mount needs a branch.
        path: The (empty) folder to mount on, made if missing; a new temporary folder,
            removed after unmounting, when None.
        writable: Changes go to a local overlay and become one commit with `commit()`.
        message: With `writable`: leaving the `with` block commits pending changes with this
            message (without it, leaving with pending changes raises PendingChangesError).
        author: `{"name", "email"}` of those commits (DEFAULT_AUTHOR when None).
        cache_dir: Where downloaded file bytes are kept, by blob id; a temporary folder,
            removed after unmounting, when None. A given folder is kept and reused.
        overlay_dir: Where a writable mount journals its changes (a folder of yours: the mount
            deletes only the files it made there, and only once nothing is pending). If an
            earlier mount of the same repository and branch left changes there (a kill, a
            crash, PendingChangesError), this mount shows them again, on the commit they were
            made on. None: a temporary folder, removed after unmounting unless changes were
            left pending.
        request_options: `RequestOptions` for every request the mount makes (reads are
            bounded by `read_timeout` over these).
        prefetch: When a walk starts (a folder is listed for its contents), fetch the files
            below it (up to 8 MiB each) in one request through the git endpoint, in the
            background; and when a folder's first file is downloaded through the API, download
            its other small files (up to 1 MiB, 256 per folder, 4 at a time) in the
            background. `Mount.prefetch()` fetches a tree when asked, either way.
        ready_timeout: Seconds to wait for the mount to come up.
        read_timeout: Seconds a request the mount makes to read may take in all (attempts
            and retries); past it, the reader gets EIO.
        vcs_url: The git service's base URL (`https://vcs.mesa.dev`): trees are fetched
            from `{vcs_url}/{org}/{repo}.git`. None: the API server's origin. Where git
            cannot fetch, files are read one by one through the API.

    Raises:
        MountError: FUSE is unavailable, the mount point is unusable, a writable `ref` is
            not a branch, `overlay_dir` holds changes for another repository or branch, or
            the mount did not become ready.
        NotFoundError: The repository or the ref does not exist (from the SDK).
    """
    try:
        require_fusepy()  # before any request: without it, nothing else matters
    except ImportError as error:
        raise MountError(f"FUSE is unavailable: {error}") from error
    remote = Remote(client, org, repo, request_options, read_timeout)
    recorded = None
    if writable:
        info = remote.repository()  # also fixes remote.org (for the overlay's manifest)
        branch = ref if ref is not None else info.default_branch
        if overlay_dir is not None:
            recorded = recorded_manifest(Path(overlay_dir), remote.org, repo, branch)
        if recorded is not None:
            # Pending changes from an earlier mount: show them on the commit they were
            # made on, so a commit is a compare-and-swap against that base.
            base = recorded.get("base_sha")
            resolved = remote.resolve(str(base)) if base else ResolvedRef(None, 0)
        elif remote.is_branch(branch):
            resolved = remote.resolve(branch)
        elif info.head_sha is None and branch == info.default_branch:
            resolved = ResolvedRef(None, 0)  # the first commit makes the branch
        else:
            raise MountError(
                f"a writable mount needs a branch: {branch!r} is not a branch of "
                f"{remote.org}/{repo}"
            )
        ref_name: str | None = branch
    else:
        resolved = remote.resolve(ref)
        ref_name = ref
    m = Mount(
        remote,
        ref=ref_name,
        commit=resolved.sha,
        time_ns=resolved.time_ns or time.time_ns(),
        path=path,
        writable=writable,
        message=message,
        author=signature(author) if author is not None else None,
        cache_dir=cache_dir,
        overlay_dir=overlay_dir,
        prefetch=prefetch,
        read_timeout=read_timeout,
        vcs_url=vcs_url,
    )
    m._start(ready_timeout)
    return m


class Mount:
    """A mounted repository. Made by `mount()`.

    Attributes:
        path: The mount point.
        org, repo: The repository (fixed for the mount's life).
        ref: The ref given (the branch of a writable mount).
        writable: Whether changes are possible.
    """

    def __init__(
        self,
        remote: Remote,
        *,
        ref: str | None,
        commit: str | None,
        time_ns: int,
        path: str | os.PathLike[str] | None,
        writable: bool,
        message: str | None,
        author: AuthorTypedDict | None,
        cache_dir: str | os.PathLike[str] | None,
        overlay_dir: str | os.PathLike[str] | None,
        prefetch: bool = True,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        vcs_url: str | None = None,
    ) -> None:
        self._remote = remote
        self.org = remote.org
        self.repo = remote.repo
        self.ref = ref
        self.writable = writable
        self._message = message
        self._author = author
        overlay: Overlay | None = None
        if writable:
            info = overlay_info(remote.org, remote.repo, ref, commit)
            try:
                if overlay_dir is None:
                    root = Path(tempfile.mkdtemp(prefix="mesa-fs-overlay-"))
                    overlay = Overlay(root, info, owned=True)
                else:
                    overlay = Overlay(Path(overlay_dir), info)
            except (OSError, OverlayError) as error:
                raise MountError(f"cannot use the overlay folder: {error}") from error
        try:
            self._owns_path = path is None or not os.path.exists(path)
            if path is None:
                self.path = os.path.realpath(tempfile.mkdtemp(prefix="mesa-fs-"))
            else:
                os.makedirs(path, exist_ok=True)
                self.path = os.path.realpath(path)
            self._owns_cache = cache_dir is None
            cache_root = (
                Path(tempfile.mkdtemp(prefix="mesa-fs-cache-"))
                if cache_dir is None
                else Path(cache_dir)
            )
            self._cache_root = cache_root
            self._prefetcher = Prefetcher() if prefetch else None
            blobs = BlobCache(cache_root)
            self._trees = TreeFetcher(
                remote,
                blobs,
                vcs_url=vcs_url,
                on_walk=prefetch,
                wait_timeout=read_timeout,
            )
            snapshot = Snapshot(
                remote,
                blobs,
                commit,
                time_ns,
                prefetcher=self._prefetcher,
                trees=self._trees,
            )
            self._tree = MountedTree(snapshot, overlay)
        except BaseException:
            # Nothing served yet: keep what an earlier mount left, remove what this made.
            if overlay is not None and overlay.entries:
                overlay.close()
            elif overlay is not None:
                overlay.destroy()
            raise
        self._operations = operations_for(self._tree)
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._after_serving: Callable[[], None] | None = None
        self._serving = threading.Lock()
        self._thread_done = False
        self._files_removed = False
        self._unmounted = False
        self._closed = False

    # ---- what is mounted --------------------------------------------------------------

    @property
    def sha(self) -> str | None:
        """The commit the mount shows (moves with each `commit()`); None: empty repository."""
        return self._tree.snapshot.commit

    @property
    def fetched(self) -> FetchStats:
        """What the mount fetched from the API so far: files, their bytes, folder listings
        (a progress display reads it a few times a second)."""
        return self._remote.fetched.stats()

    @property
    def overlay_path(self) -> Path | None:
        """The writable mount's overlay folder (None on a read-only mount)."""
        overlay = self._tree.overlay
        return overlay.root if overlay is not None else None

    @property
    def mounted(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and _is_mounted(self.path)

    def __repr__(self) -> str:
        mode = "rw" if self.writable else "ro"
        return f"Mount({self.org}/{self.repo}@{self.sha}, {self.path!r}, {mode})"

    # ---- starting and stopping --------------------------------------------------------

    def _fuse_options(self) -> dict[str, Any]:
        seconds = WRITABLE_CACHE_SECONDS if self.writable else READ_ONLY_CACHE_SECONDS
        options: dict[str, Any] = {
            # Shown in /proc/mounts and df; only characters an option value may hold.
            "fsname": re.sub(r"[^A-Za-z0-9._/@:-]", "_", f"mesa:{self.org or ''}/{self.repo}"),
            "subtype": "mesa",
            "default_permissions": True,
            "attr_timeout": seconds,
            "entry_timeout": seconds,
        }
        if self.writable:
            # Unlink really unlinks (no .fuse_hidden files that a commit would pick up);
            # O_TRUNC reaches open, so overwriting a file never downloads it first.
            options.update(hard_remove=True, big_writes=True, atomic_o_trunc=True)
        else:
            # A fixed commit: page cache kept across opens, misses remembered too.
            options.update(ro=True, kernel_cache=True, negative_timeout=seconds)
        return options

    def _serve(self, fuse: Any) -> None:
        try:
            fuse(
                self._operations,
                self.path,
                foreground=True,
                nothreads=False,
                **self._fuse_options(),
            )
        except BaseException as error:  # reported by _start / unmount
            self._thread_error = error
        finally:
            _ignore_sigpipe_again()
            with self._serving:
                after, self._after_serving = self._after_serving, None
                self._thread_done = True
            if after is not None:
                after()

    def _start(self, ready_timeout: float) -> None:
        try:
            # A commit a killed mount was sending: its outcome first, so the mount shows it.
            finish_open_commit(self._tree, self._remote)
            try:
                fuse = load_fuse(read_only=not self.writable)
            except (ImportError, OSError) as error:
                raise MountError(f"FUSE is unavailable: {error}") from error
            try:
                occupied = bool(os.listdir(self.path))
            except OSError as error:
                raise MountError(
                    f"cannot mount on {self.path!r}: {error.strerror} (a stale mount? "
                    f"`fusermount -u {self.path}` removes it)"
                ) from error
            if occupied:
                raise MountError(f"the mount point {self.path!r} is not empty")
            # The root's listing is needed first: fetch it while libfuse starts.
            threading.Thread(
                target=self._list_root, name="mesa-fs-root-listing", daemon=True
            ).start()
            # libfuse takes SIGTERM/SIGHUP when they have no handler; give them back after.
            restore = threading.current_thread() is threading.main_thread()
            handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
            self._thread = threading.Thread(
                target=self._serve, args=(fuse,), name=f"mesa-fs {self.path}", daemon=True
            )
            self._thread.start()
            deadline = time.monotonic() + ready_timeout
            while not (self._operations.ready.is_set() and _is_mounted(self.path)):
                if not self._thread.is_alive():
                    raise MountError(
                        f"mounting {self.org}/{self.repo} on {self.path!r} failed: "
                        f"{self._thread_error or 'libfuse stopped (see its message above)'}"
                    )
                if time.monotonic() > deadline:
                    raise MountError(
                        f"the mount on {self.path!r} was not ready in {ready_timeout} s"
                    )
                time.sleep(0.002)
            if restore:
                for sig, handler in handlers.items():
                    if handler is not None:
                        signal.signal(sig, handler)
        except BaseException:
            # Changes recovered from an earlier mount stay for the next one.
            self._stop(keep_overlay=self._has_entries())
            raise
        atexit.register(self._at_exit)
        log.info(
            "mounted %s/%s@%s on %s (%s)",
            self.org,
            self.repo,
            self.sha,
            self.path,
            "writable" if self.writable else "read-only",
        )

    def _list_root(self) -> None:
        try:
            self._tree.snapshot.children("")
        except Exception as error:  # the first lookup will ask again, and report
            log.debug("listing the root early failed: %s", error)

    def _unmount(self) -> None:
        """Unmounts; lazily when still busy after half a second (an open file, a shell's
        cwd): the mount then goes away when its last user lets go."""
        thread = self._thread
        if thread is None or self._unmounted:
            return
        self._unmounted = True
        for _ in range(5):
            if not _is_mounted(self.path):
                break
            result = subprocess.run(
                _unmount_command(self.path, lazy=False), capture_output=True, check=False
            )
            if result.returncode == 0:
                break
            time.sleep(0.1)
        else:
            log.warning("%s is busy: detached it (lazy unmount)", self.path)
            subprocess.run(_unmount_command(self.path, lazy=True), capture_output=True, check=False)
            thread.join(timeout=0.5)
            return
        thread.join(timeout=5)

    def _stop(self, *, keep_overlay: bool) -> None:
        """Unmounts and removes what the mount made (the overlay only if not kept)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
        self._trees.close()
        try:
            self._unmount()
        finally:
            with contextlib.suppress(Exception):
                atexit.unregister(self._at_exit)
            if self._owns_path:
                with contextlib.suppress(OSError):
                    os.rmdir(self.path)
            self._closed = True
            with self._serving:
                serving = self._thread is not None and not self._thread_done
                if serving:
                    # A detached mount still serves its last open files: clean up after it,
                    # or when the program exits first (a reader still waits on the server).
                    self._after_serving = lambda: self._remove_files(keep_overlay)
            if serving:
                atexit.register(self._remove_files, keep_overlay)
            else:
                self._remove_files(keep_overlay)
            log.info("unmounted %s", self.path)

    def _remove_files(self, keep_overlay: bool) -> None:
        """Removes the temporary folders and closes (or destroys) the overlay; once."""
        with self._serving:
            if self._files_removed:
                return
            self._files_removed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self._remove_files)
        self._tree.snapshot.blobs.close()
        if self._owns_cache:
            shutil.rmtree(self._cache_root, ignore_errors=True)
        overlay = self._tree.overlay
        if overlay is not None:
            if keep_overlay:
                overlay.close()
            else:
                overlay.destroy()

    def _has_entries(self) -> bool:
        overlay = self._tree.overlay
        return overlay is not None and bool(overlay.entries)

    def _at_exit(self) -> None:
        if not self._closed:
            overlay = self._tree.overlay
            keep = self._has_entries()
            if keep and overlay is not None:
                self._keep_overlay(None)
                log.warning("exiting with uncommitted changes: kept in %s", overlay.root)
            self._stop(keep_overlay=keep)

    def unmount(self) -> None:
        """Unmounts now, committing nothing. Uncommitted changes are kept in the overlay
        folder (then PendingChangesError is raised, saying where); idempotent."""
        if self._closed:
            return
        self._finish(commit=False)

    close = unmount

    def __enter__(self) -> Mount:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        if exc is not None:
            # The body failed: never commit half-done work, but keep it.
            overlay = self._tree.overlay
            keep = self._has_entries()
            if keep and overlay is not None:
                self._keep_overlay(None)
                note = f"mesa_sdk.fs: uncommitted changes were kept in {overlay.root}"
                log.warning(note)
                add_note = getattr(exc, "add_note", None)
                if add_note is not None:
                    add_note(note)
            self._stop(keep_overlay=keep)
            return
        self._finish(commit=self._message is not None)

    def _finish(self, *, commit: bool) -> None:
        """Unmounts (so nothing changes any more), then commits or keeps what is pending."""
        overlay = self._tree.overlay
        try:
            self._unmount()
        except BaseException:
            self._stop(keep_overlay=self._has_entries())
            raise
        if overlay is None or not overlay.entries:
            self._stop(keep_overlay=False)
            return
        try:
            changes = self.pending()
        except Exception as error:
            self._fail(None, "the pending changes could not be computed", error)
        if not changes:
            self._stop(keep_overlay=False)
            return
        if commit:
            assert self._message is not None
            try:
                self.commit(self._message)
            except Exception as error:
                self._fail(changes, "the commit failed", error)
            self._stop(keep_overlay=False)
            return
        self._fail(changes, "no commit message was given at mount", None)

    def _keep_overlay(self, changes: list[PendingChange] | None) -> Path | None:
        """Rewrites the manifest (already current, through the journal) whole, with the
        pending changes listed when known, for a reader of the folder; returns its path."""
        overlay = self._tree.overlay
        if overlay is None:
            return None
        extra: dict[str, Any] = {}
        if changes is not None:
            extra["changes"] = [
                {"path": c.path, "action": c.action, "executable": c.executable} for c in changes
            ]
        try:
            return overlay.compact(**extra)
        except OSError as error:
            log.warning("could not write the overlay's changes.json: %s", error)
            return None

    def _fail(
        self, changes: list[PendingChange] | None, why: str, cause: BaseException | None
    ) -> NoReturn:
        overlay = self._tree.overlay
        assert overlay is not None
        manifest = self._keep_overlay(changes)
        self._stop(keep_overlay=True)
        paths = [c.path for c in changes] if changes is not None else sorted(overlay.entries)
        error = PendingChangesError(
            f"{len(paths)} uncommitted change(s) to {self.org}/{self.repo} ({why}); "
            f"kept in {overlay.root} (see {manifest or 'files/'}): {', '.join(paths[:10])}"
            + (" ..." if len(paths) > 10 else ""),
            paths=paths,
            overlay_path=overlay.root,
            manifest_path=manifest,
            changes=changes,
        )
        raise error from cause

    # ---- changes ----------------------------------------------------------------------

    def pending(self) -> list[PendingChange]:
        """The edits the next `commit()` would make (deletes, then updates, then creates);
        empty on a read-only mount. Asks the API for listings of changed folders only."""
        return [planned.change for planned in self._tree.plan().edits]

    def commit(
        self,
        message: str | None = None,
        *,
        author: AuthorTypedDict | Mapping[str, str] | None = None,
    ) -> CommitResult | None:
        """Turns every pending change into exactly one commit on the branch, made only if
        the branch is still at the mounted commit; returns it, or None (and sends nothing)
        when nothing is pending. The mount then shows the new commit.

        Exactly once: the commit is sent under an idempotency key journalled with it first.
        When the outcome is unknown (no answer came), the error is raised, changes to the
        mount fail with EBUSY, and the next `commit()` sends the same commit again under the
        same key, with its first message and author (the ones given then are not used).

        Raises:
            ConflictError: The branch moved (code `BRANCH_MOVED`): nothing was written, the
                changes stay pending and readable.
            UnsupportedChangeError: More than 10,000 edits, or a symlink at a new path.
            ValueError: No message here nor at mount.
        """
        if not self.writable:
            return None
        text = message if message is not None else self._message
        if not text:
            raise ValueError("a commit needs a message (commit(message) or mount(message=))")
        if self._closed:
            raise MountError("the mount is closed")
        assert self.ref is not None
        return commit_changes(
            self._tree,
            self._remote,
            self.ref,
            text,
            signature(author) if author is not None else (self._author or DEFAULT_AUTHOR),
        )

    def rebase(self) -> str | None:
        """Moves the pending changes onto the branch's current head (after a commit failed
        with `BRANCH_MOVED`), so the next `commit()` goes on top of it; returns that head.

        Only when nothing the changes touch was changed on the branch meanwhile (per file:
        same bytes, same mode); otherwise raises RebaseConflictError naming those paths, and
        nothing moves. Paths the changes do not touch now show the new head.
        """
        if not self.writable:
            raise MountError("rebase() needs a writable mount")
        if self._closed:
            raise MountError("the mount is closed")
        resolved = self._remote.resolve(self.ref)
        if resolved.sha == self.sha:
            return resolved.sha
        current = self._tree.snapshot
        head = Snapshot(
            self._remote,
            current.blobs,
            resolved.sha,
            resolved.time_ns,
            prefetcher=current.prefetcher,
            trees=current.trees,
        )
        conflicts = self._tree.rebase(head)
        if conflicts:
            raise RebaseConflictError(
                f"{len(conflicts)} path(s) changed on {self.ref} since {current.commit}: "
                + ", ".join(conflicts[:10]),
                conflicts,
            )
        log.info("rebased %s/%s onto %s", self.org, self.repo, resolved.sha)
        return resolved.sha

    def prefetch(self, path: str = "") -> int:
        """Fetches the files below folder `path` of the mounted commit (the whole tree by
        default) in one request through the git endpoint, into the cache, so reading them
        makes no request; returns how many files came (those already cached, empty or over
        8 MiB are not fetched).

        Raises:
            MountError: The mount is closed, or the git endpoint cannot be used (no `git`
                on PATH, unreachable, refused); reads then go through the API file by file.
        """
        if self._closed:
            raise MountError("the mount is closed")
        folder = path.strip("/")
        return self._trees.fetch(self._tree.snapshot, folder)

    # ---- commands ---------------------------------------------------------------------

    def exec(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = DEFAULT_EXEC_TIMEOUT,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | str | None = None,
    ) -> ExecResult:
        """Runs a real command with the mount as its working directory.

        A string runs with `bash -c`; a list runs as is. `cwd` is relative to the mount (and
        must stay inside it); `env` is added to this process's environment; `input` is sent
        to stdin. Returns ExecResult (bytes `stdout`/`stderr`, `exit_code`; a failing command
        is a non-zero exit code, not an exception).

        Raises:
            ExecTimeoutError: (a `subprocess.TimeoutExpired`) the command ran longer than
                `timeout` seconds (None: no limit); it was killed with its children.
        """
        if self._closed:
            raise MountError("the mount is closed")
        return run(
            command,
            cwd=inside(self.path, cwd),
            timeout=timeout,
            env=env,
            stdin=input,
        )

    bash = exec


def _unmount_command(path: str, *, lazy: bool) -> list[str]:
    fusermount = shutil.which("fusermount") or shutil.which("fusermount3")
    if fusermount is not None:
        return [fusermount, "-u", "-q", *(["-z"] if lazy else []), path]
    return ["umount", *(["-l"] if lazy else []), path]  # root without fusermount


def _is_mounted(path: str) -> bool:
    """Whether `path` is a mount point in /proc/self/mounts (a dead FUSE mount included,
    which `os.path.ismount` misses: its lstat fails)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split(" ")
                if len(fields) > 1 and _unescape(fields[1]) == path:
                    return True
        return False
    except OSError:
        return os.path.ismount(path)


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as \ooo octal.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _ignore_sigpipe_again() -> None:
    """Put back Python's SIGPIPE disposition (ignored) after libfuse's loop ends.

    libfuse's `fuse_remove_signal_handlers` resets SIGPIPE to its default whenever it finds
    it ignored, though it was Python, not libfuse, that ignored it: the process would then
    die at its next write to a closed socket or pipe. Called from the serving thread, so
    through libc: `signal.signal` works only in the main thread, and the disposition is
    process-wide either way.
    """
    import ctypes

    handler = ctypes.c_void_p(1)  # SIG_IGN
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.signal(signal.SIGPIPE, handler)
