"""Drives the official `mesa-sdk==0.1.2` client (Speakeasy, generated from the real Depot spec)
through every operation it has, against a server, and prints one JSON object of results.

Run by `test_official_client.py` with the interpreter of the official client's own virtual
environment (its import name `mesa_sdk` clashes with ours), so this file imports nothing of
this project: usage `python official_client_driver.py BASE_URL API_KEY ORG`.

Each result is `{"ok": true, "value": <what the client parsed, as JSON>}` or
`{"ok": false, "error": "<exception class>: <message>"}`. A failed step does not stop the
run: later steps set up what they need through plain HTTP when the client could not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
from mesa_sdk.content import GetAcceptEnum as ContentAccept
from mesa_sdk.diffs import GetAcceptEnum as DiffAccept

from mesa_sdk import Mesa  # the official client, in its own environment

AUTHOR = {"name": "Compat Bot", "email": "compat@example.com"}
LFS_BYTES = b"large file bytes for the official client\n"


def as_json(value: Any) -> Any:
    """What the client returned, as JSON: a model's fields, a raw response's bytes."""
    if isinstance(value, httpx.Response):
        return {"raw_base64": base64.b64encode(value.read()).decode("ascii")}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    return value


def main() -> None:
    base_url, api_key, org = sys.argv[1:4]
    results: dict[str, dict[str, Any]] = {}
    http = httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )

    def step(name: str, call: Callable[[], Any]) -> Any:
        try:
            value = call()
        except Exception as exc:  # every failure is a result to report, not a crash
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
            return None
        # A paginated list answers with a page object whose parsed body is `.result`.
        body = getattr(value, "result", value)
        results[name] = {"ok": True, "value": as_json(body)}
        return body

    def ensure_repo(name: str) -> None:
        """The repository, made through plain HTTP when the client's `repos.create` failed."""
        if http.get(f"/{org}/{name}").status_code == 404:
            http.post(f"/{org}/repos", json={"name": name}).raise_for_status()

    with Mesa(api_key=api_key, server_url=base_url) as mesa:
        step("org.get", lambda: mesa.org.get(org=org))
        step("repos.create", lambda: mesa.repos.create(org=org, name="compat"))
        ensure_repo("compat")
        repo = {"org": org, "repo": "compat"}
        step("repos.list", lambda: mesa.repos.list(org=org))
        step("repos.get", lambda: mesa.repos.get(**repo))
        step(
            "commits.create.upsert",
            lambda: mesa.commits.create(
                **repo,
                branch="main",
                message="First commit",
                author=AUTHOR,
                files=[
                    {"path": "README.md", "content": "# Hello\n"},
                    {
                        "path": "bin/run.sh",
                        "content": base64.b64encode(b"#!/bin/sh\necho hi\n").decode("ascii"),
                        "encoding": "base64",
                    },
                    {"path": "old.txt", "content": "to be removed\n", "action": "upsert"},
                ],
            ),
        )
        first_sha = next(
            b["head_sha"]
            for b in http.get(f"/{org}/compat/branches").json()["branches"]
            if b["name"] == "main"
        )
        step(
            "commits.create.delete",
            lambda: mesa.commits.create(
                **repo,
                branch="main",
                message="Remove old.txt, change README",
                author=AUTHOR,
                base_sha=first_sha,
                files=[
                    {"path": "old.txt", "action": "delete"},
                    {"path": "README.md", "content": "# Hello\n\nMore.\n"},
                ],
            ),
        )
        oid = hashlib.sha256(LFS_BYTES).hexdigest()
        objects = [{"oid": oid, "size": len(LFS_BYTES)}]
        upload = step("lfs.upload", lambda: mesa.lfs.upload(**repo, objects=objects))
        if upload is not None and upload.objects and upload.objects[0].upload_url:
            httpx.put(
                upload.objects[0].upload_url, content=LFS_BYTES, timeout=30
            ).raise_for_status()
        step("lfs.download", lambda: mesa.lfs.download(**repo, objects=objects))
        step(
            "commits.create.lfs",
            lambda: mesa.commits.create(
                **repo,
                branch="main",
                message="Add an LFS file",
                author=AUTHOR,
                files=[{"path": "big.bin", "lfs": {"oid": oid, "size": len(LFS_BYTES)}}],
            ),
        )
        step("commits.list", lambda: mesa.commits.list(**repo, ref="main"))
        step("commits.get", lambda: mesa.commits.get(**repo, sha=first_sha))
        step(
            "branches.create.from_branch",
            lambda: mesa.branches.create(**repo, name="feature", from_="main"),
        )
        step(
            "branches.create.from_sha",
            lambda: mesa.branches.create(**repo, name="at-first", from_=first_sha),
        )
        step("branches.list", lambda: mesa.branches.list(**repo))
        step("content.get.file", lambda: mesa.content.get(**repo, path="README.md"))
        step("content.get.dir", lambda: mesa.content.get(**repo))
        step("content.get.dir.depth", lambda: mesa.content.get(**repo, path="bin", depth=2))
        step(
            "content.get.raw",
            lambda: mesa.content.get(
                **repo,
                path="README.md",
                accept_header_override=ContentAccept.APPLICATION_OCTET_STREAM,
            ),
        )
        step(
            "commits.create.feature",
            lambda: mesa.commits.create(
                **repo,
                branch="feature",
                message="Feature work",
                author=AUTHOR,
                files=[{"path": "feature.txt", "content": "feature\n"}],
            ),
        )
        step("diffs.get", lambda: mesa.diffs.get(**repo, base="main", head="feature"))
        step(
            "diffs.get.text",
            lambda: mesa.diffs.get(
                **repo, base="main", head="feature", accept_header_override=DiffAccept.TEXT_PLAIN
            ),
        )
        step(
            "merge.perform",
            lambda: mesa.merge.perform(
                **repo, base="main", head="feature", author=AUTHOR, delete_branch=True
            ),
        )
        step("branches.delete", lambda: mesa.branches.delete(**repo, branch="at-first"))
        step("repos.update", lambda: mesa.repos.update(**repo, default_branch="main"))
        step("repos.get_sync_status", lambda: mesa.repos.get_sync_status(**repo))
        step("repos.sync", lambda: mesa.repos.sync(**repo))
        step("webhooks.create", lambda: mesa.webhooks.create(**repo, url="http://127.0.0.1:9/"))
        step("webhooks.list", lambda: mesa.webhooks.list(**repo))
        step("webhooks.delete", lambda: mesa.webhooks.delete(**repo, webhook_id="wh_none"))
        # `blamed` is made by the test before this run: `main` is one commit ahead of `before`,
        # and that commit's Agent Blame note attributes lines to an agent.
        blamed = {"org": org, "repo": "blamed"}
        step(
            "agentblame.get",
            lambda: mesa.agent_blame.get_by_org_by_repo_agentblame(
                **blamed, base="before", head="main"
            ),
        )
        step(
            "agentblame.analytics",
            lambda: mesa.agent_blame.get_by_org_by_repo_analytics(**blamed, period="1w"),
        )
        step(
            "agentblame.analytics_refresh",
            lambda: mesa.agent_blame.post_by_org_by_repo_analytics_refresh(**blamed),
        )
        created = step(
            "admin.create_api_key",
            lambda: mesa.admin.create_api_key(org=org, name="compat", scopes=["repo:read"]),
        )
        step("admin.list_api_keys", lambda: mesa.admin.list_api_keys(org=org))
        if created is not None:
            step("admin.revoke_api_key", lambda: mesa.admin.revoke_api_key(org=org, id=created.id))
        ensure_repo("to-delete")
        step("repos.delete", lambda: mesa.repos.delete(org=org, repo="to-delete"))
    http.close()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
