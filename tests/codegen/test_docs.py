"""Every Python sample in the generated docs is valid Python that names real SDK methods."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import mesa_sdk

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "USAGE.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
SAMPLES = [
    (doc, index, code) for doc in DOCS for index, code in enumerate(BLOCK.findall(doc.read_text()))
]


def test_every_resource_has_docs() -> None:
    for resource in ("repos", "branches", "commits", "content", "diffs", "merge", "admin", "lfs"):
        assert (ROOT / "docs" / "sdks" / resource / "README.md").is_file()


@pytest.mark.parametrize(
    ("doc", "index", "code"),
    SAMPLES,
    ids=[f"{doc.relative_to(ROOT)}#{index}" for doc, index, _ in SAMPLES],
)
def test_a_sample_compiles_and_calls_real_methods(doc: Path, index: int, code: str) -> None:
    tree = ast.parse(code)
    client = mesa_sdk.Mesa(api_key="mesa_docs")
    for node in ast.walk(tree):
        # client.<resource>.<method>(...) must exist on the SDK as written.
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "client"
        ):
            resource = getattr(client, node.value.attr)
            assert hasattr(resource, node.attr), f"client.{node.value.attr}.{node.attr}"
