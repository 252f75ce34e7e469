"""The lifecycle every generated client shares: hooks, closing, context managers, repr."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from mesa_sdk._runtime.core import ClientCore
    from mesa_sdk._runtime.hooks import Hooks

_ClientT = TypeVar("_ClientT", bound="BaseClient")


class BaseClient:
    """The base of the generated client class; `self._core` sends every request."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    @property
    def hooks(self) -> Hooks:
        """Functions run around every attempt: `client.hooks.register_before_request(fn)`."""
        return self._core.hooks

    @property
    def server_url(self) -> str:
        return self._core.server_url

    def close(self) -> None:
        """Closes the connections the client opened; an `http_client` passed in stays open."""
        self._core.close()

    async def aclose(self) -> None:
        """Closes the connections the client opened, sync and async; clients passed in stay open."""
        await self._core.aclose()

    def __enter__(self: _ClientT) -> _ClientT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self: _ClientT) -> _ClientT:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        # Never the key: only what identifies the client.
        return f"{type(self).__name__}(server_url={self.server_url!r})"


class BaseResource:
    """The base of each generated resource (`client.repos`, `client.branches`, ...)."""

    def __init__(self, core: ClientCore) -> None:
        self._core = core

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server_url={self._core.server_url!r})"
