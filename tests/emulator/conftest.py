"""Fixtures of the emulator's tests: a plain httpx client with the bootstrap key (the SDK is
not needed to test the server), and `Api` over it; `emu` and `org` are `tests/conftest.py`'s."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_helpers import Api

from mesa_emulator.server import Emulator


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client, org: str) -> Api:
    return Api(http, org)
