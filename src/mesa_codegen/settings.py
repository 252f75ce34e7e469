"""Loads and checks gen.yaml, the generator's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackageSettings(_Strict):
    name: str
    module: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    version: str


class ClientSettings(_Strict):
    class_name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    api_key_env: str | None
    """None when the API takes no credentials: the client then has no `api_key`."""
    server_url_env: str
    default_params: dict[str, str] = {}
    """Path parameter name -> the environment variable holding the client's default."""
    user_agent: str


class DefaultSettings(_Strict):
    timeout_ms: int = Field(gt=0)
    retry_jitter: float = Field(ge=0, le=1)
    retry_max_unreachable_time: int = Field(gt=0)


class ModelSettings(_Strict):
    typed_dict_suffix: str


class ErrorSettings(_Strict):
    by_status: dict[int, str]
    server_error: str
    client_error: str
    by_code: dict[str, str] = {}
    docs: dict[str, str] = {}


class MediaMethod(_Strict):
    suffix: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    returns: Literal["bytes", "text"]
    stream: bool = False


class SampleSettings(_Strict):
    needs: dict[str, tuple[str, ...]] = {}
    """operationId -> what its sample needs made first, named after the doc tests' preludes."""
    args: dict[str, dict[str, Any]] = {}
    """operationId -> optional arguments its sample passes too."""
    variables: dict[str, str] = {}
    """Parameter -> the variable a sample passes for it, which a need of that name defines."""


class Settings(_Strict):
    spec: str
    package: PackageSettings
    client: ClientSettings
    defaults: DefaultSettings
    models: ModelSettings
    errors: ErrorSettings
    media_methods: dict[str, MediaMethod] = {}
    samples: SampleSettings = SampleSettings()


class SettingsError(Exception):
    """gen.yaml is missing, malformed or names something the spec lacks."""


def load_settings(path: Path) -> Settings:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"{path}: {problems}") from exc


# Error classes for the statuses a spec answers with, when there is no gen.yaml to name them.
DEFAULT_ERROR_CLASSES = {
    400: ("BadRequestError", "The request was malformed."),
    401: ("UnauthorizedError", "The credentials are missing or wrong."),
    403: ("ForbiddenError", "The credentials do not allow this."),
    404: ("NotFoundError", "The resource does not exist."),
    409: ("ConflictError", "The request conflicts with the current state."),
    422: ("UnprocessableEntityError", "The request is well-formed but invalid."),
    429: ("RateLimitError", "Too many requests."),
}


def default_settings(
    document: dict[str, Any], *, module: str, client_class: str, spec: str
) -> Settings:
    """Settings for a spec without gen.yaml: each derived from the spec or the names given."""
    statuses = {
        int(status)
        for item in (document.get("paths") or {}).values()
        if isinstance(item, dict)
        for op in item.values()
        if isinstance(op, dict)
        for status in (op.get("responses") or {})
        if str(status).isdigit()
    }
    by_status = {
        s: DEFAULT_ERROR_CLASSES[s][0] for s in sorted(statuses) if s in DEFAULT_ERROR_CLASSES
    }
    docs = {name: doc for name, doc in DEFAULT_ERROR_CLASSES.values() if name in by_status.values()}
    prefix = module.upper()
    # Without a security scheme the API takes no credentials, and the client asks for none.
    security_schemes = (document.get("components") or {}).get("securitySchemes")
    raw = {
        "spec": spec,
        "package": {"name": module.replace("_", "-"), "module": module, "version": "0.1.0"},
        "client": {
            "class_name": client_class,
            "api_key_env": f"{prefix}_API_KEY" if security_schemes else None,
            "server_url_env": f"{prefix}_SERVER_URL",
            "user_agent": f"{module.replace('_', '-')}-python/{{version}}",
        },
        "defaults": {
            "timeout_ms": 60000,
            "retry_jitter": 0.25,
            "retry_max_unreachable_time": 10000,
        },
        "models": {"typed_dict_suffix": "TypedDict"},
        "errors": {
            "by_status": by_status,
            "server_error": "ServerError",
            "client_error": "ClientError",
            "docs": {
                **docs,
                "ClientError": "Any other 4xx response.",
                "ServerError": "The server failed (5xx).",
            },
        },
    }
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(problems) from exc
