"""The config file's shape as pydantic models: every mistake of shape reported at once, and a
JSON schema to publish (``aiocache-llm config schema``).

These models check the shape (sections, types, bounds); the finer rules that need the
environment or the installed extras (cache types, providers) follow in :mod:`.config`.
Sections LiteLLM's proxy shares with this one keep LiteLLM's open-ended fields (``extra``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigurationError

__all__ = ["ADMIN_ROUTES", "ConfigFile", "check_shape", "json_schema"]

#: Routes only the master key may use, unless ``general_settings.public_routes`` opens them.
ADMIN_ROUTES: Final = ("/cache/delete", "/cache/flushall", "/cache/stats", "/metrics")

_Seconds = Annotated[float, Field(gt=0, le=86_400 * 7, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=1, le=10**12, strict=True)]
#: LiteLLM's MB (1024 * 1024 bytes), fractions allowed; 0 means no limit, as in LiteLLM
_Megabytes = Annotated[float, Field(ge=0, le=1024 * 1024, allow_inf_nan=False)]
_Name = Annotated[str, Field(min_length=1, max_length=512)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LitellmParams(_Open):
    """A deployment's ``litellm_params`` (any other litellm parameter is passed on)."""

    model: _Name | None = None
    api_base: _Name | None = None
    api_key: _Name | None = None
    api_version: _Name | None = None
    timeout: _Seconds | None = None
    stream_timeout: _Seconds | None = None
    rpm: _Count | None = None
    tpm: _Count | None = None


class ModelEntry(_Open):
    """One ``model_list`` entry: the name callers ask for, and where it goes."""

    model_name: _Name
    litellm_params: LitellmParams = Field(default_factory=LitellmParams)
    model_info: dict[str, Any] | None = None


class KeyEntry(_Closed):
    """A caller's API key (LiteLLM's virtual-key fields)."""

    key: _Name
    key_alias: _Name | None = None
    team_id: _Name | None = None
    user_id: _Name | None = None
    models: list[_Name] | None = None
    rpm_limit: _Count | None = None
    tpm_limit: _Count | None = None


class GeneralSettings(_Open):
    """``general_settings`` (other LiteLLM keys are named in :mod:`.config`)."""

    master_key: _Name | None = None
    request_timeout: _Seconds = 600.0
    allow_flush_without_master_key: bool = False
    allow_unauthenticated: bool = False
    public_routes: list[Literal[ADMIN_ROUTES]] = Field(default_factory=list)  # type: ignore[valid-type]
    metrics_identity_labels: bool = False
    router: Literal["auto", "litellm", "openai-compatible"] = "auto"
    max_request_size_mb: _Megabytes | None = None
    max_response_size_mb: _Megabytes | None = None


class CacheSection(_Open):
    cache: bool = True
    cache_params: dict[str, Any] | None = None


class ConfigFile(_Closed):
    """The proxy's config file (LiteLLM's proxy format, plus ``cache_settings`` and ``keys``)."""

    model_list: list[ModelEntry] | None = None
    general_settings: GeneralSettings | None = None
    litellm_settings: CacheSection | None = None
    cache_settings: CacheSection | None = None
    router_settings: dict[str, Any] | None = None
    environment_variables: dict[str, str | int | float | bool] | None = None
    keys: list[KeyEntry] | None = None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def check_shape(raw: Any) -> ConfigFile:
    """``raw`` checked against :class:`ConfigFile`; every mistake in one error."""
    try:
        return ConfigFile.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        count = len(lines)
        head = "1 error" if count == 1 else f"{count} errors"
        raise ConfigurationError(f"{head} in the config:\n  " + "\n  ".join(lines)) from None


def json_schema() -> dict[str, Any]:
    """The JSON schema of the config file."""
    schema = ConfigFile.model_json_schema()
    schema["title"] = "aiocache-llm proxy config"
    return schema
