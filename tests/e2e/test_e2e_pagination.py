"""Pagination over 250 repositories: the documentation's ``while True`` cursor loop,
``page.next()``, and iterating the page object (lazily), sync and async."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import HookContext, Mesa

COUNT = 250


def _names() -> list[str]:
    # Digits, '-', '.' and '_' sort differently from how the numbers read; the API orders by name.
    names = [f"repo-{i:03d}" for i in range(COUNT - 4)] + ["Repo.x", "a_b", "a-b", "a.b"]
    random.Random(7).shuffle(names)  # created out of order
    return names


@pytest.fixture(scope="module")
def repo_names(docs_emulator: Emulator) -> Iterator[list[str]]:
    """``my-org`` holding 250 repositories on the docs emulator, with the environment set as
    the documentation's samples expect; the names in the order the API lists them."""
    docs_emulator.reset()
    names = _names()
    with (
        Mesa(api_key=docs_emulator.api_key, server_url=docs_emulator.url) as client,
        ThreadPoolExecutor(8) as pool,
    ):
        list(pool.map(lambda n: client.repos.create(org="my-org", body={"name": n}), names))
    patch = pytest.MonkeyPatch()
    patch.setenv("MESA_API_KEY", docs_emulator.api_key)
    patch.setenv("MESA_SERVER_URL", docs_emulator.url)
    yield sorted(names)
    patch.undo()


@pytest.fixture
def requests_sent(repo_names: list[str]) -> Iterator[tuple[Mesa, list[httpx.Request]]]:
    """A client from the environment that records every request it sends."""
    sent: list[httpx.Request] = []

    def record(context: HookContext, request: httpx.Request) -> None:
        sent.append(request)

    with Mesa(api_key=os.environ["MESA_API_KEY"]) as client:
        client.hooks.register_before_request(record)
        yield client, sent


def test_docs_while_true_cursor_loop(
    repo_names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    client = Mesa(api_key=os.environ["MESA_API_KEY"])
    pages = 0
    # --- sample (target-sdk-docs.md, Pagination)
    cursor = None

    while True:
        page = client.repos.list(
            org="my-org",
            cursor=cursor,
            limit=100,
        )

        for repo in page.result.repos:
            print(repo.name)

        cursor = page.result.next_cursor
        if not cursor:
            break
        # --- end
        pages += 1
    client.close()
    assert capsys.readouterr().out.splitlines() == repo_names
    assert pages == 2  # 100 + 100 + 50


def test_page_next(repo_names: list[str], requests_sent: tuple[Mesa, list[httpx.Request]]) -> None:
    client, sent = requests_sent
    names: list[str] = []
    sizes: list[int] = []
    page = client.repos.list(org="my-org", limit=7)
    while page is not None:
        names += [r.name for r in page.result.repos]
        sizes.append(len(page.result.repos))
        assert page.result.has_more is (page.result.next_cursor is not None)
        page = page.next()
    assert names == repo_names and len(set(names)) == COUNT
    assert sizes == [7] * 35 + [5]
    assert len(sent) == 36
    # Every later request repeats the first one's limit, with only the cursor moved on.
    assert {r.url.params["limit"] for r in sent} == {"7"}
    assert "cursor" not in sent[0].url.params
    assert len({r.url.params["cursor"] for r in sent[1:]}) == 35


def test_iterating_the_page_object(
    repo_names: list[str], requests_sent: tuple[Mesa, list[httpx.Request]]
) -> None:
    client, sent = requests_sent
    names = [repo.name for repo in client.repos.list(org="my-org", limit=40)]
    assert names == repo_names and len(set(names)) == COUNT
    assert len(sent) == 7  # ceil(250 / 40)

    # Pages are fetched only when iteration reaches them.
    sent.clear()
    for i, repo in enumerate(client.repos.list(org="my-org", limit=40)):
        if i == 45:
            assert repo.name == repo_names[45]
            break
    assert len(sent) == 2

    # The default limit is 50.
    sent.clear()
    assert [repo.name for repo in client.repos.list(org="my-org")] == repo_names
    assert len(sent) == 5


async def test_async_pages(repo_names: list[str]) -> None:
    async with Mesa(api_key=os.environ["MESA_API_KEY"]) as client:
        first = await client.repos.list_async(org="my-org", limit=100)
        names = [repo.name async for repo in first]
        assert names == repo_names
        walked: list[str] = []
        page = await client.repos.list_async(org="my-org", limit=100)
        while page is not None:
            walked += [r.name for r in page.result.repos]
            page = await page.next()
        assert walked == repo_names
