"""Local emulator of the Mesa Depot API, backed by real git repositories.

    from mesa_emulator import Emulator

    with Emulator() as emu:          # a free loopback port, a temporary data folder
        emu.url                      # http://127.0.0.1:<port>/api/v1
        emu.api_key                  # the bootstrap key: every scope on every organization

From a shell: ``mesa-emulator serve`` (or ``python -m mesa_emulator serve``).  Importing this
package is cheap: the server's modules load only when ``Emulator`` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesa_emulator.server import Emulator

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from mesa_emulator.server import Emulator

        return Emulator
    raise AttributeError(f"module 'mesa_emulator' has no attribute {name!r}")
