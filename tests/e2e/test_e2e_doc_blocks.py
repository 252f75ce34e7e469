"""Every Python block of README.md, USAGE.md and docs/, run as written against the emulator.

Each block runs in this process, in a namespace of its own, against a wiped emulator, with the
environment a user would have: `MESA_API_KEY`, `MESA_SERVER_URL` and `MESA_ORG=my-org`. A
block that does not stand alone is marked, on the line before it, with
`<!-- fragment: needs NEED, ... -->`; it runs after the prelude of each need (PRELUDES, and
what each needs in turn). The generated docs mark theirs from gen.yaml's `samples`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.fs.conftest import fuse_unavailable

from mesa_emulator.server import Emulator
from mesa_sdk import Mesa

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "USAGE.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(
    r"^(?:<!-- fragment: needs (?P<needs>[^>]*) -->\n)?```python\n(?P<code>.*?)^```$", re.S | re.M
)
AUTHOR = '{"name": "Bot", "email": "bot@example.com"}'

PRELUDES: dict[str, tuple[tuple[str, ...], str]] = {
    # need: (the needs it builds on, its code)
    "client": ((), "from mesa_sdk import Mesa\n\nclient = Mesa()\n"),
    "empty_repo": (("client",), 'client.repos.create(body={"name": "my-repo"})\n'),
    "repo": (
        ("empty_repo",),
        "commit_sha = client.commits.create(\n"
        '    repo="my-repo",\n'
        '    body={"branch": "main", "message": "Add README", "author": ' + AUTHOR + ",\n"
        '          "edits": [{"path": "README.md", "action": "create",\n'
        '                     "content": "# my-repo\\nTODO: write it\\n"}]},\n'
        ").sha\n",
    ),
    "commit_sha": (("repo",), ""),  # the repo's commit
    "branch": (
        ("repo",),
        'client.branches.create(repo="my-repo", body={"name": "feature-branch", "from": "main"})\n'
        "client.commits.create(\n"
        '    repo="my-repo",\n'
        '    body={"branch": "feature-branch", "message": "Add a feature", "author": '
        + AUTHOR
        + ",\n"
        '          "edits": [{"path": "feature.txt", "action": "create", "content": "1\\n"}]},\n'
        ")\n",
    ),
    "upstream_repo": (
        ("client",),
        "import os\n"
        'client.repos.create(body={"name": "upstream-source"})\n'
        'source = os.environ["MESA_SERVER_URL"].removesuffix("/api/v1")\n'
        "client.repos.create(body={\n"
        '    "name": "my-repo",\n'
        '    "upstream": {"uri": source + "/my-org/upstream-source.git",\n'
        '                 "token": os.environ["MESA_API_KEY"]},\n'
        "})\n",
    ),
    "key_id": (("client",), 'key_id = client.admin.create_api_key(body={"name": "Old key"}).id\n'),
    "webhook_id": (
        ("empty_repo",),
        'webhook_id = client.webhooks.create(repo="my-repo", body={"url": "https://ci.example.com/h"}).id\n',
    ),
    "fuse": ((), ""),  # a machine that can mount: skipped, saying why, where it cannot
}


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    needs: tuple[str, ...]
    code: str

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def _blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        needs = tuple(n.strip() for n in (match["needs"] or "").split(",") if n.strip())
        line = text.count("\n", 0, match.start("code")) + 1
        found.append(Block(doc, line, needs, match["code"]))
    return found


BLOCKS = [block for doc in DOCS for block in _blocks(doc)]


def _prelude(needs: tuple[str, ...]) -> str:
    """The code of every need, each after the needs it builds on, each once."""
    ordered: list[str] = []

    def add(need: str) -> None:
        if need not in ordered:
            for earlier in PRELUDES[need][0]:
                add(earlier)
            ordered.append(need)

    for need in needs:
        add(need)
    return "".join(PRELUDES[need][1] for need in ordered)


def test_every_python_block_is_collected_with_known_needs() -> None:
    for doc in DOCS:
        assert len(_blocks(doc)) == doc.read_text(encoding="utf-8").count("```python\n"), doc
    assert {need for block in BLOCKS for need in block.needs} <= set(PRELUDES)
    # The blocks the generator writes are there (not silently lost to a format change).
    assert sum(1 for block in BLOCKS if block.doc.parent.parent.name == "sdks") == 32


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_the_block_runs_as_written(
    block: Block, docs_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "fuse" in block.needs and (why := fuse_unavailable()):
        pytest.skip(why)
    monkeypatch.setenv("MESA_ORG", "my-org")
    namespace: dict[str, object] = {"__name__": "__main__"}
    root_handlers, root_level = logging.root.handlers[:], logging.root.level
    try:
        exec(compile(_prelude(block.needs), "<prelude>", "exec"), namespace)
        # Padded so that a traceback names the block's own line in the doc.
        code = "\n" * (block.line - 1) + block.code
        exec(compile(code, str(block.doc.relative_to(ROOT)), "exec"), namespace)
    finally:
        logging.root.handlers[:], logging.root.level = root_handlers, root_level
        for value in namespace.values():
            if isinstance(value, Mesa):
                value.close()
