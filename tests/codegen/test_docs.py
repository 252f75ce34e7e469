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


@pytest.mark.parametrize(
    ("code", "plain", "words"),
    [
        (
            "Annotated[str, Field(min_length=1, max_length=255, pattern='^[a-z]+$')]",
            "str",
            "1 to 255 characters; matches `^[a-z]+$`",
        ),
        ("Annotated[str, Field(max_length=255)] | None", "str | None", "at most 255 characters"),
        ("Annotated[str, Field(min_length=1)]", "str", "at least 1 character"),
        ("Annotated[list[Scope], Field(min_length=2)]", "list[Scope]", "at least 2 items"),
        ("Annotated[int, Field(ge=0, lt=10)]", "int", ">= 0; < 10"),
        ("list[Annotated[str, Field(pattern='^a$')]]", "list[str]", "matches `^a$`"),
        ("dict[str, Any]", "dict[str, Any]", ""),
    ],
)
def test_docs_show_the_plain_type_and_its_constraints_in_words(
    code: str, plain: str, words: str
) -> None:
    from mesa_codegen.doc_types import constraints, plain_type

    assert (plain_type(code), constraints(code)) == (plain, words)


def test_model_pages_show_no_annotated_types() -> None:
    pages = sorted((ROOT / "docs" / "models").glob("*.md"))
    assert [page.name for page in pages if "Annotated[" in page.read_text()] == []
    author = (ROOT / "docs" / "models" / "Author.md").read_text()
    assert (
        "| `name` | `str` (1 to 255 characters; matches `^[^<>\\r\\n]+$`) | yes | Without `<`, "
        "`>` or line breaks, which a git signature cannot hold. |"
    ) in author
