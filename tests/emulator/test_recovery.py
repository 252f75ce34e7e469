"""Startup recovery of a data folder, case by case: what a killed emulator leaves behind is
made here by hand, then a new `EmulatorState` on the folder settles it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.shared import AUTHOR

from mesa_emulator.git.errors import RefLocked
from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.git.repository import GitRepository
from mesa_emulator.idempotency import intent_text
from mesa_emulator.server import Emulator
from mesa_emulator.state import EmulatorState
from mesa_emulator.store import IdempotentAnswer, MetadataStore, StoredAnswer

API_KEY = "mesa_recovery_tests"
ANSWER = StoredAnswer(200, {"content-type": "application/json"}, b'{"journalled":true}')


@dataclass
class Folder:
    """A data folder holding repository `r`: `main` and `topic` at `base`, then `topic` one
    commit further at `tip`."""

    data: Path
    repo: Path
    repo_id: str
    base: str
    tip: str

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def journal(self, key: str, updates: Sequence[RefUpdate] | None) -> None:
        """Leave an idempotency claim as a killed request would: journalled with `updates`,
        or only claimed (`None`)."""
        store = MetadataStore(self.data / "meta.sqlite3")
        try:
            assert store.idempotency_begin("scope", key, "fp", time.time(), 3600)[0] == "started"
            if updates is not None:
                answer = IdempotentAnswer("scope", key, ANSWER)
                store.journal_ref_move(intent_text(self.repo_id, updates), answer, "jnl_test", [])
        finally:
            store.close()


def _commit(http: httpx.Client, branch: str, path: str) -> str:
    body = {
        "branch": branch,
        "message": path,
        "author": AUTHOR,
        "edits": [{"path": path, "action": "create", "content": path}],
    }
    answer = http.post("/acme/r/commits", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["sha"])


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    data = tmp_path / "data"
    with (
        Emulator(data_dir=data, api_key=API_KEY) as emu,
        httpx.Client(
            base_url=emu.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as http,
    ):
        repo_id = http.post("/acme/repos", json={"name": "r"}).json()["id"]
        base = _commit(http, "main", "base.txt")
        http.post("/acme/r/branches", json={"name": "topic", "head_sha": base})
        tip = _commit(http, "topic", "topic.txt")
    return Folder(data, data / "repos" / f"{repo_id}.git", repo_id, base, tip)


def _recover(folder: Folder) -> EmulatorState:
    return EmulatorState(folder.data, API_KEY)


def test_a_journalled_write_whose_first_ref_moved_is_kept_and_finished(folder: Folder) -> None:
    # A fast-forward merge that deletes `topic`, killed after moving `main` only.
    folder.journal(
        "merge", [RefUpdate("main", folder.base, folder.tip), RefUpdate("topic", folder.tip, None)]
    )
    folder.git("update-ref", "refs/heads/main", folder.tip, folder.base)
    state = _recover(folder)
    try:
        assert (state.recovery.writes_completed, state.recovery.writes_undone) == (1, 0)
        assert folder.git("for-each-ref", "--format=%(refname)") == "refs/heads/main"
        outcome, record = state.store.idempotency_begin("scope", "merge", "fp", time.time(), 60)
        assert record is not None
        assert (outcome, record.status, record.body) == ("replay", 200, ANSWER.body)
    finally:
        state.close()


def test_a_journalled_write_whose_ref_did_not_move_is_forgotten(folder: Folder) -> None:
    folder.journal("commit", [RefUpdate("main", folder.base, folder.tip)])
    folder.journal("claimed only", None)
    state = _recover(folder)
    try:
        recovery = state.recovery
        assert (recovery.writes_completed, recovery.writes_undone, recovery.claims_freed) == (
            0,
            1,
            1,
        )
        assert folder.git("rev-parse", "main") == folder.base
        for key in ("commit", "claimed only"):  # free: the retry makes the write
            assert state.store.idempotency_begin("scope", key, "fp", time.time(), 60)[0] == (
                "started"
            )
    finally:
        state.close()


def test_head_follows_the_recorded_default_branch(folder: Folder) -> None:
    # A repository update killed after its record changed, before HEAD did: here the other
    # way round, HEAD moved by hand.
    folder.git("symbolic-ref", "HEAD", "refs/heads/topic")
    state = _recover(folder)
    try:
        assert state.recovery.heads_restored == [folder.repo_id]
        assert folder.git("symbolic-ref", "HEAD") == "refs/heads/main"
    finally:
        state.close()


def test_a_default_branch_change_stands_when_head_is_locked(folder: Folder) -> None:
    (folder.repo / "HEAD.lock").write_text("")
    with (
        Emulator(data_dir=folder.data, api_key=API_KEY) as emu,
        httpx.Client(
            base_url=emu.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
        ) as http,
    ):
        # The start removed the stale lock; this one is held by "another writer".
        (folder.repo / "HEAD.lock").write_text("")
        answer = http.patch(
            "/acme/r", json={"default_branch": "topic"}, headers={"Idempotency-Key": "k"}
        )
        assert (answer.status_code, answer.json()["default_branch"]) == (200, "topic")
        assert folder.git("symbolic-ref", "HEAD") == "refs/heads/main"
    state = _recover(folder)  # the lock is stale now
    try:
        assert state.recovery.heads_restored == [folder.repo_id]
        assert folder.git("symbolic-ref", "HEAD") == "refs/heads/topic"
    finally:
        state.close()


def test_a_failed_first_move_withdraws_the_journal(folder: Folder) -> None:
    journalled: list[list[RefUpdate]] = []
    repo = GitRepository(folder.repo)
    (folder.repo / "refs" / "heads" / "main.lock").write_text("")
    repo.create_branch("twin", folder.base, lambda updates: journalled.append(list(updates)))
    with pytest.raises(RefLocked):
        repo.delete_branch("main", lambda updates: journalled.append(list(updates)))
    assert journalled == [
        [RefUpdate("twin", None, folder.base)],  # made: its journal stands
        [RefUpdate("main", folder.base, None)],
        [],  # main was locked: nothing moved
    ]


def test_an_older_data_folder_gains_the_new_columns_and_keeps_its_answers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "meta.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE idempotency (
            scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
            state TEXT NOT NULL, status INTEGER, headers TEXT, body BLOB,
            created_at REAL NOT NULL, PRIMARY KEY (scope, key)
        );
        """
    )
    db.execute(
        "INSERT INTO idempotency VALUES ('s', 'k', 'fp', 'done', 201, ?, X'7B7D', ?)",
        (json.dumps({"content-type": "application/json"}), time.time()),
    )
    db.commit()
    db.close()
    store = MetadataStore(path)
    try:
        outcome, record = store.idempotency_begin("s", "k", "fp", time.time(), 3600)
        assert record is not None
        assert (outcome, record.status, record.body) == ("replay", 201, b"{}")
    finally:
        store.close()
