"""`pip install mesa-sdk` without extras: the client works, and each optional part names the
extra it needs instead of failing on a missing module.

The wheel is built from this checkout and installed into a fresh virtual environment with
nothing else: its dependencies (httpx, pydantic, typing-inspection, and pytest to try the
fixtures) are the ones of this environment, made visible through a `.pth` file of links, so
the test needs no network.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120

EMULATOR_EXTRA = (
    "mesa_emulator needs the 'emulator' extra (pygit2, starlette, uvicorn not installed): "
    "pip install 'mesa-sdk[emulator]'"
)
FS_EXTRA = (
    "mesa_sdk.fs needs the 'fs' extra (fusepy not installed): pip install 'mesa-sdk[fs]'; "
    "FUSE also needs the system's libfuse 2 and fusermount (Debian/Ubuntu: apt install fuse; "
    "Fedora: dnf install fuse fuse-libs; macOS: macFUSE)"
)
CODEGEN_EXTRA = (
    "mesa_codegen needs the 'codegen' extra (pyyaml, jinja2, openapi-spec-validator, ruff not "
    "installed): pip install 'mesa-sdk[codegen]'"
)


class BareInstall:
    """A virtual environment holding the wheel and its required dependencies only."""

    def __init__(self, venv: Path, workdir: Path) -> None:
        self.bin = venv / "bin"
        self.workdir = workdir

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PYTHON", "MESA_", "VIRTUAL_ENV"))
        }
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            MESA_API_KEY="mesa_bare_install",
            MESA_SERVER_URL="http://127.0.0.1:9/api/v1",
        )
        return subprocess.run(
            command, cwd=self.workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.bin / "python"), "-c", code)


def _required_distributions(roots: list[str]) -> dict[str, importlib.metadata.Distribution]:
    """`roots` and everything they require, extras left out, as installed here."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        found[name] = dist = importlib.metadata.distribution(name)
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def _link_dependencies(links: Path) -> None:
    """Links the top-level files of mesa-sdk's required distributions (and pytest's) into
    `links`: the same packages this environment runs, without the extras' ones."""
    links.mkdir()
    dependencies = _required_distributions(["mesa-sdk", "pytest"])
    del dependencies["mesa-sdk"]  # the wheel's copy is installed, not this checkout's
    for dist in dependencies.values():
        tops = {Path(str(file)).parts[0] for file in dist.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            target = Path(str(dist.locate_file(top)))
            if target.exists() and not (links / top).exists() and not top.endswith(".pth"):
                (links / top).symlink_to(target)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BareInstall]:
    base = tmp_path_factory.mktemp("bare-install")
    wheels = base / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, ROOT],
        check=True,
        timeout=TIMEOUT,
        capture_output=True,
    )
    (wheel,) = wheels.glob("mesa_sdk-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", wheel],
        check=True,
        timeout=TIMEOUT,
        capture_output=True,
    )
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    _link_dependencies(base / "links")
    (Path(purelib) / "required_dependencies.pth").write_text(f"{base / 'links'}\n")
    workdir = base / "work"
    workdir.mkdir()
    yield BareInstall(venv, workdir)


def test_the_client_works_without_extras(bare: BareInstall) -> None:
    done = bare.python(
        "import importlib.metadata, importlib.util, mesa_sdk\n"
        "print(mesa_sdk.__file__)\n"
        "print(mesa_sdk.Mesa())\n"
        "print([m for m in ('pygit2', 'starlette', 'uvicorn', 'fuse', 'yaml', 'jinja2')"
        " if importlib.util.find_spec(m)])\n"
        "for line in importlib.metadata.requires('mesa-sdk'): print(line)\n"
    )
    assert done.returncode == 0, done.stderr
    location, client, extras_found, *requires = done.stdout.splitlines()
    assert location.startswith(str(bare.bin.parent))  # the wheel's copy, not this checkout
    assert client == "Mesa(server_url='http://127.0.0.1:9/api/v1')"
    assert extras_found == "[]"
    extras = {line.split("extra == ")[1].strip("'\"") for line in requires if "extra ==" in line}
    assert {"codegen", "emulator", "fs"} <= extras
    assert [line for line in requires if "extra ==" not in line] == [
        "httpx<1,>=0.27",
        "pydantic<3,>=2.7",
        "typing-inspection>=0.4",
    ]
    assert [line for line in requires if line.endswith("extra == 'codegen'")] == [
        "jinja2>=3.1; extra == 'codegen'",
        "openapi-spec-validator>=0.7; extra == 'codegen'",
        "pyyaml>=6; extra == 'codegen'",
        "ruff>=0.8; extra == 'codegen'",
    ]


def test_the_emulator_names_its_extra(bare: BareInstall) -> None:
    done = bare.python("from mesa_emulator import Emulator")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"mesa_sdk.extras.MissingExtraError: {EMULATOR_EXTRA}"


def test_the_emulator_command_names_its_extra(bare: BareInstall) -> None:
    done = bare.run("mesa-emulator", "serve")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"mesa-emulator: {EMULATOR_EXTRA}\n"


def test_the_pytest_fixture_names_its_extra(bare: BareInstall) -> None:
    (bare.workdir / "test_with_the_fixture.py").write_text(
        "def test_uses_the_client(mesa_client):\n    pass\n"
    )
    done = bare.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    assert f"mesa_sdk.extras.MissingExtraError: {EMULATOR_EXTRA}" in errors
    assert lines[-1].startswith("1 error in ")


def test_a_mount_names_the_fs_extra_and_the_system_fuse(bare: BareInstall) -> None:
    done = bare.run("mesa-fs", "mount", "acme/app", str(bare.workdir))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"mesa-fs: FUSE is unavailable: {FS_EXTRA}\n"


def test_the_generator_names_its_extra(bare: BareInstall) -> None:
    done = bare.run("python", "-m", "mesa_codegen", "--check")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"ModuleNotFoundError: {CODEGEN_EXTRA}"
