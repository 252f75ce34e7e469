"""How `client.<resource>.with_raw_response` gets its methods without restating them.

A second instance of the resource is bound to a `RawCore` in place of the client's core: the
resource's own methods, unchanged, then return what the `RawCore` returns, a `RawResponse` of
their usual result. `returning_raw` and `returning_raw_async` restate only that return type,
keeping each method's exact parameters (a `ParamSpec`) for type checkers and IDEs. The client's
own calls never pass through here: they pay nothing for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar, cast

from typing_extensions import ParamSpec

from mesa_sdk._runtime.call_methods import CallMethods, Reader
from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.raw_response import RawResponse

if TYPE_CHECKING:
    from mesa_sdk._runtime.client import BaseResource
    from mesa_sdk._runtime.request_builder import PreparedCall

P = ParamSpec("P")
ResultT = TypeVar("ResultT")
ResourceT = TypeVar("ResourceT", bound="BaseResource")


def bound_to_raw_core(resource_class: type[ResourceT], core: ClientCore) -> ResourceT:
    """A `resource_class` whose methods return a `RawResponse` of their declared result.

    Its methods' declared types are then wrong; only `returning_raw(_async)` may take them.
    """
    # A RawCore has ClientCore's calls (CallMethods), each returning a RawResponse.
    return resource_class(cast(ClientCore, RawCore(core)))


def returning_raw(method: Callable[P, ResultT]) -> Callable[P, RawResponse[ResultT]]:
    """A method of a resource from `bound_to_raw_core`, typed as what it returns."""
    return cast("Callable[P, RawResponse[ResultT]]", method)


def returning_raw_async(
    method: Callable[P, Coroutine[Any, Any, ResultT]],
) -> Callable[P, Coroutine[Any, Any, RawResponse[ResultT]]]:
    """An async method of a resource from `bound_to_raw_core`, typed as what it returns."""
    return cast("Callable[P, Coroutine[Any, Any, RawResponse[ResultT]]]", method)


class RawCore(CallMethods):
    """Sends as the client's core does; each call returns the response and its metadata, the
    body parsed on demand into what the client's call would have returned."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    @property
    def server_url(self) -> str:
        return self._core.server_url

    @property
    def _client_core(self) -> ClientCore:
        return self._core

    def _respond(self, call: PreparedCall, read: Reader) -> RawResponse[Any]:
        response = self._core._send(call, stream=False)
        return RawResponse(response, functools.partial(read, call))

    async def _respond_async(self, call: PreparedCall, read: Reader) -> RawResponse[Any]:
        response = await self._core._send_async(call, stream=False)
        return RawResponse(response, functools.partial(read, call))
