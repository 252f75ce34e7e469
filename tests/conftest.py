"""What every test folder shares: the secret guard (`tests/plugins/secret_guard.py`), the
emulator's fixtures, and `emu` / `org` on top of them (helpers: `tests/shared.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# The emulator's plugin (also registered through the pytest11 entry point when installed).
from mesa_emulator.pytest_plugin import mesa_client, mesa_emulator, mesa_org  # noqa: F401
from mesa_emulator.server import Emulator

pytest_plugins = ["tests.plugins.secret_guard"]


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
