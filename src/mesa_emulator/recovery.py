"""Startup recovery: bring a data folder back to a consistent state after a crash.

The emulator is the only writer of its data folder (an exclusive lock on it says so, see
:class:`mesa_emulator.state.EmulatorState`), so at startup nothing is half-way through a write
any more and whatever a killed process left can be settled from what is on disk:

* lock and temporary files in a repository (a killed push's quarantine too) are stale:
  removed;
* a repository folder (or LFS folder) without a record is a create that never committed or a
  delete that committed: removed;
* a repository's HEAD follows its record's default branch;
* a journalled ref-moving write (idempotency state ``prepared``) happened if its first ref is
  no longer at its old target: its journalled answer is kept, and any later ref of the same
  write is moved too; otherwise the journal is dropped so the retry makes the write, once;
* webhook deliveries journalled with a ref move (an API write's, or one branch update of a
  ``git push``; state ``prepared``) are handed to the delivery worker if that move happened
  (same test as above), dropped otherwise;
* a request still ``running`` wrote nothing: its ``Idempotency-Key`` is freed;
* a key secret whose replay window closed while the emulator was down is dropped.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mesa_emulator.git.refs import RefUpdate, remove_stale_locks
from mesa_emulator.idempotency import parse_intent
from mesa_emulator.push_gate import remove_push_leftovers

if TYPE_CHECKING:
    from mesa_emulator.state import EmulatorState

__all__ = ["Recovery", "recover"]

logger = logging.getLogger("mesa_emulator")


@dataclass
class Recovery:
    """What one startup found and did (every list holds repository ids or relative paths)."""

    stale_locks: list[str] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    heads_restored: list[str] = field(default_factory=list)
    writes_completed: int = 0
    writes_undone: int = 0
    claims_freed: int = 0
    deliveries_released: int = 0

    def __bool__(self) -> bool:
        return any(
            (
                self.stale_locks,
                self.orphans_removed,
                self.heads_restored,
                self.writes_completed,
                self.writes_undone,
                self.claims_freed,
                self.deliveries_released,
            )
        )


def recover(state: EmulatorState) -> Recovery:
    """Settle what a crash left in ``state``'s data folder; call before serving."""
    done = Recovery()
    repo_ids = state.store.repo_ids()
    for folder in sorted(state.repos_dir.iterdir()):
        repo_id = folder.name.removesuffix(".git")
        if folder.is_dir() and folder.name.endswith(".git") and repo_id in repo_ids:
            left = [*remove_stale_locks(folder), *remove_push_leftovers(folder)]
            done.stale_locks += [f"{folder.name}/{name}" for name in left]
        else:
            _remove(folder)
            done.orphans_removed.append(folder.name)
    if state.lfs.root.is_dir():
        for folder in sorted(state.lfs.root.iterdir()):
            if folder.name not in repo_ids:
                _remove(folder)
                done.orphans_removed.append(f"lfs/{folder.name}")
            else:
                shutil.rmtree(folder / "tmp", ignore_errors=True)  # uploads cut short

    for repo_id, branch in state.store.default_branches().items():
        if not state.repo_path(repo_id).is_dir():
            logger.error("repository %s has a record but no folder", repo_id)
            continue
        git = state.git(repo_id)
        if git.default_branch() != branch:
            git.set_default_branch(branch)
            done.heads_restored.append(repo_id)

    for write in state.store.prepared_writes():
        repo_id, updates = parse_intent(write.intent)
        happened = _settle(state, repo_id, updates)
        state.store.settle_prepared(write, happened)
        if happened:
            done.writes_completed += 1
        else:
            done.writes_undone += 1
    for journal_id, intent in state.store.prepared_delivery_journals():
        repo_id, updates = parse_intent(intent)
        if _has_moved(state, repo_id, updates):
            done.deliveries_released += state.store.release_deliveries(journal_id)
        else:
            state.store.drop_prepared_deliveries(journal_id)
    done.claims_freed = state.store.forget_running()
    state.store.redact_expired_secrets(time.time())
    if done:
        logger.warning("recovered from an unclean stop: %s", done)
    return done


def _settle(state: EmulatorState, repo_id: str, updates: list[RefUpdate]) -> bool:
    """Whether a journalled write happened; if it did, finish it."""
    if repo_id not in state.store.repo_ids() or not state.repo_path(repo_id).is_dir():
        # Deleted by a later, acknowledged request: the write came before it, so it happened.
        return True
    git = state.git(repo_id)
    if not updates or not git.has_moved(updates[0]):
        return False
    for update in updates[1:]:
        git.finish_update(update)
    return True


def _has_moved(state: EmulatorState, repo_id: str, updates: list[RefUpdate]) -> bool:
    """Whether the first of a journalled write's ref updates happened (a deleted repository's
    deliveries went with it)."""
    if repo_id not in state.store.repo_ids() or not state.repo_path(repo_id).is_dir():
        return False
    return bool(updates) and state.git(repo_id).has_moved(updates[0])


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
