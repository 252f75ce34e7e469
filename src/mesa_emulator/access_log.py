"""One log line per request, on the ``mesa_emulator.access`` logger at INFO::

    GET /api/v1/acme/repos?limit=2 200 3.1 ms req_5f0c...

The method, the request target as sent (percent-escapes kept), the status (``-`` when the
connection was dropped without an answer), the time to the end of the answer, and the
request id.  Never a credential: headers are not logged at all, the value of a query parameter
whose name looks secret (``signature``, ``token``, ``api_key``...) is replaced by
``[redacted]``, and so is the password of a URL sent whole (``GET http://user:pw@host/...``).

``mesa-emulator`` prints these lines on stderr unless ``--quiet``; an in-process
:class:`~mesa_emulator.Emulator` leaves them to the program's logging configuration.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

__all__ = ["ACCESS_LOGGER", "log_request", "loggable_target"]

ACCESS_LOGGER = logging.getLogger("mesa_emulator.access")

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"sig|token|key|secret|pass|auth|credential", re.IGNORECASE)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@]*)@")


def _without_password(match: re.Match[str]) -> str:
    user, colon, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}{':' + REDACTED if colon else ''}@"


def loggable_target(path: str, query: str) -> str:
    """``path?query`` with a URL's password and the values of secret-looking parameters
    redacted."""
    shown = _USERINFO.sub(_without_password, path, count=1)
    if not query:
        return shown
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and _SECRET_NAME.search(unquote(name)):
            value = REDACTED
        pairs.append(f"{name}{equals}{value}")
    return f"{shown}?{'&'.join(pairs)}"


def log_request(
    method: str, path: str, query: str, status: int | None, seconds: float, request_id: str
) -> None:
    """Logs one answered (or dropped: ``status`` None) request."""
    if not ACCESS_LOGGER.isEnabledFor(logging.INFO):
        return
    ACCESS_LOGGER.info(
        "%s %s %s %.1f ms %s",
        method,
        loggable_target(path, query),
        "-" if status is None else status,
        seconds * 1000,
        request_id,
    )
