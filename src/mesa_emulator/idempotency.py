"""What a write holds while it runs under an ``Idempotency-Key``: its claim on the key, the
answer it keeps, and the journal of the git refs it is about to move.

Every write keeps its answer exactly when its effect becomes durable, so a kill -9 at any
instant leaves the key either free (nothing was written) or settled (the answer is kept):

* a write that touches only the metadata store keeps its answer in the same SQLite
  transaction as the write itself;
* a write that moves git refs journals them (old and new target of each) with its answer
  first, moves them, then marks the answer done; at startup a journalled write is settled by
  looking at the refs (:mod:`mesa_emulator.recovery`).

Crash points (``{"crash": ...}`` scripted faults, test-only) end the process here, to test
that promise deterministically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.responses import Response

from mesa_emulator.git.refs import RefUpdate
from mesa_emulator.store import HeldSecret, IdempotentAnswer, StoredAnswer

__all__ = ["IdempotencyClaim", "crash_if", "parse_intent", "stored_answer"]

# The headers of a response kept for idempotent replay (X-Request-Id is per request).
_STORED_HEADERS = ("content-type", "location")
# What ``kill -9`` leaves as the exit status, so a crash point looks like one.
_CRASH_EXIT_STATUS = 137


def stored_answer(response: Response) -> StoredAnswer:
    headers = {k: v for k, v in response.headers.items() if k in _STORED_HEADERS}
    return StoredAnswer(response.status_code, headers, bytes(response.body))


@dataclass(frozen=True)
class IdempotencyClaim:
    """The ``Idempotency-Key`` a running request has claimed (in ``scope``: its API key and
    organization), and the scripted crash point it must stop at, if any."""

    scope: str
    key: str
    crash_at: str | None = None

    def answer(self, response: Response, secret: HeldSecret | None = None) -> IdempotentAnswer:
        return IdempotentAnswer(self.scope, self.key, stored_answer(response), secret)

    def crash_if(self, point: str) -> None:
        crash_if(self.crash_at, point)


def crash_if(crash_at: str | None, point: str) -> None:
    """Stop the process as a ``kill -9`` would if a scripted crash is at ``point``."""
    if crash_at == point:
        os._exit(_CRASH_EXIT_STATUS)


def intent_text(repo_id: str, updates: Sequence[RefUpdate]) -> str:
    return json.dumps(
        {"repo": repo_id, "updates": [[u.branch, u.old, u.new] for u in updates]},
        separators=(",", ":"),
    )


def parse_intent(text: str) -> tuple[str, list[RefUpdate]]:
    """The repository id and the ref updates of a journalled write."""
    data = json.loads(text)
    return str(data["repo"]), [RefUpdate(*update) for update in data["updates"]]
