"""What went wrong when no response came: the kind of failure, and a reason a person can act on.

httpx raises `ConnectError` for a refused connection, a name that does not resolve and a
failed TLS handshake alike; the cause chain (`ConnectionRefusedError`, `socket.gaierror`,
`ssl.SSLError`) tells them apart. The kind decides how the failure is retried:

- `tls`: the TLS handshake failed (a certificate that does not verify, `https://` to a port
  speaking plain HTTP). Trying again meets the same server with the same answer.
- `unreachable`: nothing accepted the connection (refused, no route, name not resolved, the
  connect timed out). A restarting server is back within seconds, a dead one is not, so these
  are retried only for a short while (`RetryConfig.max_unreachable_time`).
- `interrupted`: the connection was made and then timed out, was reset or dropped. The
  server is there; these are retried until the call's deadline.
- `final`: a mistake on this side (malformed URL or header, too many redirects, a body that
  does not decode); never retried.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Literal

import httpx

FailureKind = Literal["tls", "unreachable", "interrupted", "final"]

# What a TLS alert or OpenSSL reason usually means, for the reasons that have a likely cause.
_TLS_HINTS = {
    "WRONG_VERSION_NUMBER": "wrong version number, is the server speaking plain HTTP?",
    "RECORD_LAYER_FAILURE": "record layer failure, is the server speaking plain HTTP?",
    "HTTP_REQUEST": "the server speaks HTTPS; use https://",
}

_TIMEOUTS = {
    httpx.ConnectTimeout: "connect timed out",
    httpx.ReadTimeout: "read timed out",
    httpx.WriteTimeout: "write timed out",
    httpx.PoolTimeout: "no connection of the pool came free",
}


@dataclass(frozen=True, slots=True)
class TransportFailure:
    kind: FailureKind
    reason: str
    """Such as `cannot connect to http://127.0.0.1:8080: connection refused`."""


def classify(error: httpx.RequestError) -> TransportFailure:
    """The kind of a failure to get a response, and its reason."""
    chain = _cause_chain(error)
    # The innermost TLS error is OpenSSL's own, with its reason: a wrapper (aiohttp's) may be
    # an ssl.SSLError too, without one.
    innermost_first = chain[::-1]
    certificate = next(
        (e for e in innermost_first if isinstance(e, ssl.SSLCertVerificationError)), None
    )
    if certificate is not None:
        return TransportFailure("tls", _cannot_connect(error, _tls_reason(certificate)))
    if isinstance(error, httpx.ConnectError):
        tls = next((e for e in innermost_first if isinstance(e, ssl.SSLError)), None)
        if tls is not None:
            return TransportFailure("tls", _cannot_connect(error, _tls_reason(tls)))
        return TransportFailure("unreachable", _cannot_connect(error, _connect_reason(chain)))
    if isinstance(error, httpx.TimeoutException):
        kind: FailureKind = (
            "unreachable" if isinstance(error, httpx.ConnectTimeout) else "interrupted"
        )
        return TransportFailure(kind, _timeout_reason(error))
    if isinstance(error, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return TransportFailure("interrupted", _interrupted_reason(error, chain))
    return TransportFailure("final", _described(error))


def _cause_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and all(cause is not seen for seen in chain):
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _origin(error: httpx.RequestError) -> str:
    """`scheme://host:port` of the request, the port always shown."""
    try:
        url = error.request.url
    except RuntimeError:  # an error raised outside a request, as tests may
        return "the server"
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}:{port}"


def _cannot_connect(error: httpx.RequestError, reason: str) -> str:
    return f"cannot connect to {_origin(error)}: {reason}"


def _tls_reason(error: ssl.SSLError) -> str:
    # `reason` and `verify_message` are set by OpenSSL, absent when other code raised the error.
    reason: str = getattr(error, "reason", None) or ""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = getattr(error, "verify_message", None) or reason or str(error)
        return f"TLS handshake failed: certificate verify failed ({detail})"
    hint = _TLS_HINTS.get(reason)
    if hint is None:
        hint = reason.replace("_", " ").lower() if reason else (str(error) or type(error).__name__)
    return f"TLS handshake failed: {hint}"


def _connect_reason(chain: list[BaseException]) -> str:
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return "name not resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return os.strerror(cause.errno).lower()
    return str(chain[0]) or "connection failed"


def _timeout_reason(error: httpx.TimeoutException) -> str:
    what = next((text for cls, text in _TIMEOUTS.items() if isinstance(error, cls)), "timed out")
    try:
        seconds = error.request.extensions.get("timeout", {}).get("read")
    except RuntimeError:
        seconds = None
    return f"{what} after {seconds:g} s" if isinstance(seconds, (int, float)) else what


def _interrupted_reason(error: httpx.RequestError, chain: list[BaseException]) -> str:
    if any(isinstance(cause, ConnectionResetError) for cause in chain):
        return "connection reset by the server"
    return _described(error)


def _described(error: httpx.RequestError) -> str:
    return f"{type(error).__name__}: {str(error) or 'no detail'}"
