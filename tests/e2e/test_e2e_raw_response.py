"""`with_raw_response`: each method's response metadata, and `_request_id` on models."""

from __future__ import annotations

import re

from tests.shared import AUTHOR

from mesa_emulator.server import Emulator
from mesa_sdk import AsyncPage, Mesa, RawResponse, SyncPage
from mesa_sdk.models import CommitResult, Repo, Success

REQUEST_ID = re.compile(r"^req_[0-9a-f]+$")


def _client(emu: Emulator, org: str) -> Mesa:
    fast_retries = {
        "strategy": "backoff",
        "backoff": {
            "initial_interval": 1,
            "max_interval": 1,
            "exponent": 1.0,
            "max_elapsed_time": 10_000,
        },
    }
    return Mesa(api_key=emu.api_key, server_url=emu.url, org=org, retry_config=fast_retries)


def _commit(client: Mesa, repo: str, path: str, content: str) -> CommitResult:
    return client.commits.create(
        repo=repo,
        body={
            "branch": "main",
            "message": f"add {path}",
            "author": AUTHOR,
            "edits": [{"path": path, "action": "create", "content": content}],
        },
    )


def test_get_gives_status_headers_request_id_and_the_model(emu: Emulator, mesa_org: str) -> None:
    with _client(emu, mesa_org) as client:
        created = client.repos.create(body={"name": "widgets"})
        raw = client.repos.with_raw_response.get(repo="widgets")
    assert isinstance(raw, RawResponse)
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert raw.request_id == raw.headers["x-request-id"]
    assert raw.request_id is not None and REQUEST_ID.match(raw.request_id)
    assert (raw.attempts, raw.idempotent_replayed) == (1, False)
    repo = raw.parse()
    assert repo == created and isinstance(repo, Repo)
    assert raw.data is repo  # parsed once
    assert repo._request_id == raw.request_id
    assert repr(raw) == (
        f"RawResponse(status_code=200, request_id={raw.request_id!r}, attempts=1, "
        "idempotent_replayed=False)"
    )


def test_models_from_normal_calls_carry_their_request_id(emu: Emulator, mesa_org: str) -> None:
    with _client(emu, mesa_org) as client:
        created = client.repos.create(body={"name": "widgets"})
        fetched = client.repos.get(repo="widgets")
        page = client.repos.list()
    ids = [created._request_id, fetched._request_id, page.result._request_id]
    assert all(i is not None and REQUEST_ID.match(i) for i in ids)
    assert len(set(ids)) == 3
    # Equality is about content: the request that brought a model does not count.
    assert created == fetched


def test_attempts_counts_the_retries(emu: Emulator, mesa_org: str) -> None:
    with _client(emu, mesa_org) as client:
        client.repos.create(body={"name": "widgets"})
        emu.script_faults(f"/api/v1/{mesa_org}/widgets", [{"status": 503}] * 2, "GET")
        raw = client.repos.with_raw_response.get(repo="widgets")
    assert (raw.status_code, raw.attempts) == (200, 3)
    assert raw.parse().name == "widgets"


def test_a_replayed_write_says_so(emu: Emulator, mesa_org: str) -> None:
    options = {"idempotency_key": "create-widgets-once"}
    with _client(emu, mesa_org) as client:
        first = client.repos.with_raw_response.create(
            body={"name": "widgets"}, request_options=options
        )
        again = client.repos.with_raw_response.create(
            body={"name": "widgets"}, request_options=options
        )
    assert (first.status_code, first.idempotent_replayed) == (201, False)
    assert (again.status_code, again.idempotent_replayed) == (201, True)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.parse() == first.parse()


def test_lists_give_a_page_bytes_give_bytes_text_gives_text(emu: Emulator, mesa_org: str) -> None:
    with _client(emu, mesa_org) as client:
        client.repos.create(body={"name": "widgets"})
        main = _commit(client, "widgets", "README.md", "# Widgets\n")
        client.branches.create(repo="widgets", body={"name": "feature", "head_sha": main.sha})
        client.commits.create(
            repo="widgets",
            body={
                "branch": "feature",
                "message": "edit",
                "author": AUTHOR,
                "edits": [{"path": "README.md", "action": "update", "content": "# Gadgets\n"}],
            },
        )
        page = client.repos.with_raw_response.list(limit=1).parse()
        raw_bytes = client.content.with_raw_response.get_raw(repo="widgets", path="README.md")
        raw_text = client.diffs.with_raw_response.get_text(
            repo="widgets", base="main", head="feature"
        )
    assert isinstance(page, SyncPage)
    assert [r.name for r in page] == ["widgets"]
    assert raw_bytes.headers["content-type"] == "application/octet-stream"
    assert raw_bytes.parse() == b"# Widgets\n"
    assert raw_text.headers["content-type"].startswith("text/plain")
    assert raw_text.parse() == (
        "diff --git a/README.md b/README.md\n"
        "index 097bbee..406e8aa 100644\n"
        "--- a/README.md\n"
        "+++ b/README.md\n"
        "@@ -1 +1 @@\n"
        "-# Widgets\n"
        "+# Gadgets\n"
    )


def test_a_method_without_a_body_to_parse_gives_its_model(emu: Emulator, mesa_org: str) -> None:
    with _client(emu, mesa_org) as client:
        client.repos.create(body={"name": "widgets"})
        raw = client.repos.with_raw_response.delete(repo="widgets")
    assert raw.status_code == 200
    assert raw.parse() == Success(success=True)


async def test_async_twins(emu: Emulator, mesa_org: str) -> None:
    async with _client(emu, mesa_org) as client:
        created = await client.repos.create_async(body={"name": "widgets"})
        raw = await client.repos.with_raw_response.get_async(repo="widgets")
        listed = await client.repos.with_raw_response.list_async()
        await client.commits.create_async(
            repo="widgets",
            body={
                "branch": "main",
                "message": "add",
                "author": AUTHOR,
                "edits": [{"path": "a.txt", "action": "create", "content": "A\n"}],
            },
        )
        raw_bytes = await client.content.with_raw_response.get_raw_async(
            repo="widgets", path="a.txt"
        )
    assert (raw_bytes.status_code, raw_bytes.parse()) == (200, b"A\n")
    assert (raw.status_code, raw.attempts, raw.parse()) == (200, 1, created)
    assert created._request_id is not None
    page = listed.parse()
    assert isinstance(page, AsyncPage)
    assert [r.name for r in page.result.repos] == ["widgets"]
