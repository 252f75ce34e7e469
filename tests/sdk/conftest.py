from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from mesa_sdk import Mesa
from tests.shared import SHA, repo_json

__all__ = ["BASE", "KEY", "SHA", "repo_json"]

BASE = "https://depot.test/api/v1"
KEY = "mesa_unit_secret_key_123"


@pytest.fixture
def client() -> Iterator[Mesa]:
    no_retries = {"strategy": "none"}
    with Mesa(api_key=KEY, server_url=BASE, org="acme", retry_config=no_retries) as mesa:
        yield mesa


@pytest.fixture
def api(respx_mocker: str) -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, using=respx_mocker) as router:
        yield router
