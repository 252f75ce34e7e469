"""Loads and checks gen.yaml, the generator's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    api_key_env: str
    server_url_env: str
    default_params: tuple[str, ...] = ()
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


class Settings(_Strict):
    spec: str
    package: PackageSettings
    client: ClientSettings
    defaults: DefaultSettings
    models: ModelSettings
    errors: ErrorSettings
    media_methods: dict[str, MediaMethod] = {}


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
