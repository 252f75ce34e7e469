"""`RawCore` stands in for `ClientCore` under `with_raw_response`: it must answer every call a
generated method makes, with the same parameters (streams excepted: they have no raw twin)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.raw_calls import RawCore


def _parameters(method: Callable[..., object]) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]


def test_the_raw_core_has_every_call_of_the_client_core_with_its_parameters() -> None:
    calls = sorted(name for name in vars(ClientCore) if name.startswith("call"))
    assert calls == sorted(name for name in vars(RawCore) if name.startswith("call"))
    for name in calls:
        assert _parameters(getattr(RawCore, name)) == _parameters(getattr(ClientCore, name)), name
        assert inspect.iscoroutinefunction(getattr(RawCore, name)) == name.endswith("_async")
