"""The contract's operations, scopes, parameter limits and defaults, as the generated SDK
carries them from openapi.yaml: the emulator reads them here, once, rather than copying
numbers and scope names by hand (as ``errors.py`` reads the error codes' statuses)."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any, get_args

from annotated_types import Ge, Le, MaxLen, MinLen

import mesa_sdk.resources
from mesa_sdk._runtime.operation import Operation, Param
from mesa_sdk.models.scope import Scope

__all__ = ["ALL_SCOPES", "QueryRule", "operation", "query_rule", "scope_of"]

ALL_SCOPES: tuple[str, ...] = get_args(Scope)


@cache
def _operations() -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    for module_info in pkgutil.iter_modules(mesa_sdk.resources.__path__):
        module = importlib.import_module(f"mesa_sdk.resources.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, Operation):
                found[value.operation_id] = value
    return found


def operation(operation_id: str) -> Operation:
    """The contract's operation ``operation_id`` (KeyError for one the contract lacks)."""
    return _operations()[operation_id]


def scope_of(operation_id: str) -> str:
    """The one scope the operation's ``security`` requirement names."""
    (scope,) = operation(operation_id).scopes
    return scope


@dataclass(frozen=True)
class QueryRule:
    """What the contract allows for one query parameter of one operation."""

    name: str
    required: bool
    default: Any
    low: int | None
    """``minimum`` (integers) or ``minLength`` (strings)."""
    high: int | None
    """``maximum`` (integers) or ``maxLength`` (strings)."""


def _integer(bound: object) -> int:
    assert isinstance(bound, int), bound
    return bound


def _bounds(param: Param) -> tuple[int | None, int | None]:
    low: int | None = None
    high: int | None = None
    for field_info in get_args(param.annotation)[1:]:
        for rule in getattr(field_info, "metadata", ()):
            if isinstance(rule, Ge):
                low = _integer(rule.ge)
            elif isinstance(rule, MinLen):
                low = rule.min_length
            elif isinstance(rule, Le):
                high = _integer(rule.le)
            elif isinstance(rule, MaxLen):
                high = rule.max_length
    return low, high


@cache
def query_rule(operation_id: str, name: str) -> QueryRule:
    """The rule of the query parameter ``name`` of ``operation_id``."""
    for param in operation(operation_id).params:
        if param.location == "query" and param.wire_name == name:
            low, high = _bounds(param)
            return QueryRule(name, param.required, param.server_default, low, high)
    raise KeyError(f"{operation_id} has no query parameter {name!r}")
