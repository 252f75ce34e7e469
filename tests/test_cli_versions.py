"""Every command answers `--version` with its name and the installed mesa-sdk version."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ([sys.executable, "-m", "mesa_emulator"], "mesa-emulator"),
        ([sys.executable, "-m", "mesa_sdk.fs.cli"], "mesa-fs"),
        ([sys.executable, "-m", "mesa_codegen"], "mesa_codegen"),
    ],
    ids=["mesa-emulator", "mesa-fs", "mesa_codegen"],
)
def test_version(command: list[str], name: str) -> None:
    result = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"{name} {version('mesa-sdk')}\n",
        "",
    )
