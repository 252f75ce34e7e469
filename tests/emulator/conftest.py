"""Fixtures of the emulator's tests: a session emulator, a unique org per test, and a plain
httpx client with the bootstrap key (the SDK is not needed to test the server)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_helpers import Api

# The plugin's fixtures (also registered through the pytest11 entry point when installed).
from mesa_emulator.pytest_plugin import mesa_client, mesa_emulator, mesa_org  # noqa: F401
from mesa_emulator.server import Emulator


@pytest.fixture
def emu(mesa_emulator: Emulator) -> Iterator[Emulator]:  # noqa: F811
    """The session emulator, with scripted faults and the rate limit cleared afterwards."""
    yield mesa_emulator
    mesa_emulator.clear_faults()
    mesa_emulator.set_rate_limit(None)


@pytest.fixture
def org(mesa_org: str) -> str:  # noqa: F811
    return mesa_org


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client, org: str) -> Api:
    return Api(http, org)
