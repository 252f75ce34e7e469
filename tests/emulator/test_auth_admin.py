"""API keys and scopes: 401 for missing/unknown/revoked keys, 403 for scopes and orgs."""

from __future__ import annotations

import hashlib
import sqlite3

import httpx
import pytest
from emulator_helpers import Api, assert_error

from mesa_emulator.routes import ROUTES
from mesa_emulator.server import Emulator


def as_key(emu: Emulator, key: str) -> httpx.Client:
    return httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_missing_unknown_and_malformed_keys_are_401(emu: Emulator, org: str) -> None:
    url = f"{emu.url}/{org}/repos"
    assert_error(httpx.get(url), 401, "UNAUTHENTICATED")
    assert_error(
        httpx.get(url, headers={"Authorization": "Bearer mesa_nope"}), 401, "UNAUTHENTICATED"
    )
    assert_error(
        httpx.get(url, headers={"Authorization": f"Basic {emu.api_key}"}), 401, "UNAUTHENTICATED"
    )
    assert_error(httpx.get(url, headers={"Authorization": "Bearer"}), 401, "UNAUTHENTICATED")
    # The scheme is case-insensitive.
    assert httpx.get(url, headers={"Authorization": f"bearer {emu.api_key}"}).status_code == 200


def test_create_list_revoke_keys(http: httpx.Client, org: str, emu: Emulator) -> None:
    created = http.post(
        f"/{org}/api-keys", json={"name": "CI Key", "scopes": ["git:read", "git:write"]}
    )
    assert created.status_code == 201
    key = created.json()
    assert set(key) == {"id", "key", "name", "scopes", "created_at"}
    assert key["key"].startswith("mesa_") and key["id"].startswith("key_")
    assert key["name"] == "CI Key" and key["scopes"] == ["git:read", "git:write"]
    default = http.post(f"/{org}/api-keys", json={}).json()
    assert default["scopes"] == ["repo:read", "git:read"] and default["name"] is None

    listed = http.get(f"/{org}/api-keys").json()
    assert set(listed) == {"api_keys"}
    assert [k["id"] for k in listed["api_keys"]] == [key["id"], default["id"]]
    first = listed["api_keys"][0]
    assert set(first) == {
        "id",
        "name",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    }
    assert first["expires_at"] is None
    assert first["last_used_at"] is None and first["revoked_at"] is None
    assert "key" not in first

    # Used once: last_used_at is set.
    with as_key(emu, default["key"]) as client:
        assert client.get(f"/{org}/repos").status_code == 200
    used = {k["id"]: k for k in http.get(f"/{org}/api-keys").json()["api_keys"]}
    assert used[default["id"]]["last_used_at"] is not None

    # Another org sees none of them; revoking there is 404.
    assert http.get(f"/{org}-b/api-keys").json() == {"api_keys": []}
    assert_error(http.delete(f"/{org}-b/api-keys/{key['id']}"), 404, "API_KEY_NOT_FOUND")
    assert_error(http.delete(f"/{org}/api-keys/key_nope"), 404, "API_KEY_NOT_FOUND")

    revoked = http.delete(f"/{org}/api-keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json() == {"success": True}
    after = {k["id"]: k for k in http.get(f"/{org}/api-keys").json()["api_keys"]}
    assert after[key["id"]]["revoked_at"] is not None


def test_keys_are_stored_hashed(http: httpx.Client, org: str, emu: Emulator) -> None:
    key = http.post(f"/{org}/api-keys", json={"scopes": ["admin"]}).json()["key"]
    with sqlite3.connect(emu.data_dir / "meta.sqlite3") as db:
        dump = "\n".join(db.iterdump())
    assert key not in dump and emu.api_key not in dump
    assert hashlib.sha256(key.encode()).hexdigest() in dump


def test_create_key_errors(http: httpx.Client, org: str) -> None:
    bad = [
        {"scopes": []},
        {"scopes": ["root"]},
        {"scopes": ["git:read", "git:read"]},
        {"name": "x" * 256},
        {"extra": True},
    ]
    for body in bad:
        assert_error(http.post(f"/{org}/api-keys", json=body), 400, "INVALID_REQUEST")


def test_scopes_are_enforced_per_operation(
    http: httpx.Client, org: str, emu: Emulator, api: Api
) -> None:
    api.repo()
    sha = api.write("r", {"a": "1"})
    reader = emu.create_api_key(org, ["repo:read"])
    with as_key(emu, reader) as client:
        assert client.get(f"/{org}/repos").status_code == 200
        assert client.get(f"/{org}/r").status_code == 200
        error = assert_error(client.post(f"/{org}/repos", json={"name": "x"}), 403, "FORBIDDEN")
        assert error["details"]["required_scope"] == "repo:create"
        assert_error(client.get(f"/{org}/r/commits"), 403, "FORBIDDEN")
        assert_error(client.delete(f"/{org}/r"), 403, "FORBIDDEN")
        assert_error(client.get(f"/{org}/api-keys"), 403, "FORBIDDEN")
    writer = emu.create_api_key(org, ["git:read", "git:write"])
    with as_key(emu, writer) as client:
        assert (
            client.post(f"/{org}/r/branches", json={"name": "b", "head_sha": sha}).status_code
            == 201
        )
        assert_error(client.get(f"/{org}/r"), 403, "FORBIDDEN")
    admin = emu.create_api_key(org, ["admin"])
    with as_key(emu, admin) as client:
        # admin implies every scope, on its own org only
        assert client.delete(f"/{org}/r/branches/b").status_code == 200
        assert client.post(f"/{org}/repos", json={"name": "by-admin"}).status_code == 201
        assert_error(client.get(f"/{org}-other/repos"), 403, "FORBIDDEN")
        assert_error(client.post(f"/{org}-other/repos", json={"name": "x"}), 403, "FORBIDDEN")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.operation_id)
def test_each_operation_needs_exactly_its_scope(emu: Emulator, org: str, route: object) -> None:
    from mesa_emulator.routes import Route

    assert isinstance(route, Route)
    path = route.template
    for name, value in {
        "org": org,
        "repo": "r",
        "branch": "b",
        "sha": "a" * 40,
        "base": "main",
        "id": "key_x",
    }.items():
        path = path.replace("{" + name + "}", value)
    others = [
        s
        for s in (
            "repo:read",
            "repo:create",
            "repo:delete",
            "git:read",
            "git:write",
            "webhook:read",
            "webhook:write",
        )
        if s != route.scope
    ]
    without = emu.create_api_key(org, others)
    with as_key(emu, without) as client:
        assert_error(client.request(route.method, path, json={}), 403, "FORBIDDEN")
    with_scope = emu.create_api_key(org, [route.scope])
    with as_key(emu, with_scope) as client:
        response = client.request(route.method, path, json={})
        assert response.status_code not in (401, 403), response.text


def test_revoked_key_stops_working_at_once(http: httpx.Client, org: str, emu: Emulator) -> None:
    created = http.post(f"/{org}/api-keys", json={"scopes": ["admin"]}).json()
    with as_key(emu, created["key"]) as client:
        assert client.get(f"/{org}/repos").status_code == 200
        # A key may revoke itself; the next request is refused.
        assert client.delete(f"/{org}/api-keys/{created['id']}").status_code == 200
        assert_error(client.get(f"/{org}/repos"), 401, "UNAUTHENTICATED")
