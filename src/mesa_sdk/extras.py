"""The optional parts of mesa-sdk, and the error that names the extra a missing part needs.

`pip install mesa-sdk` brings the client only. `mesa-sdk[fs]` adds fusepy for `mesa_sdk.fs`,
`mesa-sdk[emulator]` adds pygit2, starlette and uvicorn for `mesa_emulator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.util import find_spec

__all__ = ["MissingExtraError", "require_extra"]


class MissingExtraError(ModuleNotFoundError):
    """An optional part was used without the extra that installs its dependencies."""


def require_extra(extra: str, part: str, modules: Mapping[str, str], hint: str = "") -> None:
    """Raises `MissingExtraError` unless every module is importable.

    `modules` maps each import name to the distribution pip installs it from, which the message
    names; `part` is what needs them (`mesa_emulator`), `hint` any further step (a system
    package). Only looks the modules up: nothing is imported.
    """
    missing = [dist for module, dist in modules.items() if find_spec(module) is None]
    if missing:
        raise MissingExtraError(
            f"{part} needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f"pip install 'mesa-sdk[{extra}]'{hint}",
            name=next(module for module, dist in modules.items() if dist == missing[0]),
        )
