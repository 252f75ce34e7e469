"""Everything one running emulator holds: its data directory, metadata store, git repositories,
upstream syncs, LFS objects, secrets, scripted faults and rate limit.

Layout of the data directory::

    emulator.lock           held (flock) by the one emulator serving this folder
    bootstrap-key           the generated bootstrap key, mode 0600 (see bootstrap_key.py)
    meta.sqlite3            organizations, repositories and upstreams, API keys, idempotency
                            records, LFS index, webhooks and their queued deliveries
    repos/<repo id>.git     one bare git repository per repository (renames keep the folder)
    lfs/<repo id>/..        LFS objects by oid

Opening a data folder recovers it from an unclean stop (:mod:`mesa_emulator.recovery`).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from mesa_emulator.auth import hash_key
from mesa_emulator.bootstrap_key import BadKeyFile, stored_or_new_key
from mesa_emulator.cursors import CursorCodec
from mesa_emulator.deliveries import DeliveryWorker
from mesa_emulator.faults import FaultRegistry, RateLimiter
from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.git.repository import GitRepository
from mesa_emulator.idempotency import intent_text
from mesa_emulator.lfs import LfsStorage
from mesa_emulator.recovery import recover
from mesa_emulator.store import IdempotentAnswer, MetadataStore, utc_now
from mesa_emulator.upstream import UpstreamSyncs
from mesa_emulator.webhooks import push_deliveries

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "IDEMPOTENCY_TTL_SECONDS",
    "KEY_SECRET_WINDOW_SECONDS",
    "DataFolderInUse",
    "DataFolderUnusable",
    "EmulatorState",
]

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
IDEMPOTENCY_TTL_SECONDS = 24 * 3600.0
# How long the answer of an API key's creation, secret included, is kept for replay: longer
# than the SDK's default 300 s call deadline, so a retried creation gets its secret back.
KEY_SECRET_WINDOW_SECONDS = 600.0
# How often kept key secrets are checked for a closed window.
_SECRET_SWEEP_SECONDS = 1.0


class DataFolderInUse(Exception):
    """Another emulator serves this data folder."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"the data folder {str(data_dir)!r} is in use by another emulator "
            "(it holds emulator.lock); stop it, or give another --data folder"
        )


class DataFolderUnusable(Exception):
    """The data folder cannot be made, written or read: a file, no permission, a store that
    is not a database."""


def _unusable(data_dir: Path, error: BaseException) -> DataFolderUnusable:
    where = repr(str(data_dir))
    if isinstance(error, FileExistsError | NotADirectoryError) and not data_dir.is_dir():
        return DataFolderUnusable(f"the data folder {where} is a file, not a folder")
    if isinstance(error, sqlite3.DatabaseError):
        return DataFolderUnusable(
            f"the data folder {where} holds a metadata store that cannot be read "
            f"(meta.sqlite3: {error}); move meta.sqlite3 away, or give another data folder"
        )
    if isinstance(error, OSError):
        what = error.strerror or str(error)
        name = f" ({error.filename})" if error.filename else ""
        return DataFolderUnusable(f"the data folder {where} cannot be used: {what}{name}")
    return DataFolderUnusable(f"the data folder {where} cannot be used: {error}")


def _lock_data_dir(data_dir: Path) -> int:
    """Hold ``data_dir``'s lock file for this process: two emulators on one folder would undo
    each other's writes when they recover it."""
    fd = os.open(data_dir / "emulator.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataFolderInUse(data_dir) from None
    return fd


class EmulatorState:
    """``api_key`` is the bootstrap key; None: the one the data folder keeps (made on first
    use).

    Raises:
        DataFolderInUse: another emulator serves ``data_dir``.
        DataFolderUnusable: ``data_dir`` cannot be made, written or read.
    """

    def __init__(
        self,
        data_dir: Path,
        api_key: str | None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        autosync_period: float | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.repos_dir = self.data_dir / "repos"
        try:
            self.repos_dir.mkdir(parents=True, exist_ok=True)
            self._data_lock = _lock_data_dir(self.data_dir)
        except OSError as error:
            raise _unusable(self.data_dir, error) from error
        try:
            self.store = MetadataStore(self.data_dir / "meta.sqlite3")
        except BaseException as error:
            os.close(self._data_lock)
            if isinstance(error, OSError | sqlite3.DatabaseError):
                raise _unusable(self.data_dir, error) from error
            raise
        try:
            self.api_key = api_key or stored_or_new_key(self.data_dir)
            self._open(self.api_key, max_body_bytes)
        except BaseException as error:
            self.store.close()
            os.close(self._data_lock)
            if isinstance(error, OSError | sqlite3.DatabaseError | BadKeyFile):
                raise _unusable(self.data_dir, error) from error
            raise
        self._closing = threading.Event()
        self._sweeper = threading.Thread(
            target=self._sweep_secrets, name="mesa-emulator-secrets", daemon=True
        )
        self._sweeper.start()
        self.deliveries.start()
        self.upstreams = UpstreamSyncs(self, autosync_period=autosync_period)
        self.upstreams.start()

    def _open(self, api_key: str, max_body_bytes: int) -> None:
        secret = self.store.secret()
        self.cursors = CursorCodec(secret)
        self.lfs = LfsStorage(self.data_dir / "lfs", secret)
        self.faults = FaultRegistry()
        self.rate_limiter = RateLimiter()
        self.bootstrap_hash = hash_key(api_key)
        self.max_body_bytes = max_body_bytes
        self.idempotency_ttl = IDEMPOTENCY_TTL_SECONDS
        self.key_secret_window = KEY_SECRET_WINDOW_SECONDS
        self._reset_lock = threading.Lock()
        # ``http://host:port`` once the server listens: the repository URL in webhook events.
        self.public_url: str | None = None
        self.deliveries = DeliveryWorker(self.store)
        self.recovery = recover(self)

    def _sweep_secrets(self) -> None:
        while not self._closing.wait(_SECRET_SWEEP_SECONDS):
            self.store.redact_expired_secrets(time.time())

    def repo_path(self, repo_id: str) -> Path:
        return self.repos_dir / f"{repo_id}.git"

    def git(self, repo_id: str, quarantine: Path | None = None) -> GitRepository:
        return GitRepository(self.repo_path(repo_id), quarantine)

    def journal_ref_updates(
        self,
        repo_id: str,
        updates: Sequence[RefUpdate],
        answer: IdempotentAnswer | None = None,
        quarantine: Path | None = None,
    ) -> str | None:
        """Journal, before moving them, that ``updates`` are about to be made to the refs of
        ``repo_id`` (their new commits written), with the webhook deliveries they make and the
        ``answer`` to keep for the request's ``Idempotency-Key``, in one transaction.  Returns
        the id to give :meth:`publish_ref_updates` once the refs moved (None: nothing to
        journal).  A crash in between is settled at startup: the deliveries are sent if the
        first ref moved, dropped if not.  ``quarantine``: where a push's new commits wait
        (see :class:`GitRepository`)."""
        deliveries = push_deliveries(self, repo_id, updates, utc_now(), quarantine)
        if answer is None and not deliveries:
            return None
        journal_id = "jnl_" + secrets.token_hex(8)
        self.store.journal_ref_move(intent_text(repo_id, updates), answer, journal_id, deliveries)
        return journal_id

    def publish_ref_updates(
        self,
        repo_id: str,
        updates: Sequence[RefUpdate],
        *,
        journal_id: str | None = None,
    ) -> None:
        """Send the ``push`` event of each branch move in ``updates`` (made, in order) to the
        repository's webhooks it reaches; the deliveries are queued in the store before this
        returns and made by the delivery worker.

        ``journal_id``: from :meth:`journal_ref_updates` before the moves (so that a crash
        after them cannot lose their events); its deliveries are released.  Without it they
        are worked out now: call this right after the refs moved (a crash in between loses
        them).
        """
        if journal_id is not None:
            self.store.release_deliveries(journal_id)
        else:
            self.store.add_deliveries(push_deliveries(self, repo_id, updates, utc_now()))
        self.deliveries.wake()

    def remove_repo_data(self, repo_id: str) -> None:
        shutil.rmtree(self.repo_path(repo_id), ignore_errors=True)
        self.lfs.delete_repo(repo_id)

    def reset(self) -> None:
        """Wipe every repository, key, idempotency record, LFS object, webhook, delivery, fault
        and rate limit.

        The bootstrap key and the secrets stay.
        """
        with self._reset_lock:
            self.store.wipe()
            self.faults.clear()
            self.rate_limiter.configure(None)
            for folder in (self.repos_dir, self.lfs.root):
                if folder.exists():
                    for child in folder.iterdir():
                        if child.is_dir():
                            shutil.rmtree(child, ignore_errors=True)
                        else:
                            child.unlink(missing_ok=True)

    def close(self) -> None:
        self.upstreams.close()
        self._closing.set()
        self._sweeper.join(timeout=5)
        self.deliveries.stop()
        self.store.close()
        os.close(self._data_lock)
