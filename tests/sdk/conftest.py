from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from mesa_sdk import Mesa

BASE = "https://depot.test/api/v1"
KEY = "mesa_unit_secret_key_123"
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture
def client() -> Iterator[Mesa]:
    no_retries = {"strategy": "none"}
    with Mesa(api_key=KEY, server_url=BASE, org="acme", retry_config=no_retries) as mesa:
        yield mesa


@pytest.fixture
def api(respx_mocker: str) -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, using=respx_mocker) as router:
        yield router


def repo_json(name: str = "widgets", **overrides: object) -> dict[str, object]:
    return {
        "id": "repo_1",
        "org": "acme",
        "name": name,
        "default_branch": "main",
        "head_sha": SHA,
        "size_bytes": 1234,
        "created_at": "2026-11-22T08:00:00Z",
        "upstream": None,
        **overrides,
    }
