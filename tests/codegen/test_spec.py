"""The contract itself: valid OpenAPI 3.1, and every convention the SDK relies on holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())
METHODS = ("get", "post", "put", "patch", "delete")


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


OPERATIONS = [
    (method, path, operation, item.get("parameters", []))
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
IDS = [op["operationId"] for _, _, op, _ in OPERATIONS]


def test_the_spec_is_valid_openapi_3_1() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_the_spec_covers_every_resource_and_operation() -> None:
    groups = {
        (op["x-speakeasy-group"], op["x-speakeasy-name-override"]) for _, _, op, _ in OPERATIONS
    }
    assert groups == {
        ("repos", "create"),
        ("repos", "list"),
        ("repos", "get"),
        ("repos", "update"),
        ("repos", "delete"),
        ("branches", "list"),
        ("branches", "create"),
        ("branches", "delete"),
        ("commits", "list"),
        ("commits", "get"),
        ("commits", "create"),
        ("content", "get"),
        ("diffs", "get"),
        ("merge", "perform"),
        ("admin", "create_api_key"),
        ("admin", "list_api_keys"),
        ("admin", "revoke_api_key"),
        ("lfs", "upload"),
        ("lfs", "download"),
        ("analytics", "get"),
        ("analytics", "refresh"),
        ("agentBlame", "get"),
    }


@pytest.mark.parametrize(("method", "path", "operation", "shared"), OPERATIONS, ids=IDS)
def test_each_operation_follows_the_conventions(
    method: str, path: str, operation: dict[str, Any], shared: list[Any]
) -> None:
    scopes = [s for req in operation["security"] for s in req["bearerAuth"]]
    assert len(scopes) == 1, "each operation names the one scope it needs"

    responses = operation["responses"]
    for status in ("401", "403", "429", "500", "503"):
        assert status in responses
    for status, response in responses.items():
        assert "X-Request-Id" in resolve(response)["headers"], f"{status} lacks X-Request-Id"
        if status[0] in "45":
            schema = resolve(response)["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "Retry-After" in resolve(responses["429"])["headers"]

    params = [resolve(p) for p in [*shared, *operation.get("parameters", [])]]
    headers = {p["name"] for p in params if p["in"] == "header"}
    assert ("Idempotency-Key" in headers) == (method in ("post", "patch", "delete"))

    if operation.get("requestBody"):
        assert {"400", "413", "422"} <= set(responses)


def test_list_operations_paginate_with_cursor_and_limit() -> None:
    lists = [op for _, _, op, _ in OPERATIONS if op["x-speakeasy-name-override"] == "list"]
    assert len(lists) == 3
    for op in lists:
        pagination = op["x-speakeasy-pagination"]
        assert pagination["type"] == "cursor"
        assert pagination["outputs"]["nextCursor"] == "$.next_cursor"
        limit = resolve({"$ref": "#/components/parameters/Limit"})["schema"]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 50)


def test_retries_cover_timeouts_rate_limits_and_server_errors() -> None:
    retries = SPEC["x-speakeasy-retries"]
    assert retries["statusCodes"] == [408, 429, 500, 502, 503, 504]
    assert retries["backoff"]["maxElapsedTime"] == 300_000


def test_every_error_code_has_a_status_and_merge_conflict_is_409() -> None:
    codes = {c["const"]: c["x-status"] for c in SPEC["components"]["schemas"]["ErrorCode"]["oneOf"]}
    assert codes["MERGE_CONFLICT"] == 409
    assert codes["RATE_LIMITED"] == 429
    assert all(400 <= status < 600 for status in codes.values())
    assert len(codes) == len(SPEC["components"]["schemas"]["ErrorCode"]["oneOf"])


def test_content_and_diff_offer_their_alternative_media_types() -> None:
    content = SPEC["paths"]["/{org}/{repo}/content"]["get"]["responses"]["200"]["content"]
    diff = SPEC["paths"]["/{org}/{repo}/diff"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "application/octet-stream"}
    assert set(diff) == {"application/json", "text/plain"}
