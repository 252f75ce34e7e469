from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx


@pytest.fixture
def router(respx_mocker: str) -> Iterator[respx.MockRouter]:
    """Every httpx request goes to respx routes; an unrouted request fails the test."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True, using=respx_mocker) as mock:
        yield mock
