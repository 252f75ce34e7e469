"""Fixtures of the reliability tests, and the soak test's table in the terminal summary of a
verbose run (`pytest -v`): a green run prints nothing beyond pytest's own summary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesa_emulator.server import Emulator

# Filled by the soak test; printed at the end of a verbose run that ran it.
SUMMARY_LINES: list[str] = []


@pytest.fixture(scope="module")
def own_emulator() -> Iterator[Emulator]:
    """An emulator for this module alone: its fault log and connections are the test's own."""
    with Emulator() as emulator:
        yield emulator


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY_LINES and terminalreporter.config.get_verbosity() > 0:
        terminalreporter.section("reliability: fault soak")
        for line in SUMMARY_LINES:
            terminalreporter.write_line(line)
