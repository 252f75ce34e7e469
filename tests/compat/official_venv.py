"""The official client `mesa-sdk==0.1.2` in a virtual environment of its own, made once under
`.cache/official-client/` (ignored by git) and reused: its import name `mesa_sdk` clashes with
ours, so it never shares an interpreter with this project.

`python tests/compat/official_venv.py` prepares it (what `make official-client` runs); the
compatibility tests and the benchmarks call `official_python()`.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

OFFICIAL_PACKAGE = "mesa-sdk==0.1.2"
ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = ROOT / ".cache" / "official-client" / "venv"
PYTHON = VENV_DIR / "bin" / "python"
# Written only after a complete install, so a half-made environment is made again.
READY = VENV_DIR / ".installed-mesa-sdk-0.1.2"
INSTALL_TIMEOUT_S = 300


def official_python() -> tuple[Path | None, str]:
    """The official environment's interpreter, made when missing; or None and the reason it
    could not be made (no network to PyPI, typically)."""
    if READY.exists() and PYTHON.exists():
        return PYTHON, ""
    try:
        if not PYTHON.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
        done = subprocess.run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                OFFICIAL_PACKAGE,
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot make the official client's environment: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, f"pip cannot install {OFFICIAL_PACKAGE}: {' / '.join(tail)}"
    READY.touch()
    return PYTHON, ""


if __name__ == "__main__":
    python, reason = official_python()
    print(python if python is not None else reason)
    sys.exit(0 if python is not None else 1)
