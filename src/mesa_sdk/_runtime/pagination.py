"""Pages of a cursor-paginated list, and lazy iteration over every item of every page.

A page ends the walk only when its cursor is missing or empty: an empty page that still has a
cursor is followed, since a server may return one (after filtering, say) mid-list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from mesa_sdk._runtime.config import RequestOptions
    from mesa_sdk._runtime.core import ClientCore
    from mesa_sdk._runtime.operation import Operation, Pagination

ResultT = TypeVar("ResultT")
ItemT = TypeVar("ItemT")


class _PageBase(Generic[ResultT, ItemT]):
    def __init__(
        self,
        core: ClientCore,
        operation: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        result: ResultT,
    ) -> None:
        self._core = core
        self._operation = operation
        self._args = args
        self._options = options
        self.result = result
        """This page's parsed answer, such as a `RepoList`."""

    @property
    def _pagination(self) -> Pagination:
        pagination = self._operation.pagination
        if pagination is None:  # call_page checks this before building a page
            raise TypeError(f"{self._operation.method_name} is not paginated")
        return pagination

    @property
    def items(self) -> list[ItemT]:
        """This page's items."""
        items: list[ItemT] = getattr(self.result, self._pagination.items_field)
        return items

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page, or None on the last page."""
        cursor = getattr(self.result, self._pagination.next_cursor_field)
        return cursor if isinstance(cursor, str) and cursor else None

    def has_next_page(self) -> bool:
        return self.next_cursor is not None

    def _next_args(self, cursor: str) -> dict[str, object]:
        # The same call, options included, with only the cursor moved on.
        return {**self._args, self._pagination.cursor_param: cursor}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(result={self.result!r})"


class SyncPage(_PageBase[ResultT, ItemT]):
    """One page of a list. Iterating it yields every item of this page and all later ones,
    fetching each next page only when iteration reaches it."""

    def next(self) -> SyncPage[ResultT, ItemT] | None:
        """The next page, or None when this is the last."""
        cursor = self.next_cursor
        if cursor is None:
            return None
        page: SyncPage[ResultT, ItemT] = self._core.call_page(
            self._operation, self._next_args(cursor), self._options
        )
        return page

    def iter_pages(self) -> Iterator[SyncPage[ResultT, ItemT]]:
        """This page and every later one."""
        page: SyncPage[ResultT, ItemT] | None = self
        while page is not None:
            yield page
            page = page.next()

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.iter_pages():
            yield from page.items


class AsyncPage(_PageBase[ResultT, ItemT]):
    """One page of a list. `async for` over it yields every item of this page and all later
    ones, fetching each next page only when iteration reaches it."""

    async def next(self) -> AsyncPage[ResultT, ItemT] | None:
        """The next page, or None when this is the last."""
        cursor = self.next_cursor
        if cursor is None:
            return None
        page: AsyncPage[ResultT, ItemT] = await self._core.call_page_async(
            self._operation, self._next_args(cursor), self._options
        )
        return page

    async def iter_pages(self) -> AsyncIterator[AsyncPage[ResultT, ItemT]]:
        """This page and every later one."""
        page: AsyncPage[ResultT, ItemT] | None = self
        while page is not None:
            yield page
            page = await page.next()

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        async for page in self.iter_pages():
            for item in page.items:
                yield item
