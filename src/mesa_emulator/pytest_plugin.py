"""pytest fixtures for testing against the Mesa emulator.

Registered as a ``pytest11`` plugin, so installing the package makes the fixtures available
everywhere; importing this module starts nothing and loads nothing heavy.

* ``mesa_emulator`` (session): a running :class:`~mesa_emulator.Emulator` on a free loopback
  port with a temporary data folder, stopped at the end of the session.
* ``mesa_org``: an organization slug unique to the test, so tests never see each other's
  repositories (organizations exist on first use).
* ``mesa_client``: a ``mesa_sdk.Mesa`` bound to the emulator and to ``mesa_org``, closed after
  the test.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mesa_emulator.server import Emulator
    from mesa_sdk import Mesa

__all__ = ["mesa_client", "mesa_emulator", "mesa_org", "unique_org"]


def unique_org(hint: str = "t") -> str:
    """A fresh organization slug (``^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$``) starting with ``hint``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", hint).strip("-_")[:40] or "t"
    if not cleaned[0].isalnum():
        cleaned = "t" + cleaned
    return f"{cleaned}-{secrets.token_hex(6)}"


@pytest.fixture(scope="session")
def mesa_emulator() -> Iterator[Emulator]:
    """A running emulator shared by the whole session."""
    from mesa_emulator.server import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def mesa_org(request: pytest.FixtureRequest) -> str:
    """An organization slug unique to this test."""
    return unique_org(request.node.name)


@pytest.fixture
def mesa_client(mesa_emulator: Emulator, mesa_org: str) -> Iterator[Mesa]:
    """A ``mesa_sdk.Mesa`` client for the emulator, with ``org`` defaulting to ``mesa_org``."""
    from mesa_sdk import Mesa

    client = Mesa(api_key=mesa_emulator.api_key, server_url=mesa_emulator.url, org=mesa_org)
    try:
        yield client
    finally:
        client.close()
