"""The calls generated methods make on their core, written once for the client's core and for
`with_raw_response`'s.

Each call sends an operation and reads the answer with a reader: the parsed model, the first
page, the headers, the bytes or the text. `ClientCore` returns what the reader gives;
`RawCore` returns the response, keeping the reader for `RawResponse.parse()`. Both supply only
`_respond` and `_respond_async`, which send a prepared call.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx

    from mesa_sdk._runtime.config import RequestOptions
    from mesa_sdk._runtime.core import ClientCore
    from mesa_sdk._runtime.operation import Operation
    from mesa_sdk._runtime.pagination import AsyncPage, SyncPage
    from mesa_sdk._runtime.request_builder import PreparedCall

JSON = "application/json"
ResultT = TypeVar("ResultT")
Reader = Callable[["PreparedCall", "httpx.Response"], Any]
"""What a call returns, from the prepared call and its 2xx response (its body read)."""


class CallMethods:
    """`call`, `call_page`, `call_headers`, `call_bytes` and `call_text`, sync and async."""

    @property
    def _client_core(self) -> ClientCore:
        """The core a first page fetches the next pages with."""
        raise NotImplementedError

    def _respond(self, call: PreparedCall, read: Reader) -> Any:
        """What the call returns: sends `call`, then reads its answer with `read`."""
        raise NotImplementedError

    def _respond_async(self, call: PreparedCall, read: Reader) -> Coroutine[Any, Any, Any]:
        raise NotImplementedError

    def _call(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
        accept: str,
        read: Reader,
    ) -> Any:
        return self._respond(self._client_core._prepare(op, args, body, options, accept), read)

    def _call_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
        accept: str,
        read: Reader,
    ) -> Coroutine[Any, Any, Any]:
        # Checked when the generated `async def` runs its body, as any error of the call.
        call = self._client_core._prepare(op, args, body, options, accept, for_async=True)
        return self._respond_async(call, read)

    # -- sync ---------------------------------------------------------------------------

    def call(
        self,
        op: Operation[ResultT],
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
    ) -> ResultT:
        """Sends the operation; returns its parsed `response_type`, or None without one."""
        result: ResultT = self._call(op, args, body, options, JSON, parse)
        return result

    def call_page(
        self, op: Operation[ResultT], args: Mapping[str, object], options: RequestOptions | None
    ) -> SyncPage[ResultT, Any]:
        """Sends a paginated operation; returns its first page."""
        check_paginated(op)
        core = self._client_core

        def first_page(call: PreparedCall, response: httpx.Response) -> SyncPage[ResultT, Any]:
            from mesa_sdk._runtime.pagination import SyncPage

            return SyncPage(core, op, dict(args), options, parse(call, response))

        result: SyncPage[ResultT, Any] = self._call(op, args, None, options, JSON, first_page)
        return result

    def call_headers(
        self, op: Operation, args: Mapping[str, object], options: RequestOptions | None
    ) -> httpx.Headers:
        """Sends the operation (a HEAD); returns the answer's headers."""
        result: httpx.Headers = self._call(op, args, None, options, JSON, _headers)
        return result

    def call_bytes(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> bytes:
        """Sends the operation asking for `accept`; returns the body's bytes."""
        result: bytes = self._call(op, args, None, options, accept, _content)
        return result

    def call_text(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> str:
        """Sends the operation asking for `accept`; returns the body as text."""
        result: str = self._call(op, args, None, options, accept, _text)
        return result

    # -- async: each returns `_call_async`'s coroutine, without a frame of its own ------

    def call_async(
        self,
        op: Operation[ResultT],
        args: Mapping[str, object],
        body: object,
        options: RequestOptions | None,
    ) -> Coroutine[Any, Any, ResultT]:
        """Sends the operation; returns its parsed `response_type`, or None without one."""
        return self._call_async(op, args, body, options, JSON, parse)

    def call_page_async(
        self, op: Operation[ResultT], args: Mapping[str, object], options: RequestOptions | None
    ) -> Coroutine[Any, Any, AsyncPage[ResultT, Any]]:
        """Sends a paginated operation; returns its first page."""
        check_paginated(op)
        core = self._client_core

        def first_page(call: PreparedCall, response: httpx.Response) -> AsyncPage[ResultT, Any]:
            from mesa_sdk._runtime.pagination import AsyncPage

            return AsyncPage(core, op, dict(args), options, parse(call, response))

        return self._call_async(op, args, None, options, JSON, first_page)

    def call_headers_async(
        self, op: Operation, args: Mapping[str, object], options: RequestOptions | None
    ) -> Coroutine[Any, Any, httpx.Headers]:
        """Sends the operation (a HEAD); returns the answer's headers."""
        return self._call_async(op, args, None, options, JSON, _headers)

    def call_bytes_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> Coroutine[Any, Any, bytes]:
        """Sends the operation asking for `accept`; returns the body's bytes."""
        return self._call_async(op, args, None, options, accept, _content)

    def call_text_async(
        self,
        op: Operation,
        args: Mapping[str, object],
        options: RequestOptions | None,
        *,
        accept: str,
    ) -> Coroutine[Any, Any, str]:
        """Sends the operation asking for `accept`; returns the body as text."""
        return self._call_async(op, args, None, options, accept, _text)


def check_paginated(op: Operation) -> None:
    if op.pagination is None:
        raise TypeError(f"{op.method_name} is not paginated")


def parse(call: PreparedCall, response: httpx.Response) -> Any:
    """The body as the operation's `response_type` (see `parsing.parse_response`)."""
    # Imported here, with pydantic: building a client stays cheap.
    import mesa_sdk._runtime.parsing as parsing

    return parsing.parse_response(call, response)


def _headers(call: PreparedCall, response: httpx.Response) -> httpx.Headers:
    return response.headers


def _content(call: PreparedCall, response: httpx.Response) -> bytes:
    return response.content


def _text(call: PreparedCall, response: httpx.Response) -> str:
    return response.text
