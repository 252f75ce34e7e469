"""`with_raw_response` methods, as `mypy --strict` sees them: each takes exactly the arguments of
the method it stands for and returns a `RawResponse` of that method's result.

A wrong argument must be an error: each `type: ignore[code]` below would itself fail the run
(`--strict` reports an unused ignore) if mypy accepted the line or saw a different error.
"""

from __future__ import annotations

from pathlib import Path

from tests.shared import assert_mypy_strict_passes

ROOT = Path(__file__).resolve().parents[2]

USE = """
from typing_extensions import assert_type

from mesa_sdk import AsyncPage, Mesa, RawResponse, SyncPage
from mesa_sdk.models import Repo, RepoList


def sync_calls(client: Mesa) -> None:
    raw = client.repos.with_raw_response
    assert_type(raw.get(repo="r"), RawResponse[Repo])
    assert_type(raw.get(repo="r").parse(), Repo)
    assert_type(raw.list(limit=1), RawResponse[SyncPage[RepoList, Repo]])
    assert_type(client.content.with_raw_response.get_raw(repo="r"), RawResponse[bytes])
    assert_type(
        client.diffs.with_raw_response.get_text(repo="r", base="a", head="b"), RawResponse[str]
    )
    raw.get(repository="r")  # type: ignore[call-arg]
    raw.get(repo=1)  # type: ignore[arg-type]
    raw.get("r")  # type: ignore[call-arg]


async def async_calls(client: Mesa) -> None:
    raw = client.repos.with_raw_response
    assert_type(await raw.get_async(repo="r"), RawResponse[Repo])
    assert_type(await raw.list_async(limit=1), RawResponse[AsyncPage[RepoList, Repo]])
    await raw.get_async(repository="r")  # type: ignore[call-arg]
"""


def test_raw_methods_keep_the_methods_arguments_and_return_a_raw_response_of_their_result(
    tmp_path: Path,
) -> None:
    use = tmp_path / "raw_response_use.py"
    use.write_text(USE)
    assert_mypy_strict_passes(
        str(use),
        cwd=ROOT,
        options=(
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy_cache"),
        ),
    )
