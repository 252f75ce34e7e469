"""Pending changes and the commit they become."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mesa_sdk.models import FileEditTypedDict

__all__ = ["PendingChange", "file_edit"]


@dataclass(frozen=True, slots=True)
class PendingChange:
    """One edit the next commit will carry (a rename is a delete plus a create)."""

    path: str
    action: Literal["create", "update", "delete"]
    executable: bool | None = None
    """For create and update: whether the file is executable (mode 100755)."""


def file_edit(change: PendingChange, data: bytes | None) -> FileEditTypedDict:
    """The API edit for `change`: text as UTF-8, anything else as base64."""
    if change.action == "delete":
        return {"path": change.path, "action": "delete"}
    assert data is not None
    edit: FileEditTypedDict = {
        "path": change.path,
        "action": change.action,
        "executable": bool(change.executable),
    }
    try:
        edit["content"] = data.decode("utf-8")
        edit["encoding"] = "utf-8"
    except UnicodeDecodeError:
        edit["content"] = base64.b64encode(data).decode("ascii")
        edit["encoding"] = "base64"
    return edit
