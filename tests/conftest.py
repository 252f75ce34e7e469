"""What every test folder shares: the secret guard (`tests/plugins/secret_guard.py`), the
emulator's fixtures, and `emu` / `org` on top of them (helpers: `tests/shared.py`)."""

from __future__ import annotations

import gc
import inspect
import warnings
from collections.abc import Iterator

import pytest

# The emulator's plugin (also registered through the pytest11 entry point when installed).
from mesa_emulator.pytest_plugin import mesa_client, mesa_emulator, mesa_org  # noqa: F401
from mesa_emulator.server import Emulator

pytest_plugins = ["tests.plugins.secret_guard"]

# Every async test runs on each transport of `Mesa(async_transport=...)`.
ASYNC_TRANSPORTS = ("httpx", "aiohttp")


@pytest.fixture
def emu(mesa_emulator: Emulator) -> Iterator[Emulator]:  # noqa: F811
    """The session emulator, with scripted faults and the rate limit cleared afterwards."""
    yield mesa_emulator
    mesa_emulator.clear_faults()
    mesa_emulator.set_rate_limit(None)


@pytest.fixture
def org(mesa_org: str) -> str:  # noqa: F811
    """An organization unique to this test."""
    return mesa_org


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    is_async = inspect.iscoroutinefunction(metafunc.function)
    explicit = any(
        mark.args[0] == "async_transport"
        for mark in metafunc.definition.iter_markers("parametrize")
    )
    if is_async and not explicit:
        metafunc.parametrize("async_transport", ASYNC_TRANSPORTS, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A socket or session an async test leaves open fails it.
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            item.add_marker(pytest.mark.filterwarnings("error::ResourceWarning"))


@pytest.fixture
def respx_mocker(async_transport: str) -> str:
    """The respx mocker for a transport: respx's default patches httpcore, which only httpx's
    own transport uses; "httpx" patches every httpx client whatever its transport."""
    return "httpcore" if async_transport == "httpx" else "httpx"


@pytest.fixture(autouse=True)
def async_transport(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """What the SDK's own async clients send with in this test: "httpx" unless the test is
    parametrized (every async test is, over `ASYNC_TRANSPORTS`)."""
    transport: str = getattr(request, "param", "httpx")
    is_async = inspect.iscoroutinefunction(getattr(request, "function", None))
    if is_async:
        # What earlier tests left for the collector is theirs, not this test's to answer for.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    if transport != "httpx":
        from mesa_sdk._runtime import settings

        monkeypatch.setattr(settings, "_DEFAULT_ASYNC_TRANSPORT", transport)
    yield transport
    if is_async:
        # Whatever the test left unclosed warns now, while its warning filters apply.
        gc.collect()
