"""`python -m mesa_codegen generate` on public specs nobody here wrote: openapi-python-client's
end-to-end specs and the OpenAPI Initiative's Petstore examples, kept unchanged with their
licences in `specs/third_party/` (see its README for where each comes from).

Each is generated into a temporary folder, every module imported, all packages checked by one
`mypy --strict`, and every operation called against a respx mock that answers a minimal body
built from the operation's declared success response. The five `documents_with_errors` specs
must stop the generator with exit code 2 and one located line per problem.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import TypeAdapter

from mesa_codegen.__main__ import main
from mesa_codegen.builder import build_sdk, is_json
from mesa_codegen.ir import OperationDef, SdkDef
from mesa_codegen.settings import default_settings
from mesa_codegen.spec import Spec, load_spec
from tests.shared import assert_mypy_strict_passes, importable

URL = "https://api.example.test"
# Deeper than any required chain in these specs; stops a required self-reference.
MAX_DEPTH = 8
E2E = "openapi-python-client/end_to_end_tests"
PETSTORE = "OpenAPI-Specification"
THIRD_PARTY = Path(__file__).parent / "specs" / "third_party"
# package name -> spec path under THIRD_PARTY
SPECS = {
    "baseline_3_0": f"{E2E}/baseline_openapi_3.0.json",
    "baseline_3_1": f"{E2E}/baseline_openapi_3.1.yaml",
    "specific_3_1": f"{E2E}/3.1_specific.openapi.yaml",
    "enums_3_1": f"{E2E}/openapi_3.1_enums.yaml",
    "docstrings_on_attributes": f"{E2E}/docstrings_on_attributes.yml",
    "petstore": f"{PETSTORE}/petstore.yaml",
    "petstore_expanded": f"{PETSTORE}/petstore-expanded.yaml",
}
# spec in documents_with_errors -> the first line the generator prints (after warnings)
ERRORS = {
    "bad-status-code.yaml": "mesa_codegen: paths./.get: responses.abcdef: not a status code,"
    " a range such as 4XX, or default",
    "circular-body-ref.yaml": "mesa_codegen: paths./.post: #/components/requestBodies/body:"
    " a reference cycle",
    "invalid-uuid-defaults.yaml": "mesa_codegen: paths./.post: parameters.0 (query id):"
    " the default 'notauuid' is not a uuid",
    "missing-body-ref.yaml": "mesa_codegen: paths./.post: #/components/requestBodies/body:"
    " the reference points to nothing",
    "optional-path-param.yaml": "mesa_codegen: paths./{optional}.get: parameters.0"
    " (path optional): a path parameter must be `required: true`",
}


@pytest.fixture(scope="module")
def cache() -> Path:
    return THIRD_PARTY


@pytest.fixture(scope="module")
def out_dir(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every spec generated into one folder, its packages importable."""
    out = tmp_path_factory.mktemp("third_party")
    for package, spec in SPECS.items():
        args = ["generate", "--spec", str(cache / spec), "--out", str(out / package)]
        assert main([*args, "--package", package, "--client-class", "Client"]) == 0, spec
    with importable([out / package for package in SPECS], SPECS.keys()):
        yield out


def test_every_generated_module_imports(out_dir: Path) -> None:
    for package in SPECS:
        for path in sorted((out_dir / package / package).rglob("*.py")):
            parts = path.relative_to(out_dir / package).with_suffix("").parts
            importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))


def test_the_generated_packages_pass_mypy_strict(out_dir: Path) -> None:
    assert_mypy_strict_passes(
        *[f"{package}/{package}" for package in SPECS], cwd=out_dir, options=("--no-incremental",)
    )


class Values:
    """Minimal valid values for a spec's schemas: required fields only, filled by type."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def of(self, schema: Any, *, wire: bool = True, depth: int = 0) -> Any:
        """A value of the schema; `wire` False gives what a caller passes (a file as a tuple)."""
        schema = self.spec.resolve(schema)
        assert depth < MAX_DEPTH, schema
        if not isinstance(schema, dict):
            return {}
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return next(v for v in schema["enum"] if v is not None)
        if "allOf" in schema:
            return self.of(self.merged(schema), wire=wire, depth=depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                members = [m for m in schema[key] if self.spec.resolve(m).get("type") != "null"]
                return self.of(members[0], wire=wire, depth=depth + 1) if members else None
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "null":
            return None
        if kind == "array":
            return []
        if kind == "integer":
            return 1
        if kind == "number":
            return 1.5
        if kind == "boolean":
            return True
        if kind == "string":
            return self.string(schema.get("format"), wire=wire)
        properties = schema.get("properties", {})
        return {
            name: self.of(properties.get(name, {}), wire=wire, depth=depth + 1)
            for name in schema.get("required", [])
        }

    def merged(self, schema: dict[str, Any]) -> dict[str, Any]:
        """An `allOf` as one schema: properties and required fields joined, the rest kept."""
        merged = {key: value for key, value in schema.items() if key != "allOf"}
        for member in schema["allOf"]:
            for key, value in self.spec.resolve(member).items():
                if key == "properties":
                    merged["properties"] = {**value, **merged.get("properties", {})}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def string(fmt: Any, *, wire: bool) -> Any:
        if fmt == "binary":
            return b"x" if wire else ("f.txt", b"x", "text/plain")
        return {
            "date-time": "2024-01-02T03:04:05Z",
            "date": "2024-01-02",
            "uuid": "00000000-0000-0000-0000-00000000000a",
        }.get(fmt, "x")


def success_answer(spec: Spec, values: Values, raw: dict[str, Any]) -> httpx.Response:
    """The first declared 2xx (or `2XX`, or `default`) response, with its first content type."""
    responses = raw.get("responses") or {}
    key = next((k for k in responses if str(k).startswith("2")), "default")
    status = int(key) if str(key).isdigit() else 200
    content = spec.resolve(responses[key]).get("content") or {}
    if not content:
        return httpx.Response(status)
    media_type, media = next(iter(content.items()))
    if not is_json(media_type):
        return httpx.Response(status, content=b"x", headers={"content-type": media_type})
    body = values.of(media.get("schema", {}))
    return httpx.Response(status, json=body, headers={"content-type": media_type})


def arguments(spec: Spec, values: Values, op: OperationDef, raw: dict[str, Any]) -> dict[str, Any]:
    """A value for every required parameter and a required body."""
    shared = spec.document["paths"][op.path].get("parameters", [])
    schemas = {}
    for param in [*shared, *raw.get("parameters", [])]:
        param = spec.resolve(param)
        schema = param.get("schema") or next(iter(param.get("content", {}).values()))["schema"]
        schemas[(param["in"], param["name"])] = schema
    args = {
        p.name: values.of(schemas[(p.location, p.wire_name)], wire=False)
        for p in op.params
        if p.required
    }
    if op.body is not None and op.body.required:
        if op.body.raw:
            args["body"] = b"x"
        else:
            body = spec.resolve(raw["requestBody"])
            schema = body["content"][op.body.media_type].get("schema", {})
            args["body"] = values.of(schema, wire=False)
    return args


def sdk_of(path: Path, package: str) -> tuple[Spec, SdkDef]:
    spec = load_spec(path, strict=False)
    settings = default_settings(
        spec.document, module=package, client_class="Client", spec=path.name
    )
    return spec, build_sdk(spec, settings)


@pytest.mark.parametrize("package", list(SPECS))
def test_every_operation_parses_its_declared_answer(
    out_dir: Path, cache: Path, package: str
) -> None:
    spec, sdk = sdk_of(cache / SPECS[package], package)
    values = Values(spec)
    client = importlib.import_module(package).Client(server_url=URL)
    called = 0
    try:
        for resource in sdk.resources:
            module = importlib.import_module(f"{package}.resources.{resource.module}")
            for op in resource.operations:
                raw = spec.document["paths"][op.path][op.http_method.lower()]
                answer = success_answer(spec, values, raw)
                args = arguments(spec, values, op, raw)
                declared = getattr(module, op.constant).response_type
                with respx.mock(base_url=URL) as router:
                    route = router.route(method=op.http_method).mock(return_value=answer)
                    result = getattr(getattr(client, resource.name), op.method_name)(**args)
                where = f"{op.http_method} {op.path} ({resource.name}.{op.method_name})"
                assert route.call_count == 1, where
                if declared is None:
                    assert result is None, where
                else:
                    TypeAdapter(declared).validate_python(result, strict=True)
                    if is_json(answer.headers.get("content-type", "")):
                        assert result == TypeAdapter(declared).validate_json(answer.content), where
                called += 1
    finally:
        client.close()
    # docstrings_on_attributes.yml has schemas only, no paths.
    assert called == sum(len(resource.operations) for resource in sdk.resources)


@pytest.mark.parametrize("name", list(ERRORS))
def test_each_document_with_errors_stops_with_one_located_line(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    spec = cache / E2E / "documents_with_errors" / name
    args = ["generate", "--spec", str(spec), "--out", str(tmp_path)]
    code = main([*args, "--package", "pkg", "--client-class", "Client"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    problems = [line for line in err.splitlines() if not line.startswith("mesa_codegen: warning:")]
    assert problems[0] == ERRORS[name]
    assert all(line.startswith("mesa_codegen: paths.") for line in problems), problems
    assert not list(tmp_path.iterdir())
