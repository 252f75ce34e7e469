"""A client's settings, resolved once from its arguments, the environment and the SDK defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from mesa_sdk._runtime.config import (
    RetryConfig,
    RetryConfigDict,
    SdkDefaults,
    check_headers,
    check_timeout_ms,
    parse_retry_config,
)
from mesa_sdk._runtime.credentials import ApiKey, ApiKeyInput
from mesa_sdk._runtime.errors import (
    ErrorMap,
    InvalidApiUrlError,
    InvalidOptionsError,
    MissingCredentialError,
)


class ClientSettings:
    """Everything a client needs to send requests, checked."""

    # A plain class: a dataclass costs about a millisecond of import time.
    __slots__ = (
        "api_key",
        "client_name",
        "default_timeout_ms",
        "error_map",
        "headers",
        "param_defaults",
        "param_envs",
        "retry_config",
        "server_url",
        "timeout_ms",
        "user_agent",
    )

    def __init__(
        self,
        *,
        server_url: str,
        api_key: ApiKey | None,
        param_defaults: Mapping[str, str | None],
        param_envs: Mapping[str, str],
        timeout_ms: int | None,
        default_timeout_ms: int,
        retry_config: RetryConfig,
        headers: Mapping[str, str],
        user_agent: str,
        error_map: ErrorMap,
        client_name: str,
    ) -> None:
        self.server_url = server_url
        """An absolute http(s) URL without a trailing `/`."""
        self.api_key = api_key
        self.param_defaults = param_defaults
        self.param_envs = param_envs
        """The environment variable each of `param_defaults` was read from when not given."""
        self.timeout_ms = timeout_ms
        """The client's `timeout_ms`, or None when it was not given."""
        self.default_timeout_ms = default_timeout_ms
        """The timeout of the httpx clients the SDK opens, when `timeout_ms` is not given."""
        self.retry_config = retry_config
        self.headers = headers
        self.user_agent = user_agent
        self.error_map = error_map
        self.client_name = client_name

    def __repr__(self) -> str:
        # The key shows as ApiKey('[redacted]').
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"ClientSettings({fields})"


def resolve_settings(
    defaults: SdkDefaults,
    *,
    api_key: ApiKeyInput | None,
    server_url: str | None,
    param_defaults: Mapping[str, str | None],
    timeout_ms: int | None,
    retry_config: RetryConfig | RetryConfigDict | None,
    headers: Mapping[str, str] | None,
) -> ClientSettings:
    """Argument, else environment variable, else SDK default; every value is checked here."""
    if server_url is not None:
        url = check_server_url(server_url, "server_url")
    elif os.environ.get(defaults.server_url_env):
        url = check_server_url(os.environ[defaults.server_url_env], defaults.server_url_env)
    else:
        url = check_server_url(defaults.server_url, "the default server URL")
    return ClientSettings(
        server_url=url,
        api_key=_resolve_api_key(api_key, defaults),
        param_defaults=_resolve_param_defaults(param_defaults, defaults),
        param_envs=defaults.param_envs,
        timeout_ms=None if timeout_ms is None else check_timeout_ms(timeout_ms, "timeout_ms"),
        default_timeout_ms=defaults.timeout_ms,
        retry_config=(
            defaults.retry_config
            if retry_config is None
            else parse_retry_config(retry_config, "retry_config")
        ),
        headers=check_headers(headers, "headers") if headers is not None else {},
        user_agent=defaults.user_agent,
        error_map=defaults.error_map,
        client_name=defaults.client_name,
    )


def _resolve_api_key(api_key: ApiKeyInput | None, defaults: SdkDefaults) -> ApiKey | None:
    if defaults.api_key_env is None:
        return None
    if api_key is None or api_key == "":
        from_environment = os.environ.get(defaults.api_key_env)
        if not from_environment:
            raise MissingCredentialError(
                f"No API key: pass {defaults.client_name}(api_key=...) or set the "
                f"{defaults.api_key_env} environment variable."
            )
        api_key = from_environment
    return ApiKey(api_key)


def _resolve_param_defaults(
    values: Mapping[str, str | None], defaults: SdkDefaults
) -> Mapping[str, str | None]:
    """Each argument, else its environment variable (an empty one counts as unset)."""
    resolved: dict[str, str | None] = {}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise InvalidOptionsError(f"{name}: expected a str, got {type(value).__name__}")
        env = defaults.param_envs.get(name)
        resolved[name] = value if value is not None or not env else os.environ.get(env) or None
    return resolved


def check_server_url(value: object, source: str) -> str:
    """An absolute http(s) URL with a host and nothing the SDK would have to drop.

    `source` names where the value came from. The value is echoed only when it cannot hold a
    password.
    """
    if not isinstance(value, str):
        raise InvalidApiUrlError(f"{source}: expected a str, got {type(value).__name__}")
    example = "such as https://depot.mesa.dev/api/v1"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidApiUrlError(f"{source}: not a valid URL: {value!r}") from None
    if "@" in parts.netloc:
        raise InvalidApiUrlError(
            f"{source}: must not hold credentials (user:password@); pass the API key as api_key"
        )
    if value != value.strip() or any(char.isspace() for char in value):
        problem = "must not contain whitespace"
    elif parts.scheme not in ("http", "https"):
        problem = f"must be an http or https URL {example}"
    elif not parts.hostname:
        problem = f"must name a host, {example}"
    elif parts.query or parts.fragment or value.endswith(("?", "#")):
        problem = "must not have a query (?...) or a fragment (#...)"
    else:
        return value.rstrip("/")
    raise InvalidApiUrlError(f"{source} {problem}, got {value!r}")
