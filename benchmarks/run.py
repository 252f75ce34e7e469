"""Runs every benchmark and prints its table: `make bench`."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import async_concurrency, emulator_throughput, fs_mount, sdk_overhead

if __name__ == "__main__":
    sdk_overhead.main()
    async_concurrency.main()
    emulator_throughput.main()
    fs_mount.main()
