"""How `client.<resource>.with_raw_response` gets its methods without restating them.

A second instance of the resource is bound to a `RawCore` in place of the client's core: the
resource's own methods, unchanged, then return what the `RawCore` returns, a `RawResponse` of
their usual result. `returning_raw` and `returning_raw_async` restate only that return type,
keeping each method's exact parameters (a `ParamSpec`) for type checkers and IDEs. The client's
own calls never pass through here: they pay nothing for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
from typing_extensions import ParamSpec

from mesa_sdk._runtime.core import JSON, ClientCore, check_paginated
from mesa_sdk._runtime.raw_response import RawResponse

if TYPE_CHECKING:
    from mesa_sdk._runtime.client import BaseResource
    from mesa_sdk._runtime.config import RequestOptions
    from mesa_sdk._runtime.operation import Operation
    from mesa_sdk._runtime.pagination import AsyncPage, SyncPage
    from mesa_sdk._runtime.request_builder import PreparedCall

P = ParamSpec("P")
ResultT = TypeVar("ResultT")
ResourceT = TypeVar("ResourceT", bound="BaseResource")


def bound_to_raw_core(resource_class: type[ResourceT], core: ClientCore) -> ResourceT:
    """A `resource_class` whose methods return a `RawResponse` of their declared result.

    Its methods' declared types are then wrong; only `returning_raw(_async)` may take them.
    """
    # A RawCore has each ClientCore method the resource calls, returning a RawResponse.
    return resource_class(cast(ClientCore, RawCore(core)))


def returning_raw(method: Callable[P, ResultT]) -> Callable[P, RawResponse[ResultT]]:
    """A method of a resource from `bound_to_raw_core`, typed as what it returns."""
    return cast("Callable[P, RawResponse[ResultT]]", method)


def returning_raw_async(
    method: Callable[P, Coroutine[Any, Any, ResultT]],
) -> Callable[P, Coroutine[Any, Any, RawResponse[ResultT]]]:
    """An async method of a resource from `bound_to_raw_core`, typed as what it returns."""
    return cast("Callable[P, Coroutine[Any, Any, RawResponse[ResultT]]]", method)


class RawCore:
    """Sends as the client's core does; each call returns the response and its metadata, the
    body parsed on demand into what the client's call would have returned."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    @property
    def server_url(self) -> str:
        return self._core.server_url

    # -- sync ---------------------------------------------------------------------------

    def call(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
    ) -> RawResponse[Any]:
        return self._send(op, args, body, options, JSON, self._core._parse)

    def call_page(
        self, op: Operation, args: Mapping[str, object], options: RequestOptions | None
    ) -> RawResponse[SyncPage[Any, Any]]:
        from mesa_sdk._runtime.pagination import SyncPage

        check_paginated(op)
        core = self._core

        def page(call: PreparedCall, response: httpx.Response) -> SyncPage[Any, Any]:
            return SyncPage(core, op, dict(args), options, core._parse(call, response))

        return self._send(op, args, None, options, JSON, page)

    def call_headers(
        self, op: Operation, args: Mapping[str, object], options: RequestOptions | None
    ) -> RawResponse[httpx.Headers]:
        return self._send(op, args, None, options, JSON, _headers)

    def call_bytes(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> RawResponse[bytes]:
        return self._send(op, args, None, options, accept, _content)

    def call_text(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> RawResponse[str]:
        return self._send(op, args, None, options, accept, _text)

    # -- async --------------------------------------------------------------------------

    async def call_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
    ) -> RawResponse[Any]:
        return await self._send_async(op, args, body, options, JSON, self._core._parse)

    async def call_page_async(
        self, op: Operation, args: Mapping[str, object], options: RequestOptions | None
    ) -> RawResponse[AsyncPage[Any, Any]]:
        from mesa_sdk._runtime.pagination import AsyncPage

        check_paginated(op)
        core = self._core

        def page(call: PreparedCall, response: httpx.Response) -> AsyncPage[Any, Any]:
            return AsyncPage(core, op, dict(args), options, core._parse(call, response))

        return await self._send_async(op, args, None, options, JSON, page)

    async def call_headers_async(
        self, op: Operation, args: Mapping[str, object], options: RequestOptions | None
    ) -> RawResponse[httpx.Headers]:
        return await self._send_async(op, args, None, options, JSON, _headers)

    async def call_bytes_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> RawResponse[bytes]:
        return await self._send_async(op, args, None, options, accept, _content)

    async def call_text_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> RawResponse[str]:
        return await self._send_async(op, args, None, options, accept, _text)

    # -- sending ------------------------------------------------------------------------

    def _send(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
        accept: str,
        parse: Callable[[PreparedCall, httpx.Response], ResultT],
    ) -> RawResponse[ResultT]:
        call = self._core._prepare(op, args, body, options, accept)
        response = self._core._send(call, stream=False)
        return RawResponse(response, functools.partial(parse, call))

    async def _send_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
        accept: str,
        parse: Callable[[PreparedCall, httpx.Response], ResultT],
    ) -> RawResponse[ResultT]:
        call = self._core._prepare(op, args, body, options, accept, for_async=True)
        response = await self._core._send_async(call, stream=False)
        return RawResponse(response, functools.partial(parse, call))


def _headers(call: PreparedCall, response: httpx.Response) -> httpx.Headers:
    return response.headers


def _content(call: PreparedCall, response: httpx.Response) -> bytes:
    return response.content


def _text(call: PreparedCall, response: httpx.Response) -> str:
    return response.text
