"""The SDK's log lines, on the `mesa_sdk` logger, with every credential redacted.

Headers are logged with credential-looking values replaced; bodies only by size, since they
may carry file content. A filter on the logger also scrubs every API key the SDK has used
from each record, in case one reaches a message some other way; the same scrubbing cleans
the text of error responses.

Retries and final failures are logged at INFO, each attempt at DEBUG. `MESA_LOG=info` or
`MESA_LOG=debug` in the environment (read once, at import) prints them on stderr.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from mesa_sdk._runtime.hooks import HookContext

logger = logging.getLogger("mesa_sdk")

REDACTED = "[redacted]"
# Keys kept for scrubbing; a function-provided key may rotate, so old ones age out.
_MAX_SECRETS = 64
# Shorter values are test placeholders, not secrets; scrubbing them would garble messages.
_MIN_SECRET_LENGTH = 8


class SecretRedactingFilter(logging.Filter):
    """Replaces every known secret in a record's message with `[redacted]`."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: dict[str, None] = {}  # insertion order: the oldest ages out first
        # Longest first: a key that contains another key must be replaced whole.
        self._longest_first: tuple[str, ...] = ()

    def add(self, secret: str) -> None:
        if secret in self._secrets:
            return
        self._secrets[secret] = None
        while len(self._secrets) > _MAX_SECRETS:
            del self._secrets[next(iter(self._secrets))]
        self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))

    def scrub(self, text: str, also: Iterable[str] = ()) -> str:
        """`text` with every known secret, and each of `also`, replaced by `[redacted]`."""
        secrets = self._longest_first
        extra = [secret for secret in also if len(secret) >= _MIN_SECRET_LENGTH]
        if extra:
            secrets = tuple(sorted({*secrets, *extra}, key=len, reverse=True))
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._longest_first:
            return True
        message = record.getMessage()
        redacted = self.scrub(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_secret_filter = SecretRedactingFilter()


def redact_secret(secret: str) -> None:
    """Makes sure `secret` never appears in a `mesa_sdk` log record."""
    if len(secret) < _MIN_SECRET_LENGTH:
        return
    _secret_filter.add(secret)
    if _secret_filter not in logger.filters:
        logger.addFilter(_secret_filter)


# Query parameters that carry a credential (an API key sent in the query), by name.
_credential_params: set[str] = set()


def redact_query_parameter(name: str) -> None:
    """Makes the SDK's log lines show the value of query parameter `name` as `[redacted]`."""
    _credential_params.add(name)


def _shown_url(url: httpx.URL) -> str:
    """The URL as it may be logged: each credential's query value redacted."""
    if not _credential_params or not url.query:
        return str(url)
    from urllib.parse import unquote_plus

    pairs = []
    for pair in url.query.decode("ascii").split("&"):
        name = pair.partition("=")[0]
        pairs.append(f"{name}={REDACTED}" if unquote_plus(name) in _credential_params else pair)
    return f"{url.copy_with(query=None)}?{'&'.join(pairs)}"


def scrub_secrets(text: str, also: Iterable[str] = ()) -> str:
    """`text` with every API key the SDK has used, and each of `also`, redacted."""
    return _secret_filter.scrub(text, also)


def redact_headers(headers: httpx.Headers) -> dict[str, str]:
    """Headers as they may be logged: `Authorization: Bearer [redacted]` and the like."""
    from mesa_sdk._runtime.credentials import is_credential_header

    shown: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "authorization" and " " in value:
            shown[name] = f"{value.split(' ', 1)[0]} {REDACTED}"
        elif is_credential_header(lowered):
            shown[name] = REDACTED
        else:
            shown[name] = value
    return shown


def log_attempt(context: HookContext, request: httpx.Request) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    try:
        size = f"{len(request.content)} bytes"
    except httpx.RequestNotRead:  # a hook may have set a streaming body
        size = "streamed"
    logger.debug(
        "%s attempt %d: %s %s headers=%s body=%s%s",
        context.method_name,
        context.attempt,
        request.method,
        _shown_url(request.url),
        redact_headers(request.headers),
        size,
        f" idempotency key {context.idempotency_key}" if context.idempotency_key else "",
    )


def log_response(context: HookContext, response: httpx.Response, elapsed_seconds: float) -> None:
    # Checked first: reading the arguments costs more than the call when DEBUG is off.
    if not logger.isEnabledFor(logging.DEBUG):
        return
    logger.debug(
        "%s attempt %d: %d %s in %d ms (request id %s)",
        context.method_name,
        context.attempt,
        response.status_code,
        response.reason_phrase,
        round(elapsed_seconds * 1000),
        response.headers.get("x-request-id"),
    )


def log_transport_error(context: HookContext, error: Exception, elapsed_seconds: float) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    logger.debug(
        "%s attempt %d: failed after %d ms: %s",
        context.method_name,
        context.attempt,
        round(elapsed_seconds * 1000),
        error,
    )


def _path(request: httpx.Request) -> str:
    # As sent (percent-encoded: `feature%2Fx` is one segment), without the query.
    return request.url.raw_path.split(b"?", 1)[0].decode("ascii")


def log_retry(
    context: HookContext,
    request: httpx.Request,
    failure: str,
    delay_seconds: float,
    wait_source: str,
    elapsed_seconds: float,
) -> None:
    logger.info(
        "%s: retrying %s %s in %.2f s (%sattempt %d of the call, %.1f s elapsed): %s",
        context.method_name,
        request.method,
        _path(request),
        delay_seconds,
        "Retry-After; " if wait_source == "Retry-After" else "",
        context.attempt + 1,
        elapsed_seconds,
        failure,
    )


def log_final_failure(
    context: HookContext,
    request: httpx.Request,
    failure: str,
    why_not_retried: str,
    elapsed_seconds: float,
    *,
    level: int,
) -> None:
    logger.log(
        level,
        "%s: giving up on %s %s after %d attempt%s over %.1f s: %s; %s",
        context.method_name,
        request.method,
        _path(request),
        context.attempt,
        "" if context.attempt == 1 else "s",
        elapsed_seconds,
        failure,
        why_not_retried,
    )


_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}


def log_to_stderr_from_environment(environ: Mapping[str, str]) -> logging.Handler | None:
    """With `MESA_LOG=info` or `debug`, a stderr handler on the `mesa_sdk` logger at that level.

    The handler scrubs secrets too, so that records of child loggers are covered. Returns the
    handler added, if any.
    """
    value = environ.get("MESA_LOG", "").strip().lower()
    if not value:
        return None
    level = _LEVELS.get(value)
    if level is None:
        import warnings

        warnings.warn(
            f"MESA_LOG={value!r} is ignored: expected one of {', '.join(_LEVELS)}", stacklevel=2
        )
        return None
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.addFilter(_secret_filter)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return handler


log_to_stderr_from_environment(os.environ)
