"""The emulator's route table is exactly openapi.yaml's operations, with their scopes."""

from __future__ import annotations

from pathlib import Path

import yaml

from mesa_emulator.contract import idempotency_key_rule, param_rule
from mesa_emulator.routes import ROUTES, match_route

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


def _spec_operations() -> dict[tuple[str, str], tuple[str, list[str]]]:
    spec = yaml.safe_load(SPEC.read_text())
    out: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            scopes = [s for req in operation["security"] for s in req.get("bearerAuth", [])]
            out[(method.upper(), path)] = (operation["operationId"], scopes)
    return out


def test_route_table_matches_openapi_exactly() -> None:
    spec_ops = _spec_operations()
    table = {(r.method, r.template): (r.operation_id, [r.scope]) for r in ROUTES}
    assert table == spec_ops


def test_every_spec_path_routes_to_its_operation() -> None:
    for (method, path), (operation_id, _) in _spec_operations().items():
        segments = [
            {"{org}": "acme", "{repo}": "r", "{branch}": "b", "{sha}": "abcdef1"}.get(s, s)
            for s in path.strip("/").split("/")
        ]
        segments = ["k1" if s == "{id}" else s for s in segments]
        segments = ["main" if s == "{base}" else s for s in segments]
        match = match_route(segments)
        assert match is not None, path
        route = match.for_method(method)
        assert route is not None and route.operation_id == operation_id


def test_spec_idempotency_header_where_the_emulator_takes_one() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    for route in ROUTES:
        operation = spec["paths"][route.template][route.method.lower()]
        refs = [p.get("$ref", "") for p in operation.get("parameters", [])]
        has_key = "#/components/parameters/IdempotencyKey" in refs
        assert has_key == route.accepts_idempotency_key, route.operation_id


def test_the_idempotency_key_rule_is_the_specs() -> None:
    """The emulator's check of an `Idempotency-Key` value reads its limits from the contract."""
    schema = yaml.safe_load(SPEC.read_text())["components"]["parameters"]["IdempotencyKey"]
    schema = schema["schema"]
    for route in (route for route in ROUTES if route.accepts_idempotency_key):
        rule = idempotency_key_rule(route.operation_id)
        assert (rule.name, rule.low, rule.high, rule.pattern) == (
            "Idempotency-Key",
            schema["minLength"],
            schema["maxLength"],
            schema["pattern"],
        ), route.operation_id
    assert rule.admits("!" + "~" * 254)
    assert not any(rule.admits(key) for key in ("", "k" * 256, "has space", "caf\u00e9"))


def test_query_limits_and_defaults_are_the_specs() -> None:
    """The emulator reads each query parameter's bounds, values and default from the contract."""
    spec = yaml.safe_load(SPEC.read_text())
    checked = 0
    for route in ROUTES:
        operation = spec["paths"][route.template][route.method.lower()]
        for param in operation.get("parameters", []):
            if "$ref" in param:
                param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
            if param["in"] != "query" or param["name"] == "cursor":
                continue
            schema = param["schema"]
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            rule = param_rule(route.operation_id, param["name"])
            assert rule.required == bool(param.get("required")), route.operation_id
            assert rule.default == schema.get("default"), (route.operation_id, param["name"])
            assert rule.low == schema.get("minimum", schema.get("minLength"))
            assert rule.high == schema.get("maximum", schema.get("maxLength"))
            assert rule.choices == (tuple(schema["enum"]) if "enum" in schema else None)
            checked += 1
    assert checked >= 12


def test_the_emulator_reads_the_sdk_through_its_public_names_only() -> None:
    """The emulator follows the contract the generated SDK carries, never the SDK's runtime
    (`mesa_sdk._runtime`), which may change under it."""
    import mesa_emulator

    package = Path(mesa_emulator.__file__).parent
    private = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "mesa_sdk._" in line
    ]
    assert private == []
