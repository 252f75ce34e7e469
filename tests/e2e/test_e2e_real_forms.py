"""Our SDK speaks the real Depot request forms end to end: a commit from `files`, a branch
`from` a name or SHA, and the real answers parsed into our models."""

from __future__ import annotations

import base64

import pytest
from tests.shared import AUTHOR

from mesa_sdk import Mesa
from mesa_sdk.errors import ValidationError
from mesa_sdk.models import Branch, CommitResult


def test_commit_from_files_and_branch_from(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    made = client.commits.create(
        repo="r",
        body={
            "branch": "main",
            "message": "Add",
            "author": AUTHOR,
            "files": [
                {"path": "a.txt", "content": "a\n"},
                {
                    "path": "b.bin",
                    "content": base64.b64encode(b"\x00\x01").decode(),
                    "encoding": "base64",
                },
            ],
        },
    )
    assert made == CommitResult(sha=made.sha, branch="main", message="Add", parents=[])
    again = client.commits.create(
        repo="r",
        body={
            "branch": "main",
            "message": "Change",
            "author": AUTHOR,
            "base_sha": made.sha,
            "files": [{"path": "a.txt", "content": "A\n"}, {"path": "b.bin", "action": "delete"}],
        },
    )
    assert again.parents == [made.sha]
    assert client.branches.create(repo="r", body={"name": "f", "from": "main"}) == Branch(
        name="f", head_sha=again.sha, is_default=False
    )
    assert client.branches.create(repo="r", body={"name": "g", "from": made.sha}) == Branch(
        name="g", head_sha=made.sha, is_default=False
    )
    root = client.content.get(repo="r")
    assert [(e.path, e.last_commit_at is not None) for e in root.entries] == [("a.txt", True)]
    assert client.content.get_raw(repo="r", path="a.txt") == b"A\n"


def test_both_forms_are_an_error_from_the_server(client: Mesa) -> None:
    client.repos.create(body={"name": "r"})
    body = {
        "branch": "main",
        "message": "m",
        "author": AUTHOR,
        "files": [{"path": "a", "content": "a"}],
        "edits": [{"path": "a", "action": "create", "content": "a"}],
    }
    with pytest.raises(ValidationError) as raised:
        client.commits.create(repo="r", body=body)
    error = raised.value
    assert (error.status_code, error.code, error.details) == (
        400,
        "INVALID_REQUEST",
        {"field": "edits"},
    )
    assert error.message == "Give either 'files' or 'edits', not both ('edits' is the second)."
