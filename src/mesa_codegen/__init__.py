"""The project's SDK generator: openapi.yaml + gen.yaml -> generated parts of mesa_sdk, docs.

Its dependencies come with the `codegen` extra. They are checked here, by name only, so that a
missing one is reported with the extra to install rather than as the first import that fails.
(The generator never imports mesa_sdk, which it generates, so it has its own check.)
"""

from importlib.util import find_spec

_DEPENDENCIES = {
    "yaml": "pyyaml",
    "jinja2": "jinja2",
    "openapi_spec_validator": "openapi-spec-validator",
    "ruff": "ruff",
}
_missing = [dist for module, dist in _DEPENDENCIES.items() if find_spec(module) is None]
if _missing:
    raise ModuleNotFoundError(
        f"mesa_codegen needs the 'codegen' extra ({', '.join(_missing)} not installed): "
        "pip install 'mesa-sdk[codegen]'"
    )
