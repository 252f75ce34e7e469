"""Everything one running emulator holds: its data directory, metadata store, git repositories,
LFS objects, secrets, scripted faults and rate limit.

Layout of the data directory::

    meta.sqlite3            repositories, API keys, idempotency records, LFS index
    repos/<repo id>.git     one bare git repository per repository (renames keep the folder)
    lfs/<repo id>/..        LFS objects by oid
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from mesa_emulator.auth import hash_key
from mesa_emulator.cursors import CursorCodec
from mesa_emulator.faults import FaultRegistry, RateLimiter
from mesa_emulator.git_ops import GitRepository
from mesa_emulator.lfs import LfsStorage
from mesa_emulator.store import MetadataStore

__all__ = ["DEFAULT_MAX_BODY_BYTES", "IDEMPOTENCY_TTL_SECONDS", "EmulatorState"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
IDEMPOTENCY_TTL_SECONDS = 24 * 3600.0


class EmulatorState:
    def __init__(
        self,
        data_dir: Path,
        api_key: str,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.repos_dir = self.data_dir / "repos"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self.store = MetadataStore(self.data_dir / "meta.sqlite3")
        secret = self.store.secret()
        self.cursors = CursorCodec(secret)
        self.lfs = LfsStorage(self.data_dir / "lfs", secret)
        self.faults = FaultRegistry()
        self.rate_limiter = RateLimiter()
        self.bootstrap_hash = hash_key(api_key)
        self.max_body_bytes = max_body_bytes
        self.idempotency_ttl = IDEMPOTENCY_TTL_SECONDS
        self._reset_lock = threading.Lock()

    def repo_path(self, repo_id: str) -> Path:
        return self.repos_dir / f"{repo_id}.git"

    def git(self, repo_id: str) -> GitRepository:
        return GitRepository(self.repo_path(repo_id))

    def remove_repo_data(self, repo_id: str) -> None:
        shutil.rmtree(self.repo_path(repo_id), ignore_errors=True)
        self.lfs.delete_repo(repo_id)

    def reset(self) -> None:
        """Wipe every repository, key, idempotency record, LFS object, fault and rate limit.

        The bootstrap key (never stored) and the secrets stay.
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
        self.store.close()
