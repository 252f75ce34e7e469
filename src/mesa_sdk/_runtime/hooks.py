"""Hooks: user functions run around every attempt of every call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from mesa_sdk._runtime.errors import MesaError


@dataclass(frozen=True, slots=True)
class HookContext:
    """Which call and which attempt a hook runs for."""

    operation_id: str
    method_name: str
    """`resource.method`, such as `repos.create`."""
    attempt: int
    """1 for the first attempt, 2 for the first retry, and so on."""
    idempotency_key: str | None
    """The key sent on every attempt of this call, when the operation takes one."""


BeforeRequestHook = Callable[[HookContext, "httpx.Request"], "httpx.Request | None"]
AfterSuccessHook = Callable[[HookContext, "httpx.Response"], "httpx.Response | None"]
AfterErrorHook = Callable[[HookContext, "httpx.Response | None", "MesaError"], None]


class Hooks:
    """The hooks of one client, run in the order they were registered.

    - before_request(context, request) runs before every attempt and may return a replacement
      request (None keeps it).
    - after_success(context, response) runs on a 2xx response and may return a replacement.
    - after_error(context, response, error) runs once for each failed attempt (`response` is
      None when no response came), before the SDK decides whether to retry.

    An exception raised by a hook propagates to the caller.
    """

    def __init__(self) -> None:
        self._before_request: list[BeforeRequestHook] = []
        self._after_success: list[AfterSuccessHook] = []
        self._after_error: list[AfterErrorHook] = []

    def register_before_request(self, hook: BeforeRequestHook) -> BeforeRequestHook:
        self._before_request.append(hook)
        return hook

    def register_after_success(self, hook: AfterSuccessHook) -> AfterSuccessHook:
        self._after_success.append(hook)
        return hook

    def register_after_error(self, hook: AfterErrorHook) -> AfterErrorHook:
        self._after_error.append(hook)
        return hook

    def run_before_request(self, context: HookContext, request: httpx.Request) -> httpx.Request:
        for hook in self._before_request:
            replacement = hook(context, request)
            if replacement is not None:
                request = replacement
        return request

    def run_after_success(self, context: HookContext, response: httpx.Response) -> httpx.Response:
        for hook in self._after_success:
            replacement = hook(context, response)
            if replacement is not None:
                response = replacement
        return response

    def run_after_error(
        self, context: HookContext, response: httpx.Response | None, error: MesaError
    ) -> None:
        for hook in self._after_error:
            hook(context, response, error)

    def __repr__(self) -> str:
        return (
            f"Hooks(before_request={len(self._before_request)}, "
            f"after_success={len(self._after_success)}, after_error={len(self._after_error)})"
        )
