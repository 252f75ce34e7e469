"""Helpers shared by the emulator's tests (plain httpx, no SDK)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from tests.shared import commit_body


class Api:
    """Small helpers over an httpx client for the common calls of the tests."""

    def __init__(self, client: httpx.Client, org: str) -> None:
        self.client = client
        self.org = org

    def repo(self, name: str = "r", **body: Any) -> dict[str, Any]:
        response = self.client.post(f"/{self.org}/repos", json={"name": name, **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def commit(
        self,
        repo: str,
        edits: list[dict[str, Any]],
        branch: str = "main",
        message: str = "change",
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        response = self.client.post(
            f"/{self.org}/{repo}/commits",
            json=commit_body(message, edits, branch, **extra),
        )
        assert response.status_code == expect, response.text
        return dict(response.json())

    def write(self, repo: str, files: dict[str, str], branch: str = "main") -> str:
        """Create (or update) text files in one commit; returns the commit sha."""
        existing = self.files(repo, branch)
        edits = [
            {"path": p, "action": "update" if p in existing else "create", "content": c}
            for p, c in files.items()
        ]
        return str(self.commit(repo, edits, branch=branch)["sha"])

    def files(self, repo: str, ref: str = "main") -> dict[str, bytes]:
        response = self.client.get(f"/{self.org}/{repo}/content", params={"ref": ref, "depth": 64})
        if response.status_code == 404:
            return {}
        assert response.status_code == 200, response.text
        out: dict[str, bytes] = {}
        for entry in response.json()["entries"]:
            if entry["type"] == "file":
                file = self.client.get(
                    f"/{self.org}/{repo}/content", params={"ref": ref, "path": entry["path"]}
                ).json()
                out[entry["path"]] = base64.b64decode(file["content"])
        return out

    def head(self, repo: str, branch: str = "main") -> str:
        response = self.client.get(f"/{self.org}/{repo}/branches", params={"limit": 100})
        for item in response.json()["branches"]:
            if item["name"] == branch:
                return str(item["head_sha"])
        raise AssertionError(f"no branch {branch}")


def assert_error(
    response: httpx.Response, status: int, code: str, **details: Any
) -> dict[str, Any]:
    """The response is the error envelope with this status and code (and these details)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    for key, value in details.items():
        assert error["details"].get(key) == value, (key, error["details"])
    return dict(error)
