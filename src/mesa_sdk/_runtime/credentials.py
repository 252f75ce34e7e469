"""The credentials, held so that no repr, str or log line ever shows them, and how each
operation sends them: the spec's security schemes."""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mesa_sdk._runtime import logs
from mesa_sdk._runtime.errors import InvalidOptionsError, MissingCredentialError

if TYPE_CHECKING:
    import httpx

    from mesa_sdk._runtime.operation import Operation, Security

ApiKeyInput = str | Callable[[], str]

# A header whose lower-cased name contains one of these is treated as a credential.
_CREDENTIAL_NAME_PARTS = ("auth", "key", "token", "secret", "cookie")


def is_credential_header(name: str) -> bool:
    """Whether a header may carry a credential: `Authorization`, `X-Api-Key`, `Cookie`..."""
    lowered = name.lower()
    return any(part in lowered for part in _CREDENTIAL_NAME_PARTS)


class ApiKey:
    """An API key, or a function returning one, resolved for each request.

    A function lets a long-lived client pick up a rotated key without being rebuilt.
    """

    __slots__ = ("_source", "_what")

    def __init__(self, source: ApiKeyInput, what: str = "api_key") -> None:
        if isinstance(source, str):
            if not source:
                raise MissingCredentialError(f"{what} is empty")
            logs.redact_secret(source)
        elif not callable(source):
            raise InvalidOptionsError(
                f"{what}: expected a str or a function returning one, got {type(source).__name__}"
            )
        self._source = source
        self._what = what

    def resolve(self) -> str:
        """The key to send now."""
        if isinstance(self._source, str):
            return self._source
        key = self._source()
        if not isinstance(key, str) or not key:
            got = "an empty str" if key == "" else type(key).__name__
            raise MissingCredentialError(f"the {self._what} function returned {got}, not a key")
        logs.redact_secret(key)
        return key

    def __repr__(self) -> str:
        return "ApiKey('[redacted]')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    """How one of the spec's security schemes sends its credential.

    `bearer` sends `Authorization: Bearer <api_key>` (OAuth 2 and OpenID Connect tokens too),
    `basic` sends `Authorization: Basic <username:password in base64>`, and `api_key` sends the
    key as it is in the header, query parameter or cookie `name`.
    """

    kind: Literal["bearer", "basic", "api_key"] = "bearer"
    location: Literal["header", "query", "cookie"] = "header"
    name: str = "Authorization"


class Auth:
    """A client's credentials, applied to each request as its operation's `security` asks.

    Built once per client. The key and password are resolved for each attempt, so that a
    rotated key (given as a function) is picked up.
    """

    __slots__ = (
        "_api_key",
        "_chosen",
        "_client_name",
        "_default",
        "_password",
        "_schemes",
        "_username",
    )

    def __init__(
        self,
        schemes: Mapping[str, SecurityScheme],
        default: Security,
        *,
        api_key: ApiKey | None,
        username: str | None,
        password: ApiKey | None,
        client_name: str,
    ) -> None:
        self._schemes = schemes
        self._default = default
        self._api_key = api_key
        self._username = username
        self._password = password
        self._client_name = client_name
        # The schemes each `security` list sends: fixed, since the credentials held are.
        self._chosen: dict[Security, tuple[SecurityScheme, ...] | None] = {}
        for scheme in schemes.values():
            if scheme.location == "query":
                logs.redact_query_parameter(scheme.name)

    def __repr__(self) -> str:
        # The key and password show as ApiKey('[redacted]').
        return (
            f"Auth(schemes={list(self._schemes)!r}, api_key={self._api_key!r}, "
            f"username={self._username!r}, password={self._password!r})"
        )

    def apply(
        self, request: httpx.Request, operation: Operation, call_headers: Mapping[str, str]
    ) -> None:
        """Adds the credential of the first requirement of the operation's `security` that the
        client holds credentials for. A header the call sets itself (`call_headers`, lower-cased
        names) wins over the credential."""
        security = self._default if operation.security is None else operation.security
        try:
            chosen = self._chosen[security]
        except KeyError:
            chosen = self._chosen[security] = self._choose(security)
        if chosen is None:
            raise MissingCredentialError(self._missing(operation, security))
        for scheme in chosen:
            self._send(request, scheme, call_headers)

    def _choose(self, security: Security) -> tuple[SecurityScheme, ...] | None:
        """The schemes of the first alternative the client holds every credential of, an
        empty one (optional credentials) last; None when there is none."""
        for requirement in sorted(security, key=lambda names: not names):
            schemes = tuple(self._schemes[name] for name in requirement)
            if all(self._holds(scheme) for scheme in schemes):
                return schemes
        return () if not security else None

    def _holds(self, scheme: SecurityScheme) -> bool:
        if scheme.kind == "basic":
            return self._username is not None and self._password is not None
        return self._api_key is not None

    def _send(
        self, request: httpx.Request, scheme: SecurityScheme, call_headers: Mapping[str, str]
    ) -> None:
        if scheme.kind == "basic":
            assert self._username is not None and self._password is not None
            pair = f"{self._username}:{self._password.resolve()}".encode()
            value = "Basic " + _redacted(b64encode(pair).decode("ascii"))
        else:
            assert self._api_key is not None
            key = self._api_key.resolve()
            value = f"Bearer {key}" if scheme.kind == "bearer" else key
        if scheme.location == "query":
            request.url = request.url.copy_add_param(scheme.name, value)
        elif scheme.location == "cookie":
            from mesa_sdk._runtime.request_builder import cookie_pair

            cookie = cookie_pair(scheme.name, value)
            sent = request.headers.get("cookie")
            request.headers["cookie"] = f"{sent}; {cookie}" if sent else cookie
        elif scheme.name.lower() not in call_headers:
            # Lower-cased `authorization`, as the SDK sends each of its own headers.
            name = "authorization" if scheme.kind != "api_key" else scheme.name
            request.headers[name] = value

    def _missing(self, operation: Operation, security: Security) -> str:
        """What to pass for a call whose security requirements the client cannot meet."""
        ways: dict[str, None] = {}  # ordered, without repeats
        for requirement in security:
            kinds = {self._schemes[name].kind for name in requirement}
            arguments = ["api_key=..."] if kinds - {"basic"} else []
            arguments += ["username=..., password=..."] if "basic" in kinds else []
            ways[f"{self._client_name}({', '.join(arguments)})"] = None
        return (
            f"{operation.method_name} needs credentials the client lacks: pass {' or '.join(ways)}"
        )


def _redacted(secret: str) -> str:
    logs.redact_secret(secret)
    return secret
