"""End-to-end tests: the SDK (``mesa_sdk.Mesa``) against the emulator over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa


@pytest.fixture
def client(emu: Emulator, mesa_org: str) -> Iterator[Mesa]:
    """A client of the session emulator for this test's org, with retries off, so that every
    error response is raised as it came."""
    with Mesa(
        api_key=emu.api_key,
        server_url=emu.url,
        org=mesa_org,
        retry_config={"strategy": "none"},
    ) as sdk:
        yield sdk


@pytest.fixture(scope="session")
def docs_emulator() -> Iterator[Emulator]:
    """An emulator of its own for the documentation's samples, which all use the literal
    ``my-org`` / ``my-repo`` names: each test starts from a wiped state (see ``docs_env``)."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def docs_env(docs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The docs emulator, wiped, with ``MESA_API_KEY`` and ``MESA_SERVER_URL`` pointing at it,
    so ``Mesa(api_key=os.environ["MESA_API_KEY"])`` reaches it as the samples are written."""
    docs_emulator.reset()
    monkeypatch.setenv("MESA_API_KEY", docs_emulator.api_key)
    monkeypatch.setenv("MESA_SERVER_URL", docs_emulator.url)
    return docs_emulator
