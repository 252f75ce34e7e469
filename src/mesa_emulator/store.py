"""The emulator's metadata: organizations, repositories and their upstreams, API keys,
idempotency records, the LFS index, webhooks and their deliveries.

One SQLite database (stdlib ``sqlite3``, WAL journal) under the data directory.  A single
connection is shared by every thread behind a lock: each method is one short transaction, so
the lock is held for microseconds and requests never see a half-made change.

Crash safety: a committed transaction is in the WAL file before the call returns, so it
outlives the process (kill -9); ``synchronous=NORMAL`` does not fsync it, so power loss may
undo the last ones (git's own writes are not fsynced either; ``docs/reliability.md`` says
what making both durable would cost).  A write that touches only this database keeps its
idempotent answer in the same transaction (``answer=``); a write that moves a git ref
journals its intent and answer first (:meth:`MetadataStore.idempotency_prepare`) and is
settled against git at startup.  The webhook deliveries of a ref move are journalled in the
same transaction as that intent (state ``prepared``), released to the delivery worker
(``pending``) once the refs moved, and settled the same way at startup.
``secure_delete`` zeroes what a redaction overwrites, and the WAL is truncated after one, so a
key's secret leaves the disk when its replay window closes.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

__all__ = [
    "ApiKeyRecord",
    "DeliveryRecord",
    "DeliveryState",
    "HeldSecret",
    "IdempotencyRecord",
    "IdempotentAnswer",
    "MetadataStore",
    "PreparedWrite",
    "RepoNameTaken",
    "RepoRecord",
    "StoredAnswer",
    "UpstreamRecord",
    "WebhookRecord",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS repos (
    id             TEXT PRIMARY KEY,
    org            TEXT NOT NULL,
    name           TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (org, name)
);
CREATE TABLE IF NOT EXISTS api_keys (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    org          TEXT NOT NULL,
    name         TEXT,
    key_hash     TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_org ON api_keys (org, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL,
    status      INTEGER,
    headers     TEXT,
    body        BLOB,
    created_at  REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS orgs (
    slug       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS upstreams (
    repo_id           TEXT PRIMARY KEY,
    uri               TEXT NOT NULL,
    autosync_period   INTEGER,
    token             TEXT,
    token_username    TEXT NOT NULL,
    credential_host   TEXT,
    generation        INTEGER NOT NULL,
    state             TEXT NOT NULL,
    last_sync_attempt TEXT,
    last_sync_success TEXT,
    last_sync_error   TEXT
);
CREATE TABLE IF NOT EXISTS lfs_objects (
    repo_id    TEXT NOT NULL,
    oid        TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (repo_id, oid)
);
CREATE TABLE IF NOT EXISTS webhooks (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    repo_id    TEXT NOT NULL,
    url        TEXT NOT NULL,
    events     TEXT NOT NULL,
    branches   TEXT,
    globs      TEXT,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_repo ON webhooks (repo_id, seq);
CREATE TABLE IF NOT EXISTS deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    webhook_id      TEXT NOT NULL,
    repo_id         TEXT NOT NULL,
    event           TEXT NOT NULL,
    body            BLOB NOT NULL,
    state           TEXT NOT NULL,
    journal_id      TEXT,
    intent          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    response_status INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_journal ON deliveries (journal_id)
    WHERE journal_id IS NOT NULL;
"""


# Idempotency columns added since the first schema (ALTER TABLE on an older data folder):
# ``intent`` the ref updates of a ``prepared`` write; ``secret_of`` the API key whose secret
# the stored body holds until ``secret_until``, after which ``expired_status``/``expired_body``
# replace it.
_IDEMPOTENCY_ADDED_COLUMNS = {
    "intent": "TEXT",
    "secret_of": "TEXT",
    "secret_until": "REAL",
    "expired_status": "INTEGER",
    "expired_body": "BLOB",
}
_JSON_HEADERS = json.dumps({"content-type": "application/json"})


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class RepoNameTaken(Exception):
    """The organization already has a repository of that name."""


@dataclass(frozen=True)
class RepoRecord:
    id: str
    org: str
    name: str
    default_branch: str
    created_at: datetime


SyncState = Literal["syncing", "ok", "error"]


@dataclass(frozen=True)
class UpstreamRecord:
    """A repository's upstream.  ``token`` is kept to fetch with and never answered;
    ``generation`` changes whenever the upstream is replaced, so that a sync of the old one
    does not report on the new one."""

    repo_id: str
    uri: str
    autosync_period: int | None
    token: str | None = dataclasses.field(repr=False)
    token_username: str
    credential_host: str | None
    generation: int
    state: SyncState
    last_sync_attempt: datetime | None
    last_sync_success: datetime | None
    last_sync_error: str | None


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    org: str
    name: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    repo_id: str
    url: str
    events: tuple[str, ...]
    branches: tuple[str, ...] | None
    globs: tuple[str, ...] | None
    secret: str
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:  # the secret stays out of logs
        return f"WebhookRecord(id={self.id!r}, repo_id={self.repo_id!r}, url={self.url!r})"


# ``prepared``: journalled with a ref move that may not have happened yet; ``pending``: to
# deliver (again) at ``next_attempt_at``; ``delivered``: a 2xx answered; ``failed``: gave up.
DeliveryState = Literal["prepared", "pending", "delivered", "failed"]


@dataclass(frozen=True)
class DeliveryRecord:
    id: str
    webhook_id: str
    repo_id: str
    event: str
    body: bytes
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    response_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    state: Literal["running", "done"]
    status: int | None
    headers: dict[str, str]
    body: bytes


IdempotencyOutcome = Literal["started", "running", "mismatch", "replay"]


@dataclass(frozen=True)
class StoredAnswer:
    """A response as kept for replay."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HeldSecret:
    """An answer that holds the secret of API key ``key_id``: kept until ``until`` (epoch
    seconds) or the key's revocation, then replaced by ``then``."""

    key_id: str
    until: float
    then: StoredAnswer


@dataclass(frozen=True)
class IdempotentAnswer:
    """The answer of the request that claimed ``key`` in ``scope``."""

    scope: str
    key: str
    answer: StoredAnswer
    secret: HeldSecret | None = None


@dataclass(frozen=True)
class PreparedWrite:
    """A write that journalled its intent (``prepared``) and may or may not have happened."""

    scope: str
    key: str
    intent: str


class MetadataStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        present = {str(row[1]) for row in self._db.execute("PRAGMA table_info(idempotency)")}
        for column, kind in _IDEMPOTENCY_ADDED_COLUMNS.items():
            if column not in present:
                self._db.execute(f"ALTER TABLE idempotency ADD COLUMN {column} {kind}")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS idempotency_secrets ON idempotency (secret_until) "
            "WHERE secret_until IS NOT NULL"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, params).rowcount

    # ---- settings -----------------------------------------------------------------------

    def secret(self) -> bytes:
        """The HMAC secret of cursors and LFS URLs, made once and kept with the data."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM settings WHERE name = 'secret'").fetchone()
            if row is not None:
                return bytes.fromhex(str(row[0]))
            value = secrets.token_bytes(32)
            db.execute("INSERT INTO settings (name, value) VALUES ('secret', ?)", (value.hex(),))
            return value

    # ---- repositories -------------------------------------------------------------------

    @staticmethod
    def _repo(row: tuple[object, ...]) -> RepoRecord:
        created = _parse(str(row[4]))
        assert created is not None
        return RepoRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), created)

    _REPO_COLUMNS = "id, org, name, default_branch, created_at"

    def insert_repo(
        self,
        record: RepoRecord,
        answer: IdempotentAnswer | None = None,
        upstream: UpstreamRecord | None = None,
    ) -> None:
        """Insert ``record`` (and its upstream, whose sync is then due), in one transaction."""
        try:
            with self._transaction() as db:
                db.execute(
                    f"INSERT INTO repos ({self._REPO_COLUMNS}) VALUES (?, ?, ?, ?, ?)",  # noqa: S608
                    (
                        record.id,
                        record.org,
                        record.name,
                        record.default_branch,
                        _iso(record.created_at),
                    ),
                )
                self._note_org(db, record.org, record.created_at)
                if upstream is not None:
                    self._put_upstream(db, upstream)
                self._record(db, answer)
        except sqlite3.IntegrityError as exc:
            raise RepoNameTaken(record.name) from exc

    def repo_ids(self) -> set[str]:
        return {str(row[0]) for row in self._query("SELECT id FROM repos")}

    def default_branches(self) -> dict[str, str]:
        """Every repository's id and default branch."""
        return {str(r[0]): str(r[1]) for r in self._query("SELECT id, default_branch FROM repos")}

    def get_repo(self, org: str, name: str) -> RepoRecord | None:
        rows = self._query(
            f"SELECT {self._REPO_COLUMNS} FROM repos WHERE org = ? AND name = ?",  # noqa: S608
            (org, name),
        )
        return self._repo(rows[0]) if rows else None

    def get_repo_by_id(self, repo_id: str) -> RepoRecord | None:
        rows = self._query(
            f"SELECT {self._REPO_COLUMNS} FROM repos WHERE id = ?",  # noqa: S608
            (repo_id,),
        )
        return self._repo(rows[0]) if rows else None

    def list_repos(self, org: str, after: str | None, limit: int) -> list[RepoRecord]:
        """Up to ``limit`` repositories named after ``after``, ordered by name (bytewise)."""
        rows = self._query(
            f"SELECT {self._REPO_COLUMNS} FROM repos "  # noqa: S608
            "WHERE org = ? AND name > ? ORDER BY name LIMIT ?",
            (org, after if after is not None else "", limit),
        )
        return [self._repo(row) for row in rows]

    def update_repo(
        self,
        repo_id: str,
        *,
        name: str | None = None,
        default_branch: str | None = None,
        answer: IdempotentAnswer | None = None,
        replace_upstream: bool = False,
        upstream: UpstreamRecord | None = None,
    ) -> RepoRecord | None:
        """Rename, change the default branch and (``replace_upstream``) set the upstream, in
        one transaction; None if there is no such repository."""
        try:
            with self._transaction() as db:
                if name is not None:
                    db.execute("UPDATE repos SET name = ? WHERE id = ?", (name, repo_id))
                if default_branch is not None:
                    db.execute(
                        "UPDATE repos SET default_branch = ? WHERE id = ?",
                        (default_branch, repo_id),
                    )
                row = db.execute(
                    f"SELECT {self._REPO_COLUMNS} FROM repos WHERE id = ?",  # noqa: S608
                    (repo_id,),
                ).fetchone()
                if row is not None:
                    if replace_upstream:
                        self._replace_upstream(db, repo_id, upstream)
                    self._record(db, answer)
        except sqlite3.IntegrityError as exc:
            raise RepoNameTaken(name or "") from exc
        return self._repo(row) if row is not None else None

    def delete_repo(self, repo_id: str, answer: IdempotentAnswer | None = None) -> bool:
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM repos WHERE id = ?", (repo_id,)).rowcount
            db.execute("DELETE FROM upstreams WHERE repo_id = ?", (repo_id,))
            db.execute("DELETE FROM lfs_objects WHERE repo_id = ?", (repo_id,))
            db.execute("DELETE FROM webhooks WHERE repo_id = ?", (repo_id,))
            db.execute(
                "DELETE FROM deliveries WHERE repo_id = ? AND state IN ('prepared', 'pending')",
                (repo_id,),
            )
            if deleted:
                self._record(db, answer)
        return deleted > 0

    # ---- organizations ------------------------------------------------------------------

    @staticmethod
    def _note_org(db: sqlite3.Connection, org: str, when: datetime) -> None:
        db.execute("INSERT OR IGNORE INTO orgs (slug, created_at) VALUES (?, ?)", (org, _iso(when)))

    def org_summary(self, org: str, now: datetime) -> tuple[datetime, int]:
        """When ``org`` was first used, and how many repositories it has.  An organization
        first seen here (or kept by a data folder older than this table) is dated by its
        oldest repository or key, else ``now``."""
        with self._transaction() as db:
            row = db.execute("SELECT created_at FROM orgs WHERE slug = ?", (org,)).fetchone()
            if row is None:
                oldest = db.execute(
                    "SELECT MIN(created_at) FROM (SELECT created_at FROM repos WHERE org = ? "
                    "UNION ALL SELECT created_at FROM api_keys WHERE org = ?)",
                    (org, org),
                ).fetchone()
                found = _parse(None if oldest[0] is None else str(oldest[0]))
                first = min(found, now) if found is not None else now
                self._note_org(db, org, first)
            else:
                first = _parse(str(row[0])) or now
            count = db.execute("SELECT COUNT(*) FROM repos WHERE org = ?", (org,)).fetchone()
        return first, int(count[0])

    # ---- upstreams ----------------------------------------------------------------------

    _UPSTREAM_COLUMNS = (
        "repo_id, uri, autosync_period, token, token_username, credential_host, generation, "
        "state, last_sync_attempt, last_sync_success, last_sync_error"
    )

    @staticmethod
    def _upstream(row: tuple[object, ...]) -> UpstreamRecord:
        def text(value: object) -> str | None:
            return None if value is None else str(value)

        state = str(row[7])
        return UpstreamRecord(
            repo_id=str(row[0]),
            uri=str(row[1]),
            autosync_period=None if row[2] is None else int(str(row[2])),
            token=text(row[3]),
            token_username=str(row[4]),
            credential_host=text(row[5]),
            generation=int(str(row[6])),
            state="ok" if state == "ok" else "error" if state == "error" else "syncing",
            last_sync_attempt=_parse(text(row[8])),
            last_sync_success=_parse(text(row[9])),
            last_sync_error=text(row[10]),
        )

    def _put_upstream(self, db: sqlite3.Connection, upstream: UpstreamRecord) -> None:
        db.execute(
            f"INSERT OR REPLACE INTO upstreams ({self._UPSTREAM_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                upstream.repo_id,
                upstream.uri,
                upstream.autosync_period,
                upstream.token,
                upstream.token_username,
                upstream.credential_host,
                upstream.generation,
                upstream.state,
                None if upstream.last_sync_attempt is None else _iso(upstream.last_sync_attempt),
                None if upstream.last_sync_success is None else _iso(upstream.last_sync_success),
                upstream.last_sync_error,
            ),
        )

    def get_upstream(self, repo_id: str) -> UpstreamRecord | None:
        rows = self._query(
            f"SELECT {self._UPSTREAM_COLUMNS} FROM upstreams WHERE repo_id = ?",  # noqa: S608
            (repo_id,),
        )
        return self._upstream(rows[0]) if rows else None

    def upstreams(self) -> list[UpstreamRecord]:
        rows = self._query(
            f"SELECT {self._UPSTREAM_COLUMNS} FROM upstreams ORDER BY repo_id"  # noqa: S608
        )
        return [self._upstream(row) for row in rows]

    def _replace_upstream(
        self, db: sqlite3.Connection, repo_id: str, upstream: UpstreamRecord | None
    ) -> None:
        if upstream is None:
            db.execute("DELETE FROM upstreams WHERE repo_id = ?", (repo_id,))
        else:
            self._put_upstream(db, upstream)

    def sync_started(self, repo_id: str, generation: int, when: datetime) -> bool:
        """Mark a sync of upstream ``generation`` as running; False if it was replaced."""
        return (
            self._execute(
                "UPDATE upstreams SET state = 'syncing', last_sync_attempt = ? "
                "WHERE repo_id = ? AND generation = ?",
                (_iso(when), repo_id, generation),
            )
            > 0
        )

    def sync_ended(self, repo_id: str, generation: int, when: datetime, error: str | None) -> None:
        """Record how a sync of upstream ``generation`` ended (``error`` None: it succeeded);
        nothing if the upstream was replaced or removed meanwhile."""
        if error is None:
            self._execute(
                "UPDATE upstreams SET state = 'ok', last_sync_success = ?, last_sync_error = NULL "
                "WHERE repo_id = ? AND generation = ?",
                (_iso(when), repo_id, generation),
            )
        else:
            self._execute(
                "UPDATE upstreams SET state = 'error', last_sync_error = ? "
                "WHERE repo_id = ? AND generation = ?",
                (error, repo_id, generation),
            )

    # ---- API keys -----------------------------------------------------------------------

    _KEY_COLUMNS = "id, org, name, scopes, created_at, last_used_at, revoked_at"

    @staticmethod
    def _key(row: tuple[object, ...]) -> ApiKeyRecord:
        created = _parse(str(row[4]))
        assert created is not None
        return ApiKeyRecord(
            id=str(row[0]),
            org=str(row[1]),
            name=None if row[2] is None else str(row[2]),
            scopes=tuple(json.loads(str(row[3]))),
            created_at=created,
            last_used_at=_parse(None if row[5] is None else str(row[5])),
            revoked_at=_parse(None if row[6] is None else str(row[6])),
        )

    def insert_key(
        self, record: ApiKeyRecord, key_hash: str, answer: IdempotentAnswer | None = None
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO api_keys (id, org, name, key_hash, scopes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.org,
                    record.name,
                    key_hash,
                    json.dumps(list(record.scopes)),
                    _iso(record.created_at),
                ),
            )
            self._record(db, answer)

    def find_key(self, key_hash: str) -> ApiKeyRecord | None:
        rows = self._query(
            f"SELECT {self._KEY_COLUMNS} FROM api_keys WHERE key_hash = ?",  # noqa: S608
            (key_hash,),
        )
        return self._key(rows[0]) if rows else None

    def list_keys(self, org: str) -> list[ApiKeyRecord]:
        rows = self._query(
            f"SELECT {self._KEY_COLUMNS} FROM api_keys WHERE org = ? ORDER BY seq",  # noqa: S608
            (org,),
        )
        return [self._key(row) for row in rows]

    def revoke_key(
        self, org: str, key_id: str, when: datetime, answer: IdempotentAnswer | None = None
    ) -> ApiKeyRecord | None:
        """Revoke a key of ``org`` (a no-op if already revoked); None if there is none.

        A kept answer that still holds the key's secret loses it in the same transaction."""
        redacted = 0
        with self._transaction() as db:
            db.execute(
                "UPDATE api_keys SET revoked_at = ? "
                "WHERE org = ? AND id = ? AND revoked_at IS NULL",
                (_iso(when), org, key_id),
            )
            row = db.execute(
                f"SELECT {self._KEY_COLUMNS} FROM api_keys WHERE org = ? AND id = ?",  # noqa: S608
                (org, key_id),
            ).fetchone()
            if row is not None:
                redacted = self._redact(db, "secret_of = ?", (key_id,))
                self._record(db, answer)
        if row is None:
            return None
        if redacted:
            self._truncate_wal()
        return self._key(row)

    def touch_key(self, key_id: str, when: datetime) -> None:
        self._execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (_iso(when), key_id))

    # ---- idempotency --------------------------------------------------------------------

    def idempotency_begin(
        self, scope: str, key: str, fingerprint: str, now: float, ttl: float
    ) -> tuple[IdempotencyOutcome, IdempotencyRecord | None]:
        """Claim ``key`` for a request, or say why not.

        ``started``: the key is new (or expired) and now marked running for this request.
        ``mismatch``: it was used for a different request.  ``running``: the same request is
        still running.  ``replay``: the same request finished; the record holds its answer.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM idempotency WHERE created_at < ?", (now - ttl,))
            redacted = self._redact(db, "secret_until <= ?", (now,))
            row = db.execute(
                "SELECT fingerprint, state, status, headers, body FROM idempotency "
                "WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO idempotency (scope, key, fingerprint, state, created_at) "
                    "VALUES (?, ?, ?, 'running', ?)",
                    (scope, key, fingerprint, now),
                )
        if redacted:
            self._truncate_wal()
        if row is None:
            return "started", None
        record = IdempotencyRecord(
            fingerprint=str(row[0]),
            state="done" if row[1] == "done" else "running",
            status=None if row[2] is None else int(str(row[2])),
            headers=json.loads(str(row[3])) if row[3] is not None else {},
            body=bytes(row[4]) if isinstance(row[4], (bytes, bytearray, memoryview)) else b"",
        )
        if record.fingerprint != fingerprint:
            return "mismatch", record
        if record.state == "running":
            return "running", record
        return "replay", record

    @staticmethod
    def _record(db: sqlite3.Connection, answer: IdempotentAnswer | None) -> None:
        """Keep ``answer`` for its claim, unless the claim already has one."""
        if answer is None:
            return
        secret = answer.secret
        db.execute(
            "UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ?, "
            "intent = NULL, secret_of = ?, secret_until = ?, expired_status = ?, "
            "expired_body = ? WHERE scope = ? AND key = ? AND state != 'done'",
            (
                answer.answer.status,
                json.dumps(answer.answer.headers),
                answer.answer.body,
                None if secret is None else secret.key_id,
                None if secret is None else secret.until,
                None if secret is None else secret.then.status,
                None if secret is None else secret.then.body,
                answer.scope,
                answer.key,
            ),
        )

    def idempotency_finish(self, answer: IdempotentAnswer) -> None:
        """Keep the answer of a finished request (a no-op if its write already kept one)."""
        with self._transaction() as db:
            self._record(db, answer)

    def journal_ref_move(
        self,
        intent: str,
        answer: IdempotentAnswer | None,
        journal_id: str,
        deliveries: Sequence[tuple[str, str, str, bytes]],
    ) -> None:
        """Journal a write that is about to move git refs, in one transaction: ``intent`` says
        which; ``answer`` is what to answer once they have moved (kept for its
        ``Idempotency-Key``); ``deliveries`` (id, webhook id, event, body) are the webhook
        deliveries the move makes, ``prepared`` under ``journal_id`` until
        :meth:`release_deliveries`.  In the WAL when this returns."""
        with self._transaction() as db:
            if answer is not None:
                db.execute(
                    "UPDATE idempotency SET state = 'prepared', intent = ?, status = ?, "
                    "headers = ?, body = ? WHERE scope = ? AND key = ? AND state = 'running'",
                    (
                        intent,
                        answer.answer.status,
                        json.dumps(answer.answer.headers),
                        answer.answer.body,
                        answer.scope,
                        answer.key,
                    ),
                )
            self._add_deliveries(db, deliveries, "prepared", journal_id, intent)

    def withdraw_ref_move(self, claim: tuple[str, str] | None, journal_id: str) -> None:
        """The journalled write moved no ref after all: its claim (scope, key) is ``running``
        again and its deliveries are dropped."""
        with self._transaction() as db:
            if claim is not None:
                db.execute(
                    "UPDATE idempotency SET state = 'running', intent = NULL, status = NULL, "
                    "headers = NULL, body = NULL "
                    "WHERE scope = ? AND key = ? AND state = 'prepared'",
                    claim,
                )
            db.execute(
                "DELETE FROM deliveries WHERE journal_id = ? AND state = 'prepared'",
                (journal_id,),
            )

    def idempotency_abandon(self, scope: str, key: str) -> None:
        """Free a claim whose request ended without an answer to keep.  An answer its write
        kept in its own transaction stays: that write happened."""
        self._execute(
            "DELETE FROM idempotency WHERE scope = ? AND key = ? AND state != 'done'",
            (scope, key),
        )

    def prepared_writes(self) -> list[PreparedWrite]:
        rows = self._query(
            "SELECT scope, key, intent FROM idempotency WHERE state = 'prepared' "
            "ORDER BY created_at"
        )
        return [PreparedWrite(str(row[0]), str(row[1]), str(row[2])) for row in rows]

    def settle_prepared(self, write: PreparedWrite, happened: bool) -> None:
        """After a restart: keep the journalled answer of a write that happened, forget one
        that did not (its retry then makes it, once)."""
        if happened:
            self._execute(
                "UPDATE idempotency SET state = 'done', intent = NULL "
                "WHERE scope = ? AND key = ? AND state = 'prepared'",
                (write.scope, write.key),
            )
        else:
            self.idempotency_abandon(write.scope, write.key)

    def forget_running(self) -> int:
        """After a restart: a request still ``running`` never wrote (a write journals its
        intent, or keeps its answer in its own transaction), so its key is free again."""
        return self._execute("DELETE FROM idempotency WHERE state = 'running'")

    @staticmethod
    def _redact(db: sqlite3.Connection, where: str, params: tuple[object, ...]) -> int:
        """Replace the kept answers that hold a key's secret (rows matching ``where``) by
        their answer without it."""
        return int(
            db.execute(
                "UPDATE idempotency SET status = expired_status, body = expired_body, "  # noqa: S608
                f"headers = ?, secret_of = NULL, secret_until = NULL, expired_status = NULL, "
                f"expired_body = NULL WHERE secret_of IS NOT NULL AND {where}",
                (_JSON_HEADERS, *params),
            ).rowcount
        )

    def _truncate_wal(self) -> None:
        """Empty the WAL, where the overwritten page (with a secret) may still lie."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def redact_expired_secrets(self, now: float) -> None:
        """Drop every kept key secret whose replay window has closed."""
        try:
            with self._transaction() as db:
                redacted = self._redact(db, "secret_until <= ?", (now,))
            if redacted:
                self._truncate_wal()
        except sqlite3.ProgrammingError:  # closed meanwhile: the next start redacts it
            return

    # ---- LFS ----------------------------------------------------------------------------

    def lfs_size(self, repo_id: str, oid: str) -> int | None:
        rows = self._query(
            "SELECT size FROM lfs_objects WHERE repo_id = ? AND oid = ?", (repo_id, oid)
        )
        return int(str(rows[0][0])) if rows else None

    def lfs_add(self, repo_id: str, oid: str, size: int) -> None:
        self._execute(
            "INSERT OR REPLACE INTO lfs_objects (repo_id, oid, size, created_at) "
            "VALUES (?, ?, ?, ?)",
            (repo_id, oid, size, _iso(utc_now())),
        )

    # ---- webhooks -----------------------------------------------------------------------

    _WEBHOOK_COLUMNS = "id, repo_id, url, events, branches, globs, secret, created_at, updated_at"

    @staticmethod
    def _webhook(row: tuple[object, ...]) -> WebhookRecord:
        def names(value: object) -> tuple[str, ...] | None:
            return None if value is None else tuple(json.loads(str(value)))

        created, updated = _parse(str(row[7])), _parse(str(row[8]))
        assert created is not None and updated is not None
        return WebhookRecord(
            id=str(row[0]),
            repo_id=str(row[1]),
            url=str(row[2]),
            events=tuple(json.loads(str(row[3]))),
            branches=names(row[4]),
            globs=names(row[5]),
            secret=str(row[6]),
            created_at=created,
            updated_at=updated,
        )

    def insert_webhook(self, record: WebhookRecord, answer: IdempotentAnswer | None) -> None:
        def names(value: tuple[str, ...] | None) -> str | None:
            return None if value is None else json.dumps(list(value))

        with self._transaction() as db:
            db.execute(
                f"INSERT INTO webhooks ({self._WEBHOOK_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.repo_id,
                    record.url,
                    json.dumps(list(record.events)),
                    names(record.branches),
                    names(record.globs),
                    record.secret,
                    _iso(record.created_at),
                    _iso(record.updated_at),
                ),
            )
            self._record(db, answer)

    def list_webhooks(self, repo_id: str) -> list[WebhookRecord]:
        """The repository's webhooks, oldest first."""
        rows = self._query(
            f"SELECT {self._WEBHOOK_COLUMNS} FROM webhooks "  # noqa: S608
            "WHERE repo_id = ? ORDER BY seq",
            (repo_id,),
        )
        return [self._webhook(row) for row in rows]

    def get_webhook(self, webhook_id: str) -> WebhookRecord | None:
        rows = self._query(
            f"SELECT {self._WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?",  # noqa: S608
            (webhook_id,),
        )
        return self._webhook(rows[0]) if rows else None

    def delete_webhook(
        self, repo_id: str, webhook_id: str, answer: IdempotentAnswer | None
    ) -> bool:
        """Delete a webhook of ``repo_id`` and the deliveries not yet made to it."""
        with self._transaction() as db:
            deleted = db.execute(
                "DELETE FROM webhooks WHERE repo_id = ? AND id = ?", (repo_id, webhook_id)
            ).rowcount
            if deleted:
                db.execute(
                    "DELETE FROM deliveries WHERE webhook_id = ? "
                    "AND state IN ('prepared', 'pending')",
                    (webhook_id,),
                )
                self._record(db, answer)
        return deleted > 0

    # ---- webhook deliveries -------------------------------------------------------------

    _DELIVERY_COLUMNS = (
        "id, webhook_id, repo_id, event, body, state, attempts, next_attempt_at, "
        "response_status, last_error, created_at, delivered_at"
    )

    @staticmethod
    def _delivery(row: tuple[object, ...]) -> DeliveryRecord:
        created = _parse(str(row[10]))
        assert created is not None
        body = row[4]
        return DeliveryRecord(
            id=str(row[0]),
            webhook_id=str(row[1]),
            repo_id=str(row[2]),
            event=str(row[3]),
            body=bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else b"",
            state=str(row[5]),  # type: ignore[arg-type]
            attempts=int(str(row[6])),
            next_attempt_at=float(str(row[7])),
            response_status=None if row[8] is None else int(str(row[8])),
            last_error=None if row[9] is None else str(row[9]),
            created_at=created,
            delivered_at=_parse(None if row[11] is None else str(row[11])),
        )

    @staticmethod
    def _add_deliveries(
        db: sqlite3.Connection,
        deliveries: Sequence[tuple[str, str, str, bytes]],
        state: DeliveryState,
        journal_id: str | None,
        intent: str | None,
    ) -> None:
        now = utc_now()
        for delivery_id, webhook_id, event, body in deliveries:
            db.execute(
                "INSERT INTO deliveries (id, webhook_id, repo_id, event, body, state, "
                "journal_id, intent, next_attempt_at, created_at) "
                "SELECT ?, id, repo_id, ?, ?, ?, ?, ?, 0, ? FROM webhooks WHERE id = ?",
                (delivery_id, event, body, state, journal_id, intent, _iso(now), webhook_id),
            )

    def add_deliveries(self, deliveries: Sequence[tuple[str, str, str, bytes]]) -> None:
        """Queue deliveries (id, webhook id, event, body) of a ref move already made."""
        with self._transaction() as db:
            self._add_deliveries(db, deliveries, "pending", None, None)

    def release_deliveries(self, journal_id: str) -> int:
        """The journalled refs moved: hand their deliveries to the worker."""
        return self._execute(
            "UPDATE deliveries SET state = 'pending', journal_id = NULL, intent = NULL "
            "WHERE journal_id = ? AND state = 'prepared'",
            (journal_id,),
        )

    def prepared_delivery_journals(self) -> list[tuple[str, str]]:
        """(journal id, intent) of every ref move whose deliveries are still ``prepared``."""
        rows = self._query(
            "SELECT journal_id, intent FROM deliveries WHERE state = 'prepared' "
            "GROUP BY journal_id ORDER BY MIN(seq)"
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    def drop_prepared_deliveries(self, journal_id: str) -> int:
        return self._execute(
            "DELETE FROM deliveries WHERE journal_id = ? AND state = 'prepared'", (journal_id,)
        )

    def due_deliveries(
        self, now: float, limit: int, skip_webhooks: Collection[str] = ()
    ) -> list[DeliveryRecord]:
        """The oldest due ``pending`` delivery of each webhook not in ``skip_webhooks``, at
        most ``limit`` of them, the longest due first."""
        skip = tuple(skip_webhooks)
        holes = ", ".join("?" * len(skip))
        # SQLite fills the bare columns of a MIN() aggregate from the row holding the minimum.
        rows = self._query(
            f"SELECT {self._DELIVERY_COLUMNS}, MIN(seq) FROM deliveries "  # noqa: S608
            f"WHERE state = 'pending' AND next_attempt_at <= ? AND webhook_id NOT IN ({holes}) "
            "GROUP BY webhook_id ORDER BY next_attempt_at, seq LIMIT ?",
            (now, *skip, limit),
        )
        return [self._delivery(row) for row in rows]

    def next_delivery_time(self, skip_webhooks: Collection[str] = ()) -> float | None:
        """When the next ``pending`` delivery of a webhook not in ``skip_webhooks`` is due."""
        skip = tuple(skip_webhooks)
        holes = ", ".join("?" * len(skip))
        rows = self._query(
            "SELECT MIN(next_attempt_at) FROM deliveries "  # noqa: S608
            f"WHERE state = 'pending' AND webhook_id NOT IN ({holes})",
            skip,
        )
        return None if not rows or rows[0][0] is None else float(str(rows[0][0]))

    def delivery_attempted(
        self,
        delivery_id: str,
        *,
        state: DeliveryState,
        next_attempt_at: float,
        response_status: int | None,
        error: str | None,
    ) -> None:
        """Count one attempt at a ``pending`` delivery and what it got (``error`` None keeps
        the last error: a delivery that succeeded on a retry still shows why it was retried)."""
        delivered = _iso(utc_now()) if state == "delivered" else None
        self._execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?, "
            "response_status = ?, last_error = COALESCE(?, last_error), delivered_at = ? "
            "WHERE id = ? AND state = 'pending'",
            (state, next_attempt_at, response_status, error, delivered, delivery_id),
        )

    def list_deliveries(self) -> list[DeliveryRecord]:
        """Every delivery kept, oldest first."""
        rows = self._query(
            f"SELECT {self._DELIVERY_COLUMNS} FROM deliveries ORDER BY seq"  # noqa: S608
        )
        return [self._delivery(row) for row in rows]

    # ---- reset --------------------------------------------------------------------------

    def wipe(self) -> None:
        """Forget every repository, key, idempotency record, LFS object, webhook and delivery
        (keep settings)."""
        with self._transaction() as db:
            for table in (
                "orgs",
                "repos",
                "upstreams",
                "api_keys",
                "idempotency",
                "lfs_objects",
                "webhooks",
                "deliveries",
            ):
                db.execute(f"DELETE FROM {table}")  # noqa: S608
