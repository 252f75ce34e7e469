"""The contract's operations, scopes, parameter limits and defaults, as the generated SDK
carries them from openapi.yaml: the emulator reads them here, once, rather than copying
numbers and scope names by hand (as ``errors.py`` reads the error codes' statuses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args, get_origin

from annotated_types import Ge, Le, MaxLen, MinLen

import mesa_sdk.resources
from mesa_sdk.models.scope import Scope
from mesa_sdk.resources import Operation, Param

__all__ = [
    "ALL_SCOPES",
    "ParamRule",
    "idempotency_key_rule",
    "operation",
    "param_rule",
    "scope_of",
]

ALL_SCOPES: tuple[str, ...] = get_args(Scope)


_operations = cache(mesa_sdk.resources.operations)


def operation(operation_id: str) -> Operation:
    """The contract's operation ``operation_id`` (KeyError for one the contract lacks)."""
    return _operations()[operation_id]


def scope_of(operation_id: str) -> str:
    """The one scope the operation's ``security`` requirement names."""
    (scope,) = operation(operation_id).scopes
    return scope


@dataclass(frozen=True)
class ParamRule:
    """What the contract allows for one parameter of one operation."""

    name: str
    required: bool
    default: Any
    low: int | None
    """``minimum`` (integers) or ``minLength`` (strings)."""
    high: int | None
    """``maximum`` (integers) or ``maxLength`` (strings)."""
    pattern: str | None
    choices: tuple[str, ...] | None = None
    """The values of an enumeration."""

    def admits(self, text: str) -> bool:
        """Whether the string ``text`` has the allowed length and matches the pattern."""
        if self.low is not None and len(text) < self.low:
            return False
        if self.high is not None and len(text) > self.high:
            return False
        if self.pattern is None:
            return True
        # JSON Schema patterns search; an anchored one must match all (`$` in Python would
        # also match before a final line break).
        if self.pattern.startswith("^") and self.pattern.endswith("$"):
            return re.fullmatch(self.pattern[1:-1], text) is not None
        return re.search(self.pattern, text) is not None

    def describe(self) -> str:
        """The rule in words, for an error message."""
        parts = [] if self.pattern is None else [f"match {self.pattern}"]
        if self.high is not None:
            parts.append(f"have {self.low or 0} to {self.high} characters")
        return " and ".join(parts)


def _integer(bound: object) -> int:
    assert isinstance(bound, int), bound
    return bound


def _rule(param: Param) -> ParamRule:
    low, high, pattern = _limits(param.annotation)
    choices = get_args(param.annotation) if get_origin(param.annotation) is Literal else None
    return ParamRule(
        param.wire_name, param.required, param.server_default, low, high, pattern, choices
    )


def _limits(annotation: Any) -> tuple[int | None, int | None, str | None]:
    """The low and high bounds and the pattern of an `Annotated[..., Field(...)]`."""
    low: int | None = None
    high: int | None = None
    pattern: str | None = None
    for field_info in get_args(annotation)[1:]:
        for rule in getattr(field_info, "metadata", ()):
            if isinstance(rule, Ge):
                low = _integer(rule.ge)
            elif isinstance(rule, MinLen):
                low = rule.min_length
            elif isinstance(rule, Le):
                high = _integer(rule.le)
            elif isinstance(rule, MaxLen):
                high = rule.max_length
            elif getattr(rule, "pattern", None) is not None:
                pattern = str(rule.pattern)
    return low, high, pattern


@cache
def param_rule(operation_id: str, name: str) -> ParamRule:
    """The rule of the path or query parameter ``name`` of ``operation_id``."""
    for param in operation(operation_id).params:
        if param.location in ("path", "query") and param.wire_name == name:
            return _rule(param)
    raise KeyError(f"{operation_id} has no parameter {name!r}")


@cache
def idempotency_key_rule(operation_id: str) -> ParamRule:
    """The rule for the value of ``operation_id``'s idempotency header."""
    found = operation(operation_id)
    if found.idempotency_header is None:
        raise KeyError(f"{operation_id} takes no idempotency key")
    low, high, pattern = _limits(found.idempotency_key_annotation)
    return ParamRule(found.idempotency_header, False, None, low, high, pattern)
