"""``python -m mesa_emulator serve ...``."""

from __future__ import annotations

import sys

from mesa_emulator.cli import main

sys.exit(main())
