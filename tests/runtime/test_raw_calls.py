"""`RawCore` stands in for `ClientCore` under `with_raw_response`: it answers every call a
generated method makes because both take their calls from `CallMethods` (streams excepted:
they have no raw twin)."""

from __future__ import annotations

from mesa_sdk._runtime.call_methods import CallMethods
from mesa_sdk._runtime.core import ClientCore
from mesa_sdk._runtime.raw_calls import RawCore


def test_the_calls_are_written_once_for_both_cores() -> None:
    assert sorted(name for name in vars(CallMethods) if name.startswith("call")) == [
        "call",
        "call_async",
        "call_bytes",
        "call_bytes_async",
        "call_headers",
        "call_headers_async",
        "call_page",
        "call_page_async",
        "call_text",
        "call_text_async",
    ]
    # A call added to one core alone would be missing from the other.
    for core in (ClientCore, RawCore):
        assert [name for name in vars(core) if name.startswith("call")] == [], core
