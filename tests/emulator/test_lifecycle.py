"""Starting and stopping: persistence across restarts, the CLI, the Emulator class, the plugin."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from emulator_helpers import assert_error
from tests.shared import AUTHOR

from mesa_emulator.server import Emulator

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_state_survives_a_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    data = b"lfs bytes"
    oid = hashlib.sha256(data).hexdigest()
    with Emulator(data_dir=tmp_path, api_key="first-key") as emu:
        with httpx.Client(base_url=emu.url, headers={"Authorization": "Bearer first-key"}) as http:
            repo = http.post("/acme/repos", json={"name": "keep"}).json()
            for i in range(3):
                http.post("/acme/repos", json={"name": f"more-{i}"})
            commit_body = {
                "branch": "main",
                "message": "persist me",
                "author": AUTHOR,
                "edits": [{"path": "a.txt", "action": "create", "content": "kept"}],
            }
            made = http.post(
                "/acme/keep/commits", json=commit_body, headers={"Idempotency-Key": "k1"}
            )
            key = http.post("/acme/api-keys", json={"scopes": ["admin"]}).json()
            url = http.post(
                "/acme/keep/lfs/objects", json={"objects": [{"oid": oid, "size": len(data)}]}
            ).json()["objects"][0]["upload_url"]
            assert httpx.put(url, content=data).status_code == 200
            cursor = http.get("/acme/repos", params={"limit": 2}).json()["next_cursor"]
        first_port = emu.port

    with Emulator(data_dir=tmp_path, api_key="second-key") as emu:
        assert emu.port != 0
        with httpx.Client(base_url=emu.url, headers={"Authorization": "Bearer second-key"}) as http:
            got = http.get("/acme/keep").json()
            assert got["id"] == repo["id"] and got["head_sha"] == made.json()["sha"]
            content = http.get(
                "/acme/keep/content",
                params={"path": "a.txt"},
                headers={"Accept": "application/octet-stream"},
            )
            assert content.content == b"kept"
            # Cursors stay valid (the signing secret is kept with the data).
            page = http.get("/acme/repos", params={"limit": 2, "cursor": cursor}).json()
            assert [r["name"] for r in page["repos"]] == ["more-1", "more-2"]
            # Idempotency records survive.
            replay = http.post(
                "/acme/keep/commits", json=commit_body, headers={"Idempotency-Key": "k1"}
            )
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json() == made.json()
            # LFS objects survive.
            down = http.post(
                "/acme/keep/lfs/objects/download",
                json={"objects": [{"oid": oid, "size": len(data)}]},
            ).json()["objects"][0]
            assert httpx.get(down["download_url"]).content == data
        # The old bootstrap key is gone; keys made through the API remain.
        assert_error(
            httpx.get(f"{emu.url}/acme/repos", headers={"Authorization": "Bearer first-key"}),
            401,
            "UNAUTHENTICATED",
        )
        assert (
            httpx.get(
                f"{emu.url}/acme/repos", headers={"Authorization": f"Bearer {key['key']}"}
            ).status_code
            == 200
        )
    assert first_port


def test_temporary_data_dir_is_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESA_API_KEY", raising=False)
    emu = Emulator()
    with emu:
        folder = emu.data_dir
        assert folder.exists() and (folder / "meta.sqlite3").exists()
        assert emu.api_key.startswith("mesa_") and len(emu.api_key) > 30
        assert emu.url == f"http://127.0.0.1:{emu.port}/api/v1"
        assert emu.control_url == f"http://127.0.0.1:{emu.port}/_emulator"
    assert not folder.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{emu.port}/api/v1/acme/repos", timeout=2)


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESA_API_KEY", "mesa_from_env")
    with Emulator() as emu:
        assert emu.api_key == "mesa_from_env"
    with Emulator(api_key="explicit") as emu:
        assert emu.api_key == "explicit"


def test_plugin_module_imports_cheaply() -> None:
    code = (
        "import sys, mesa_emulator.pytest_plugin, mesa_emulator;"
        "heavy = [m for m in ('uvicorn', 'pygit2', 'starlette', 'mesa_sdk') if m in sys.modules];"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_plugin_fixtures(mesa_emulator: Emulator, mesa_org: str) -> None:
    assert mesa_emulator.url.startswith("http://127.0.0.1:")
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", mesa_org)
    response = httpx.get(
        f"{mesa_emulator.url}/{mesa_org}/repos",
        headers={"Authorization": f"Bearer {mesa_emulator.api_key}"},
    )
    assert response.json()["repos"] == []
