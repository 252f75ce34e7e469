"""Realistic changes to our own openapi.yaml: each is generated and its operation called."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

from mesa_codegen.__main__ import main
from tests.shared import importable

ROOT = Path(__file__).resolve().parents[2]
URL = "https://depot.mesa.dev/api/v1"
PACKAGE = "mesa_changed"
OWNER_PARAMS = [
    {"$ref": "#/components/parameters/Org"},
    {"$ref": "#/components/parameters/Repo"},
]
ERRORS = {
    "404": {"$ref": "#/components/responses/NotFound"},
    "4XX": {"description": "Any other client error."},
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


CHANGES: dict[str, dict[str, Any]] = {
    # Per-repo webhooks, with inline request and response schemas.
    "/{org}/{repo}/webhooks": {
        "parameters": OWNER_PARAMS,
        "get": {
            "operationId": "listWebhooks",
            "tags": ["webhooks"],
            "responses": {
                "200": {
                    "description": "The webhooks.",
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["webhooks"],
                            "properties": {
                                "webhooks": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["id", "url"],
                                        "properties": {
                                            "id": {"type": "string"},
                                            "url": {"type": "string"},
                                            "events": {
                                                "type": "array",
                                                "items": {"type": "string", "enum": ["push"]},
                                            },
                                        },
                                    },
                                }
                            },
                        }
                    ),
                },
                **ERRORS,
            },
        },
        "post": {
            "operationId": "createWebhook",
            "tags": ["webhooks"],
            "requestBody": {
                "required": True,
                "content": json_content(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["url"],
                        "properties": {"url": {"type": "string"}},
                    }
                ),
            },
            "responses": {
                "201": {
                    "description": "Created.",
                    "content": json_content(
                        {"type": "object", "properties": {"id": {"type": "string"}}}
                    ),
                },
                **ERRORS,
            },
        },
    },
    # An operation answering both 200 and 202.
    "/{org}/{repo}/imports": {
        "parameters": OWNER_PARAMS,
        "post": {
            "operationId": "startImport",
            "tags": ["imports"],
            "requestBody": {
                "required": True,
                "content": json_content(
                    {"type": "object", "properties": {"source_url": {"type": "string"}}}
                ),
            },
            "responses": {
                "200": {
                    "description": "Imported at once.",
                    "content": json_content({"$ref": "#/components/schemas/Repo"}),
                },
                "202": {
                    "description": "Importing.",
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["job_id"],
                            "properties": {"job_id": {"type": "string"}},
                        }
                    ),
                },
            },
        },
    },
    # allOf over a named schema.
    "/{org}/{repo}/stats": {
        "parameters": OWNER_PARAMS,
        "get": {
            "operationId": "getRepoStats",
            "tags": ["repos"],
            "x-speakeasy-group": "repos",
            "x-speakeasy-name-override": "stats",
            "responses": {
                "200": {
                    "description": "The repository with its counts.",
                    "content": json_content({"$ref": "#/components/schemas/RepoWithStats"}),
                }
            },
        },
    },
    # oneOf without a discriminator.
    "/{org}/{repo}/refs/{name}": {
        "parameters": [
            *OWNER_PARAMS,
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "get": {
            "operationId": "getRef",
            "tags": ["branches"],
            "x-speakeasy-group": "branches",
            "x-speakeasy-name-override": "get_ref",
            "responses": {
                "200": {
                    "description": "A branch, or a commit for a SHA.",
                    "content": json_content(
                        {
                            "oneOf": [
                                {"$ref": "#/components/schemas/Branch"},
                                {"$ref": "#/components/schemas/Commit"},
                            ]
                        }
                    ),
                }
            },
        },
    },
}
# A multipart upload.
CHANGES["/{org}/{repo}/uploads"] = {
    "parameters": OWNER_PARAMS,
    "post": {
        "operationId": "uploadArchive",
        "tags": ["repos"],
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"archive": {"type": "string", "format": "binary"}},
                    }
                }
            }
        },
        "responses": {"201": {"description": "Uploaded."}},
    },
}
REPO_WITH_STATS = {
    "allOf": [
        {"$ref": "#/components/schemas/Repo"},
        {
            "type": "object",
            "required": ["commit_count"],
            "properties": {"commit_count": {"type": "integer"}},
        },
    ]
}
REPO = {
    "id": "repo_1",
    "org": "acme",
    "name": "r",
    "default_branch": "main",
    "head_sha": None,
    "size_bytes": 0,
    "created_at": "2024-01-01T00:00:00Z",
    "upstream": None,
}


def changed_spec(folder: Path) -> Path:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    spec["paths"].update(CHANGES)
    spec["components"]["schemas"]["RepoWithStats"] = REPO_WITH_STATS
    path = folder / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def generate(spec: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "generate",
            "--spec",
            str(spec),
            "--out",
            str(out),
            "--package",
            PACKAGE,
            "--client-class",
            "Mesa",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("changed")
    assert generate(changed_spec(folder), folder / "out") == 0
    with importable([folder / "out"], {PACKAGE}):
        client = importlib.import_module(PACKAGE).Mesa(api_key="k")
        try:
            yield client
        finally:
            client.close()


def models() -> Any:
    return importlib.import_module(f"{PACKAGE}.models")


@respx.mock
def test_per_repo_webhooks_with_inline_schemas(client: Any) -> None:
    respx.get(f"{URL}/acme/r/webhooks").mock(
        return_value=httpx.Response(
            200, json={"webhooks": [{"id": "w1", "url": "https://x.test", "events": ["push"]}]}
        )
    )
    created = respx.post(f"{URL}/acme/r/webhooks").mock(
        return_value=httpx.Response(201, json={"id": "w2"})
    )

    listed = client.webhooks.list_webhooks(org="acme", repo="r")
    made = client.webhooks.create_webhook(org="acme", repo="r", body={"url": "https://y.test"})

    m = models()
    assert listed == m.ListWebhooksResponse(
        webhooks=[
            m.ListWebhooksResponseWebhooksItem(id="w1", url="https://x.test", events=["push"])
        ]
    )
    assert made == m.CreateWebhookResponse(id="w2")
    assert created.calls.last.request.content == b'{"url":"https://y.test"}'


@respx.mock
def test_an_operation_answering_200_and_202(client: Any) -> None:
    respx.post(f"{URL}/acme/r/imports").side_effect = [
        httpx.Response(200, json=REPO),
        httpx.Response(202, json={"job_id": "j1"}),
    ]
    m = models()
    assert client.imports.start_import(org="acme", repo="r", body={}) == m.Repo(**REPO)
    assert client.imports.start_import(org="acme", repo="r", body={}) == (
        m.StartImportResponse202(job_id="j1")
    )


@respx.mock
def test_all_of_over_a_named_schema(client: Any) -> None:
    respx.get(f"{URL}/acme/r/stats").mock(
        return_value=httpx.Response(200, json={**REPO, "commit_count": 7})
    )
    stats = client.repos.stats(org="acme", repo="r")
    assert stats == models().RepoWithStats(**REPO, commit_count=7)


@respx.mock
def test_one_of_without_a_discriminator(client: Any) -> None:
    signature = {"name": "A", "email": "a@x.test", "date": "2024-01-01T00:00:00Z"}
    commit = {
        "sha": "c" * 40,
        "message": "m",
        "author": signature,
        "committer": signature,
        "parents": [],
    }
    respx.get(f"{URL}/acme/r/refs/main").mock(
        return_value=httpx.Response(200, json={"name": "main", "head_sha": "a", "is_default": True})
    )
    respx.get(f"{URL}/acme/r/refs/{'c' * 40}").mock(return_value=httpx.Response(200, json=commit))
    m = models()
    assert client.branches.get_ref(org="acme", repo="r", name="main") == m.Branch(
        name="main", head_sha="a", is_default=True
    )
    assert isinstance(client.branches.get_ref(org="acme", repo="r", name="c" * 40), m.Commit)


@respx.mock
def test_a_multipart_upload(client: Any) -> None:
    route = respx.post(f"{URL}/acme/r/uploads").mock(return_value=httpx.Response(201))

    client.repos.upload_archive(
        org="acme", repo="r", body={"archive": ("r.tar", b"\x00tar", "application/x-tar")}
    )

    request = route.calls.last.request
    boundary = request.headers["content-type"].removeprefix("multipart/form-data; boundary=")
    assert (
        request.content
        == (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="archive"; filename="r.tar"\r\n'
            "Content-Type: application/x-tar\r\n\r\n"
            "\x00tar\r\n"
            f"--{boundary}--\r\n"
        ).encode()
    )
