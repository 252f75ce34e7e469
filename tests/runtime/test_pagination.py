"""Pages: `.result`, `.items`, `next()`, and lazy iteration over every item, sync and async."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from mesa_sdk._runtime.pagination import AsyncPage, SyncPage

from .support import GET_REPO, LIST_REPOS, SERVER, Repo, RepoList, make_core

LIST_URL = f"{SERVER}/acme/repos"


def page(names: list[str], cursor: str | None) -> dict[str, Any]:
    return {
        "repos": [{"id": f"repo_{name}", "name": name} for name in names],
        "next_cursor": cursor,
        "has_more": cursor is not None,
    }


def serve_pages(router: respx.MockRouter, pages: dict[str | None, dict[str, Any]]) -> respx.Route:
    """Answers each request with the page its cursor names (None: the first)."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    return router.get(url__startswith=LIST_URL).mock(side_effect=answer)


THREE_PAGES = {
    None: page(["a", "b"], "c1"),
    "c1": page([], "c2"),  # an empty page that still has a cursor
    "c2": page(["c"], None),
}


def test_first_page_result_and_items(router: respx.MockRouter) -> None:
    serve_pages(router, THREE_PAGES)
    first = make_core().call_page(LIST_REPOS, {"org": "acme", "limit": 2}, None)
    assert isinstance(first, SyncPage)
    assert isinstance(first.result, RepoList)
    assert [repo.name for repo in first.items] == ["a", "b"]
    assert first.items is first.result.repos
    assert first.next_cursor == "c1"
    assert first.has_next_page()
    assert repr(first).startswith("SyncPage(result=RepoList(repos=[Repo(id='repo_a'")


def test_next_keeps_args_and_options_and_moves_the_cursor(router: respx.MockRouter) -> None:
    route = serve_pages(router, THREE_PAGES)
    options = {"headers": {"X-Trace": "t1"}, "timeout_ms": 1234}
    first = make_core().call_page(LIST_REPOS, {"org": "acme", "limit": 2}, options)  # type: ignore[arg-type]
    second = first.next()
    assert second is not None
    third = second.next()
    assert third is not None and third.next() is None
    requests = [call.request for call in route.calls]
    assert [r.url.params.multi_items() for r in requests] == [
        [("limit", "2")],
        [("limit", "2"), ("cursor", "c1")],
        [("limit", "2"), ("cursor", "c2")],
    ]
    assert all(r.headers["X-Trace"] == "t1" for r in requests)
    assert all(r.extensions["timeout"]["read"] == 1.234 for r in requests)


def test_iteration_follows_empty_pages_that_have_a_cursor(router: respx.MockRouter) -> None:
    serve_pages(router, THREE_PAGES)
    first = make_core().call_page(LIST_REPOS, {"org": "acme"}, None)
    assert [repo.name for repo in first] == ["a", "b", "c"]
    assert [len(p.items) for p in first.iter_pages()] == [2, 0, 1]


def test_iteration_fetches_each_page_only_when_it_is_reached(router: respx.MockRouter) -> None:
    route = serve_pages(router, THREE_PAGES)
    items = iter(make_core().call_page(LIST_REPOS, {"org": "acme"}, None))
    assert next(items).name == "a"
    assert next(items).name == "b"
    assert route.call_count == 1
    assert next(items).name == "c"
    assert route.call_count == 3


@pytest.mark.parametrize("cursor", [None, ""])
def test_a_missing_or_empty_cursor_ends_the_list(
    router: respx.MockRouter, cursor: str | None
) -> None:
    route = serve_pages(router, {None: page(["only"], cursor)})
    first = make_core().call_page(LIST_REPOS, {"org": "acme"}, None)
    assert first.next() is None
    assert not first.has_next_page()
    assert [repo.name for repo in first] == ["only"]
    assert route.call_count == 1


def test_a_cursor_argument_starts_mid_list(router: respx.MockRouter) -> None:
    serve_pages(router, THREE_PAGES)
    assert [
        r.name for r in make_core().call_page(LIST_REPOS, {"org": "acme", "cursor": "c1"}, None)
    ] == ["c"]


def test_operations_without_pagination_have_no_pages() -> None:
    with pytest.raises(TypeError, match=r"repos\.get is not paginated"):
        make_core().call_page(GET_REPO, {"org": "acme", "repo": "r"}, None)


async def test_async_pages(router: respx.MockRouter) -> None:
    route = serve_pages(router, THREE_PAGES)
    first = await make_core().call_page_async(LIST_REPOS, {"org": "acme"}, None)
    assert isinstance(first, AsyncPage)
    assert [repo.name for repo in first.items] == ["a", "b"]
    second = await first.next()
    assert second is not None and second.items == [] and second.next_cursor == "c2"
    third = await second.next()
    assert third is not None and await third.next() is None
    assert route.call_count == 3


async def test_async_iteration_over_every_item(router: respx.MockRouter) -> None:
    route = serve_pages(router, THREE_PAGES)
    first = await make_core().call_page_async(LIST_REPOS, {"org": "acme"}, None)
    names = [repo.name async for repo in first]
    assert names == ["a", "b", "c"]
    assert [len(p.items) async for p in first.iter_pages()] == [2, 0, 1]
    assert route.call_count == 5  # the walk, then a second walk from the first page


async def test_async_iteration_is_lazy(router: respx.MockRouter) -> None:
    route = serve_pages(router, THREE_PAGES)
    first = await make_core().call_page_async(LIST_REPOS, {"org": "acme"}, None)
    async for repo in first:
        assert isinstance(repo, Repo)
        break
    assert route.call_count == 1
