"""What the generator cannot serve, collected with the spec location of each problem."""

from __future__ import annotations

from collections.abc import Iterable


def location(*parts: object) -> str:
    """`paths./pets/{id}.get.responses.200`: a dotted path into the spec, as people read it."""
    return ".".join(str(part) for part in parts if part != "")


class SpecError(Exception):
    """The spec is unreadable, invalid, or uses something the generator does not support.

    Holds one line per problem, each starting with where in the spec it is.
    """

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class Problems:
    """Collects problems while the whole spec is walked, so that one run reports them all."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, message: str) -> None:
        line = f"{where}: {message}" if where else message
        if line not in self.lines:
            self.lines.append(line)

    def raise_if_any(self) -> None:
        if self.lines:
            raise SpecError(self.lines)
