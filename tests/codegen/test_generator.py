"""The generator: reproducible output, a working --check, and regeneration after an API change."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

from mesa_codegen.__main__ import main
from mesa_codegen.builder import build_sdk
from mesa_codegen.render import render
from mesa_codegen.settings import SettingsError, load_settings
from mesa_codegen.spec import SpecError, load_spec
from tests.shared import importable

ROOT = Path(__file__).resolve().parents[2]


def generate_files(config: Path) -> dict[str, str]:
    settings = load_settings(config)
    return render(build_sdk(load_spec(config.parent / settings.spec), settings))


def test_the_committed_output_is_current() -> None:
    assert main(["--config", str(ROOT / "gen.yaml"), "--check"]) == 0


def test_generation_is_byte_for_byte_reproducible() -> None:
    first = generate_files(ROOT / "gen.yaml")
    second = generate_files(ROOT / "gen.yaml")
    assert first == second
    for path, text in first.items():
        assert (ROOT / path).read_text() == text, path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the spec, settings and generated output to change freely."""
    for name in ("openapi.yaml", "gen.yaml", "USAGE.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(
        ROOT / "src" / "mesa_sdk",
        tmp_path / "src" / "mesa_sdk",
        ignore=shutil.ignore_patterns("__pycache__", "_runtime"),
    )
    return tmp_path


def test_check_names_a_hand_edited_file_and_a_stale_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = project / "src/mesa_sdk/resources/repos.py"
    repos.write_text(repos.read_text().replace("List repositories", "List repos"))
    stale = project / "src/mesa_sdk/models/widget.py"
    stale.write_text((project / "src/mesa_sdk/models/repo.py").read_text())

    assert main(["--config", str(project / "gen.yaml"), "--check"]) == 1
    err = capsys.readouterr().err
    assert "out of date: src/mesa_sdk/resources/repos.py" in err
    assert "no longer generated: src/mesa_sdk/models/widget.py" in err

    assert main(["--config", str(project / "gen.yaml")]) == 0
    assert not stale.exists()
    assert main(["--config", str(project / "gen.yaml"), "--check"]) == 0


def test_a_misspelt_setting_is_an_error(project: Path) -> None:
    config = project / "gen.yaml"
    config.write_text(config.read_text().replace("class_name: Mesa", "clas_name: Mesa"))
    with pytest.raises(SettingsError, match=r"client\.clas_name: Extra inputs are not permitted"):
        load_settings(config)


def test_an_invalid_spec_is_an_error(project: Path) -> None:
    spec = project / "openapi.yaml"
    spec.write_text(spec.read_text().replace("openapi: 3.1.0", "openapi: 3.1.0\nbogus: [", 1))
    with pytest.raises(SpecError):
        load_spec(spec)


WIDGETS: dict[str, Any] = {
    "/{org}/widgets/{widget}": {
        "parameters": [
            {"$ref": "#/components/parameters/Org"},
            {"name": "widget", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "put": {
            "operationId": "paintWidget",
            "summary": "Paint a widget",
            "tags": ["widgets"],
            "x-speakeasy-group": "widgets",
            "x-speakeasy-name-override": "paint",
            "security": [{"bearerAuth": ["repo:create"]}],
            "parameters": [
                {"name": "coats", "in": "query", "schema": {"type": "integer", "minimum": 1}}
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PaintWidget"}}
                },
            },
            "responses": {
                "200": {
                    "description": "The painted widget.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}
                    },
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        },
    }
}
WIDGET_SCHEMAS: dict[str, Any] = {
    "PaintWidget": {
        "type": "object",
        "additionalProperties": False,
        "required": ["color"],
        "properties": {"color": {"type": "string", "enum": ["red", "blue"]}},
    },
    "Widget": {
        "type": "object",
        "required": ["name", "color", "coats"],
        "properties": {
            "name": {"type": "string"},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "coats": {"type": "integer"},
        },
    },
}


@pytest.fixture
def widgets_sdk(tmp_path: Path) -> Iterator[Any]:
    """An SDK generated from the spec plus one new resource, importable as `widget_sdk`."""
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    spec["paths"].update(WIDGETS)
    spec["components"]["schemas"].update(WIDGET_SCHEMAS)
    spec["tags"].append({"name": "widgets", "description": "Paint widgets."})
    (tmp_path / "openapi.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    settings = yaml.safe_load((ROOT / "gen.yaml").read_text())
    settings["package"]["module"] = "widget_sdk"
    (tmp_path / "gen.yaml").write_text(yaml.safe_dump(settings))

    result = subprocess.run(
        [sys.executable, "-m", "mesa_codegen", "--config", str(tmp_path / "gen.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with importable([tmp_path / "src"], {"widget_sdk"}):
        yield importlib.import_module("widget_sdk")


@respx.mock
def test_a_new_resource_in_the_spec_is_callable_without_hand_edits(widgets_sdk: Any) -> None:
    route = respx.put("https://depot.mesa.dev/api/v1/acme/widgets/w%2F1").mock(
        return_value=httpx.Response(200, json={"name": "w/1", "color": "red", "coats": 2})
    )
    with widgets_sdk.Mesa(api_key="mesa_test", org="acme") as client:
        widget = client.widgets.paint(widget="w/1", coats=2, body={"color": "red"})

    assert widget == widgets_sdk.models.Widget(name="w/1", color="red", coats=2)
    request = route.calls.last.request
    assert request.url.params["coats"] == "2"
    assert request.content == b'{"color":"red"}'
    assert (ROOT / "docs").exists()
    with pytest.raises(widgets_sdk.InvalidRequestError, match=r"body\.color"):
        client.widgets.paint(widget="w", body={"color": "green"})  # type: ignore[typeddict-item]


def test_samples_settings_must_name_operations_of_the_spec(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_text((ROOT / "openapi.yaml").read_text())
    settings = yaml.safe_load((ROOT / "gen.yaml").read_text())
    settings["samples"]["needs"]["getRepos"] = ["repo"]  # getRepo, misspelt
    settings["samples"]["args"]["getContnet"] = {"path": "README.md"}
    (tmp_path / "gen.yaml").write_text(yaml.safe_dump(settings))
    result = subprocess.run(
        [sys.executable, "-m", "mesa_codegen", "--config", str(tmp_path / "gen.yaml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "mesa_codegen: gen.yaml: samples.needs: no operation 'getRepos'",
        "mesa_codegen: gen.yaml: samples.args: no operation 'getContnet'",
    ]
    assert not (tmp_path / "src").exists()
