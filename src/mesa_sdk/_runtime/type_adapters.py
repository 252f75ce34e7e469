"""One pydantic `TypeAdapter` per annotation, built on first use and then reused."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import TypeAdapter

# Keyed by id(): annotations such as `Annotated[str, Field(...)]` may not be hashable. The
# annotation is kept in the value so that its id is never reused while the entry lives.
_adapters: dict[int, tuple[Any, TypeAdapter[Any]]] = {}
_lock = threading.Lock()


def type_adapter(annotation: Any) -> TypeAdapter[Any]:
    """The adapter that validates and serialises values of `annotation`."""
    entry = _adapters.get(id(annotation))
    if entry is not None and entry[0] is annotation:
        return entry[1]
    # Imported here: building adapters is call-time work, never import-time work.
    from pydantic import TypeAdapter

    with _lock:
        entry = _adapters.get(id(annotation))
        if entry is None or entry[0] is not annotation:
            entry = (annotation, TypeAdapter(annotation))
            _adapters[id(annotation)] = entry
    return entry[1]
