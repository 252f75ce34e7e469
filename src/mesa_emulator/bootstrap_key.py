"""The bootstrap key a data folder remembers, so a restart on it accepts yesterday's key.

A key the emulator generates is kept in ``<data>/bootstrap-key``, readable by its owner only
(mode 0600).  A key given (``--api-key``, ``MESA_API_KEY``, ``Emulator(api_key=...)``) is
used for that run and never written: it may be a key of the real service.

Crash safety: the file is written whole to ``bootstrap-key.tmp``, fsync'd, then renamed over
``bootstrap-key`` (and the folder fsync'd), so a kill at any point leaves either no key file
(the next start makes one) or a complete one; a left-over temporary file is replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from mesa_emulator.auth import generate_key
from mesa_emulator.validation import is_visible_ascii

__all__ = ["KEY_FILE", "BadKeyFile", "stored_or_new_key"]

KEY_FILE = "bootstrap-key"


class BadKeyFile(Exception):
    """The data folder's key file holds no usable key."""


def stored_or_new_key(data_dir: Path) -> str:
    """The key kept in ``data_dir``; a new one, kept there, when there is none yet."""
    path = data_dir / KEY_FILE
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        key = generate_key()
        _write_atomically(path, (key + "\n").encode("ascii"))
        return key
    key = text.decode("ascii", errors="replace").strip()
    if not is_visible_ascii(key, 512):
        raise BadKeyFile(f"{path} holds no API key; remove it to have a new key made")
    return key


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.unlink(missing_ok=True)  # what a kill left; O_EXCL below makes it ours, mode 0600
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
