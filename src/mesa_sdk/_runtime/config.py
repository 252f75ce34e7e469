"""What users configure: retries, per-request options, and the generated SDK's defaults.

The config classes are plain frozen dataclasses checked by hand rather than pydantic models:
building pydantic models costs milliseconds at import, and every client needs these classes.
Every problem is reported with the key path that holds it (`retry_config.backoff.exponent`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal, TypedDict

from mesa_sdk._runtime.credentials import SecurityScheme
from mesa_sdk._runtime.errors import ErrorMap, InvalidOptionsError

if TYPE_CHECKING:
    from mesa_sdk._runtime.operation import Security

RetryStrategy = Literal["backoff", "none"]
AsyncTransport = Literal["httpx", "aiohttp"]
"""What the async methods send with: httpx's own transport, or aiohttp under httpx's API."""


class BackoffStrategyDict(TypedDict, total=False):
    """`BackoffStrategy` as a dict; a missing key takes the default."""

    initial_interval: int
    max_interval: int
    exponent: float
    max_elapsed_time: int
    jitter: float


class _RetryConfigDictRequired(TypedDict):
    strategy: RetryStrategy


class RetryConfigDict(_RetryConfigDictRequired, total=False):
    """`RetryConfig` as a dict.

    `{"strategy": "backoff", "backoff": {...}}` or `{"strategy": "none"}`.
    """

    backoff: BackoffStrategyDict
    retry_connection_errors: bool
    max_unreachable_time: int


class RequestOptions(TypedDict, total=False):
    """Settings for one call, over the client's."""

    timeout_ms: int
    """Each attempt's timeout, in milliseconds."""
    retries: RetryConfig | RetryConfigDict
    headers: Mapping[str, str]
    """Extra headers; they win over every header the SDK sets."""
    idempotency_key: str
    """The key sent in the operation's idempotency header, on every attempt; it must follow
    the spec's rule for that header's value."""


# Problems are (key path below the checked object, message) pairs.
_Problems = list[tuple[str, str]]
_Check = Callable[[object], "str | None"]


def _non_negative_int(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an int of milliseconds, got {type(value).__name__}"
    return None if value >= 0 else f"must be >= 0, got {value}"


def _positive_int(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an int of milliseconds, got {type(value).__name__}"
    return None if value > 0 else f"must be > 0, got {value}"


def _number_at_least_one(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {type(value).__name__}"
    return None if math.isfinite(value) and value >= 1 else f"must be >= 1, got {value}"


def _fraction(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {type(value).__name__}"
    return None if 0 <= value <= 1 else f"must be between 0 and 1, got {value}"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else f"expected a bool, got {type(value).__name__}"


def _raise_problems(where: str, problems: _Problems) -> None:
    if problems:
        raise InvalidOptionsError(
            "; ".join(f"{where}.{path}: {message}" for path, message in problems)
        )


@dataclass(frozen=True, slots=True)
class BackoffStrategy:
    """Exponential backoff between attempts. Intervals are in milliseconds.

    The n-th retry waits `min(initial_interval * exponent**n, max_interval)`, less a random
    part of up to `jitter` of it. `max_elapsed_time` is a deadline for the whole call: no
    attempt runs and no wait ends after it.
    """

    initial_interval: int = 500
    max_interval: int = 60_000
    exponent: float = 1.5
    max_elapsed_time: int = 300_000
    jitter: float = 0.25

    def __post_init__(self) -> None:
        _raise_problems("BackoffStrategy", _check_fields(self, _BACKOFF_CHECKS))


_BACKOFF_CHECKS: dict[str, _Check] = {
    "initial_interval": _non_negative_int,
    "max_interval": _non_negative_int,
    "exponent": _number_at_least_one,
    "max_elapsed_time": _positive_int,
    "jitter": _fraction,
}


_DEFAULT_MAX_UNREACHABLE_TIME = 10_000


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """When and how a failed call is tried again.

    `strategy="none"` makes one attempt. `strategy="backoff"` retries the operation's retryable
    statuses, and connection errors and timeouts when `retry_connection_errors` is true. A
    failed TLS handshake is never retried.

    `max_unreachable_time` (milliseconds) bounds how long a server that cannot be reached at
    all (connection refused, no route, name not resolved, connect timed out) is retried:
    no wait is started that would end more than this long after the start of the first attempt
    of a run of such failures. A restarting server is back within it; a dead one fails the
    call well before `backoff.max_elapsed_time`, which still bounds every other retry.
    """

    strategy: RetryStrategy
    backoff: BackoffStrategy | None = None
    retry_connection_errors: bool = True
    max_unreachable_time: int = _DEFAULT_MAX_UNREACHABLE_TIME

    def __post_init__(self) -> None:
        problems = _check_fields(self, _RETRY_CHECKS)
        if self.strategy == "backoff" and self.backoff is None:
            problems.append(("backoff", 'is required when strategy is "backoff"'))
        _raise_problems("RetryConfig", problems)


def _strategy(value: object) -> str | None:
    return None if value in ("backoff", "none") else f'expected "backoff" or "none", got {value!r}'


def _backoff(value: object) -> str | None:
    if value is None or isinstance(value, BackoffStrategy):
        return None
    return f"expected a BackoffStrategy, got {type(value).__name__}"


_RETRY_CHECKS: dict[str, _Check] = {
    "strategy": _strategy,
    "backoff": _backoff,
    "retry_connection_errors": _boolean,
    "max_unreachable_time": _positive_int,
}


def _check_fields(instance: object, checks: Mapping[str, _Check]) -> _Problems:
    problems: _Problems = []
    for declared in fields(instance):  # type: ignore[arg-type]
        message = checks[declared.name](getattr(instance, declared.name))
        if message is not None:
            problems.append((declared.name, message))
    return problems


def _check_mapping(value: Mapping[object, object], checks: Mapping[str, _Check]) -> _Problems:
    problems: _Problems = []
    for key, item in value.items():
        check = checks.get(key) if isinstance(key, str) else None
        if check is None:
            problems.append((str(key), f"unknown key (expected one of {', '.join(checks)})"))
        else:
            message = check(item)
            if message is not None:
                problems.append((key, message))  # type: ignore[arg-type]
    return problems


def parse_retry_config(value: object, where: str) -> RetryConfig:
    """A `RetryConfig` from a user's config or dict; `where` names it in messages."""
    if isinstance(value, RetryConfig):
        return value
    if not isinstance(value, Mapping):
        raise InvalidOptionsError(
            f"{where}: expected a RetryConfig or a dict, got {type(value).__name__}"
        )
    problems: _Problems = []
    checks = {**_RETRY_CHECKS, "backoff": lambda _: None}
    problems.extend(_check_mapping(value, checks))
    if "strategy" not in value:
        problems.append(("strategy", 'is required: "backoff" or "none"'))
    backoff = value.get("backoff")
    if isinstance(backoff, Mapping):
        problems.extend(
            (f"backoff.{path}", message)
            for path, message in _check_mapping(backoff, _BACKOFF_CHECKS)
        )
    elif backoff is not None and not isinstance(backoff, BackoffStrategy):
        problems.append(
            ("backoff", f"expected a dict or a BackoffStrategy, got {type(backoff).__name__}")
        )
    elif backoff is None and value.get("strategy") == "backoff":
        problems.append(("backoff", 'is required when strategy is "backoff"'))
    _raise_problems(where, problems)
    if isinstance(backoff, Mapping):
        backoff = BackoffStrategy(**backoff)
    return RetryConfig(
        strategy=value["strategy"],
        backoff=backoff,
        retry_connection_errors=value.get("retry_connection_errors", True),
        max_unreachable_time=value.get("max_unreachable_time", _DEFAULT_MAX_UNREACHABLE_TIME),
    )


def check_timeout_ms(value: object, where: str) -> int:
    """A timeout in milliseconds: a positive int."""
    message = _positive_int(value)
    if message is not None:
        raise InvalidOptionsError(f"{where}: {message}")
    return value  # type: ignore[return-value]


HEADER_VALUE_RULE = "ASCII without line breaks"


def is_header_value(text: str) -> bool:
    """Whether `text` goes on the wire as a header value as it is (`HEADER_VALUE_RULE`)."""
    return text.isascii() and "\r" not in text and "\n" not in text and "\0" not in text


def check_headers(value: object, where: str) -> dict[str, str]:
    """Extra headers: str names and str values that can go on the wire as they are."""
    if not isinstance(value, Mapping):
        raise InvalidOptionsError(
            f"{where}: expected a mapping of str to str, got {type(value).__name__}"
        )
    problems: list[str] = []
    for name, item in value.items():
        if (
            not isinstance(name, str)
            or not name
            or not name.isascii()
            or not name.isprintable()
            or " " in name
            or ":" in name
        ):
            problems.append(f"{where}: {name!r} is not a valid header name")
        elif not isinstance(item, str):
            problems.append(f"{where}.{name}: expected a str, got {type(item).__name__}")
        elif not is_header_value(item):
            # The value is not echoed: headers may carry secrets.
            problems.append(f"{where}.{name}: the value must be {HEADER_VALUE_RULE}")
    if problems:
        raise InvalidOptionsError("; ".join(problems))
    return dict(value)


def check_async_transport(value: object, where: str) -> AsyncTransport:
    """`"httpx"`, or `"aiohttp"` when its extra is installed."""
    if value == "httpx":
        return "httpx"
    if value != "aiohttp":
        raise InvalidOptionsError(f'{where}: expected "httpx" or "aiohttp", got {value!r}')
    # Only looked up: importing aiohttp costs tens of milliseconds that the first async call
    # pays instead.
    from importlib.util import find_spec

    if find_spec("httpx_aiohttp") is None or find_spec("aiohttp") is None:
        raise InvalidOptionsError(
            f"{where}=\"aiohttp\" needs the aiohttp extra: pip install 'mesa-sdk[aiohttp]'"
        )
    return "aiohttp"


class CallOptions:
    """A call's checked `request_options`; None means "use the client's setting"."""

    # A plain class: a dataclass costs about a millisecond of import time.
    __slots__ = ("headers", "idempotency_key", "retries", "timeout_ms")

    def __init__(
        self,
        *,
        timeout_ms: int | None = None,
        retries: RetryConfig | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.headers = headers
        self.idempotency_key = idempotency_key


_REQUEST_OPTION_KEYS = tuple(RequestOptions.__annotations__)
_NO_OPTIONS = CallOptions()


def parse_request_options(options: object) -> CallOptions:
    """Checks a call's `request_options`, reporting every malformed key at once."""
    if options is None:
        return _NO_OPTIONS
    if not isinstance(options, Mapping):
        raise InvalidOptionsError(f"request_options: expected a dict, got {type(options).__name__}")
    problems: list[str] = []
    for key in options:
        if key not in _REQUEST_OPTION_KEYS:
            problems.append(
                f"request_options: unknown key {key!r}{_did_you_mean(key, _REQUEST_OPTION_KEYS)}"
            )
    parsed: dict[str, object] = {}
    parsers: dict[str, Callable[[object, str], object]] = {
        "timeout_ms": check_timeout_ms,
        "retries": parse_retry_config,
        "headers": check_headers,
        "idempotency_key": check_idempotency_key,
    }
    for key, parse in parsers.items():
        if key in options:
            try:
                parsed[key] = parse(options[key], f"request_options.{key}")
            except InvalidOptionsError as error:
                problems.append(str(error))
    if problems:
        raise InvalidOptionsError("; ".join(problems))
    return CallOptions(**parsed)  # type: ignore[arg-type]


def check_idempotency_key(value: object, where: str) -> str:
    """An idempotency key is a str; the operation's spec rule is checked when the call is made."""
    if not isinstance(value, str):
        raise InvalidOptionsError(f"{where}: expected a str, got {type(value).__name__}")
    return value


def _did_you_mean(key: object, known: tuple[str, ...]) -> str:
    if not isinstance(key, str):
        return f" (expected one of {', '.join(known)})"
    # Imported here: only a mistake needs it.
    from difflib import get_close_matches

    close = get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f" (expected one of {', '.join(known)}){hint}"


@dataclass(frozen=True)
class SdkDefaults:
    """The generated SDK's settings, used where neither the client nor the call sets one."""

    server_url: str
    timeout_ms: int
    retry_config: RetryConfig
    api_key_env: str | None
    """The environment variable read when no `api_key` is given; None when no security scheme
    takes a key (a token or an API key), and then the client takes no `api_key`."""
    server_url_env: str
    """The environment variable read when no `server_url` is given."""
    user_agent: str
    error_map: ErrorMap
    client_name: str = "Mesa"
    """The client class's name, for messages that tell users what to pass."""
    security_schemes: Mapping[str, SecurityScheme] = field(
        default_factory=lambda: {"bearer": SecurityScheme()}
    )
    """The spec's security schemes by name; without any, the client sends no credentials."""
    security: Security = (("bearer",),)
    """The spec's top-level security requirements, for operations without their own."""
    param_envs: Mapping[str, str] = field(default_factory=dict)
    """For each path parameter the client holds a default for, the environment variable read
    when the constructor is not given one."""
