"""Schemathesis against the emulator: every operation of ``openapi.yaml`` fuzzed over loopback,
each response checked against the contract.

Two runs per operation:

* ``test_fuzzed``: every parameter generated (most requests name missing organizations or
  repositories, or are malformed: the error answers are checked);
* ``test_on_seeded_repo``: ``org``, ``repo``, ``sha``, ``base`` and ``branch`` fixed to a
  repository seeded before each operation's test, so bodies and query parameters meet real
  data and the success answers are checked too.

Checks: no 5xx (``not_a_server_error``), the status is documented
(``status_code_conformance``), the ``Content-Type`` is documented (``content_type_conformance``),
the body matches the response schema (``response_schema_conformance``), the documented headers
match theirs (``response_headers_conformance``), and a request breaking the schema is refused with
a 4xx (``negative_data_rejection``).  ``positive_data_acceptance`` is not used: a schema-valid
request is often rightly refused (422 ``IDEMPOTENCY_KEY_REUSED``, 409 ``PATH_EXISTS``...).

Deterministic: a fixed seed, ``deterministic`` generation (Hypothesis ``derandomize``), no example
database, and the emulator wiped and seeded the same way before each operation.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.shared import AUTHOR as SHARED_AUTHOR

from mesa_emulator.server import Emulator

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
API_KEY = "mesa_schemathesis-bootstrap-key-0000000000000"
MAX_EXAMPLES = 12
SEED = 20240601

ORG, REPO = "my-org", "my-repo"
AUTHOR = {**SHARED_AUTHOR, "date": "2024-01-02T03:04:05Z"}  # a fixed date: a fixed sha
# The seeded main head: fixed content and dates make the commit sha fixed (checked by `seeded`).
SEEDED_MAIN = "9a7f8333931495de5a29650cc027cbee1196c8fb"
LFS_DATA = b"test"  # the spec's LfsBatchRequest example is sha256("test"), 4 bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def _schema(
    parameters: dict[str, str] | None = None, *, coverage: bool = True
) -> schemathesis.BaseSchema:
    config: dict[str, object] = {
        "seed": SEED,
        "auth": {"openapi": {"bearerAuth": {"bearer": API_KEY}}},
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
    }
    if not coverage:
        config["phases"] = {"coverage": {"enabled": False}}
    if parameters:
        config["parameters"] = parameters
    return schemathesis.openapi.from_path(SPEC, config=schemathesis.Config.from_dict(config))


# The coverage phase (boundary values of every parameter, unexpected methods) runs once, on the
# seeded repository, where the values meet real data; the free run only fuzzes.
fuzzed = _schema(coverage=False)
on_seeded_repo = _schema(
    {
        "org": ORG,
        "repo": REPO,
        "sha": SEEDED_MAIN,
        "base": "main",
        "branch": "feature-branch",
    }
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(api_key=API_KEY) as emu:
        yield emu


def _commit(http: httpx.Client, branch: str, edits: list[dict[str, object]]) -> str:
    response = http.post(
        f"/{ORG}/{REPO}/commits",
        json={
            "branch": branch,
            "message": f"seed {branch}",
            "author": AUTHOR,
            "committer": AUTHOR,
            "edits": edits,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sha"])


@pytest.fixture
def seeded(emulator: Emulator) -> Iterator[Emulator]:
    """The emulator wiped, then ``my-org/my-repo`` with files, a feature branch that can
    fast-forward main, an uploaded LFS object, a second repository and an API key."""
    emulator.reset()
    with httpx.Client(
        base_url=emulator.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as http:
        assert http.post(f"/{ORG}/repos", json={"name": REPO}).status_code == 201
        assert http.post(f"/{ORG}/repos", json={"name": "other-repo"}).status_code == 201
        main = _commit(
            http,
            "main",
            [
                {"path": "README.md", "action": "create", "content": "# Hello\n"},
                {"path": "src/index.py", "action": "create", "content": "print('hi')\n"},
                {
                    "path": "bin/run",
                    "action": "create",
                    "content": "#!/bin/sh\n",
                    "executable": True,
                },
                {
                    "path": "data.bin",
                    "action": "create",
                    "content": "AAEC/w==",
                    "encoding": "base64",
                },
            ],
        )
        assert main == SEEDED_MAIN, f"the seeded commit is now {main}: update SEEDED_MAIN"
        branch = {"name": "feature-branch", "head_sha": main}
        assert http.post(f"/{ORG}/{REPO}/branches", json=branch).status_code == 201
        _commit(
            http,
            "feature-branch",
            [{"path": "src/index.py", "action": "update", "content": "print('feature')\n"}],
        )
        spec = {"oid": hashlib.sha256(LFS_DATA).hexdigest(), "size": len(LFS_DATA)}
        batch = http.post(f"/{ORG}/{REPO}/lfs/objects", json={"objects": [spec]})
        assert httpx.put(batch.json()["objects"][0]["upload_url"], content=LFS_DATA).is_success
        made = http.post(f"/{ORG}/api-keys", json={"name": "CI Key"})
        assert made.status_code == 201
    yield emulator


_unique = itertools.count()


def _call_and_check(case: Case, emulator: Emulator) -> None:
    # A generated Idempotency-Key repeats across cases, and the API rightly answers a reused
    # key with 422 (or replays): a unique suffix lets every case reach the operation itself.
    # Only a valid key (1 to 200 visible ASCII characters) is touched, so it stays valid and a
    # deliberately invalid one stays invalid.
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if isinstance(key, str) and 1 <= len(key) <= 200 and all("!" <= c <= "~" for c in key):
        case.headers["Idempotency-Key"] = f"{key}-{next(_unique)}"
    response = case.call(base_url=emulator.url, timeout=30)
    case.validate_response(response, checks=CHECKS)


# `seeded` runs once per operation (not per example), on purpose: the examples of one operation
# share the seeded state, which is what Hypothesis's health check warns about.
ONCE_PER_OPERATION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzzed.parametrize()
@ONCE_PER_OPERATION
def test_fuzzed(case: Case, seeded: Emulator) -> None:
    _call_and_check(case, seeded)


@on_seeded_repo.parametrize()
@ONCE_PER_OPERATION
def test_on_seeded_repo(case: Case, seeded: Emulator) -> None:
    _call_and_check(case, seeded)
