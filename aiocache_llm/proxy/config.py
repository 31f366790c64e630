"""The proxy's configuration: LiteLLM's proxy YAML where the two overlap.

.. code-block:: yaml

    model_list:
      - model_name: gpt-4o                  # what callers ask for
        litellm_params:
          model: openai/gpt-4o              # the upstream's model name (provider prefix dropped)
          api_base: https://api.openai.com/v1  # default: $OPENAI_API_BASE / $OPENAI_BASE_URL
          api_key: os.environ/OPENAI_API_KEY
    litellm_settings:                       # or cache_settings
      cache: true
      cache_params:                         # anything Cache() takes
        type: redis
        host: 127.0.0.1
        password: os.environ/REDIS_PASSWORD
        ttl: 600
        shared: false                       # true: every API key shares one set of answers
    general_settings:
      master_key: os.environ/PROXY_MASTER_KEY
      request_timeout: 600
      max_request_size_mb: 32               # a larger body is refused (413); 0: no limit
      max_response_size_mb: 64              # a larger answer is refused (502); unset: none

A string ``os.environ/NAME`` anywhere is replaced by that environment variable (or by the
``environment_variables`` section's entry of that name); a YAML date (``2006-03-01`` unquoted)
is read as its text. Without a cache section the cache is a disk cache in the working
directory; ``cache: true`` without a ``type`` is Redis when ``REDIS_HOST``, ``REDIS_URL``,
``REDIS_CLUSTER_NODES`` or ``REDIS_SENTINEL_NODES`` is set (LiteLLM's default), else the disk
cache; ``cache: false`` turns caching off. A semantic cache's
``redis_semantic_cache_embedding_model`` / ``qdrant_semantic_cache_embedding_model`` names a
``model_list`` entry, whose upstream makes the embeddings. Every mistake (an unknown
``general_settings`` key included) raises :class:`~aiocache_llm.errors.ConfigurationError`
naming the field.
"""

from __future__ import annotations

import datetime
import difflib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..errors import ConfigurationError
from .auth import ApiKey
from .cache_config import CacheConfig, parse_cache
from .deployments import Deployment, parse_deployments
from .fields import read_section, seconds
from .routing import CACHE_ENTRIES, check_openai_compatible, choose_router
from .schema import ConfigFile, GeneralSettings, check_shape
from .secrets import mask_secrets
from .secrets import secret_values as _secret_values
from .size_limits import DEFAULT_MAX_REQUEST_SIZE_MB
from .yaml_text import load_yaml

__all__ = [
    "CacheConfig",
    "Deployment",
    "ProxyConfig",
    "load_config",
    "mask_secrets",
    "parse_config",
]

logger = logging.getLogger("aiocache_llm.proxy")

_ENV_PREFIX: Final = "os.environ/"
_DEFAULT_API_BASE: Final = "https://api.openai.com/v1"
_TOP_LEVEL: Final = frozenset(ConfigFile.model_fields)
_GENERAL: Final = frozenset(GeneralSettings.model_fields)
#: LiteLLM general_settings that concern parts this proxy does not have (a key database,
#: alerting, spend logs): accepted with a warning that they do nothing here.
_GENERAL_WITHOUT_EFFECT: Final = frozenset(
    {
        "user_api_key_cache_ttl",
        "database_url",
        "store_model_in_db",
        "alerting",
        "disable_spend_logs",
        "background_health_checks",
        "health_check_interval",
    }
)


@dataclass(frozen=True)
class ProxyConfig:
    """A validated proxy configuration."""

    deployments: dict[str, list[Deployment]]
    cache: CacheConfig
    master_key: str | None = field(default=None, repr=False)
    request_timeout: float = 600.0
    #: Without a master key, ``/cache/flushall`` is refused unless this is set.
    allow_flush_without_master_key: bool = False
    #: callers' API keys (the ``keys`` section)
    keys: tuple[ApiKey, ...] = ()
    #: serve callers without a key (loopback only, said at start-up)
    allow_unauthenticated: bool = False
    #: admin routes opened to every caller
    public_routes: frozenset[str] = frozenset()
    #: label the saved-tokens and cost metrics by caller identity (off: unbounded labels)
    metrics_identity_labels: bool = False
    #: ``"litellm"`` (``litellm.Router``) or ``"openai-compatible"``
    router: str = "openai-compatible"
    #: what the litellm router is built from (the env-resolved sections)
    model_list: list[dict[str, Any]] = field(default_factory=list, repr=False)
    router_settings: dict[str, Any] = field(default_factory=dict, repr=False)
    litellm_settings: dict[str, Any] = field(default_factory=dict, repr=False)
    #: a request body over this many MB (1024 * 1024 bytes) is refused; ``None``: no limit
    max_request_size_mb: float | None = DEFAULT_MAX_REQUEST_SIZE_MB
    #: an upstream answer over this many MB is refused and never stored; ``None``: no limit
    max_response_size_mb: float | None = None

    def secrets(self) -> list[str]:
        """Every credential of the config (masked wherever text could quote one)."""
        found = [self.master_key or "", *(k.key for k in self.keys)]
        found += [d.api_key or "" for group in self.deployments.values() for d in group]
        for entry in self.model_list:  # a routed deployment's other credentials too
            params = entry.get("litellm_params") if isinstance(entry, Mapping) else None
            if isinstance(params, Mapping):
                found += [str(v) for v in _secret_values(params)]
        found += [str(v) for v in _secret_values(self.cache.params or {})]
        return [s for s in found if s]

    def deployment(self, model: str) -> Deployment | None:
        """The first deployment of ``model`` (or of the wildcard ``"*"``), if any."""
        found = self.deployments.get(model) or self.deployments.get("*")
        return found[0] if found else None

    def needs_router(self, model: str) -> bool:
        """Whether ``model`` takes litellm's Router: another provider, several deployments, or
        router settings (retries, fallbacks). A single OpenAI-compatible deployment is
        forwarded as it is, so the cache sees the upstream's own answer (its exact ending)."""
        group = self.deployments.get(model) or self.deployments.get("*") or []
        return (
            bool(self.router_settings)
            or len(group) > 1
            or any(not d.openai_compatible for d in group)
        )

    def router_needed(self) -> bool:
        """Whether any request can take litellm's Router (or a litellm setting must be applied):
        when none can, litellm is not even imported, so the proxy starts in a fraction of the
        time."""
        return any(self.needs_router(model) for model in self.deployments) or bool(
            set(self.litellm_settings) - CACHE_ENTRIES
        )

    def masked_cache_params(self) -> dict[str, Any]:
        return mask_secrets(self.cache.params or {})


# -- loading ----------------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> ProxyConfig:
    """Read and validate the YAML file at ``path`` (errors start with the path)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the config file {str(path)!r}: {exc.strerror}"
        ) from exc
    try:
        raw = load_yaml(text)
        return parse_config({} if raw is None else raw, environ)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc


def parse_config(raw: Any, environ: Mapping[str, str] | None = None) -> ProxyConfig:
    """Validate a configuration already read into Python objects."""
    env = os.environ if environ is None else environ
    if not isinstance(raw, Mapping):
        raise ConfigurationError("the config must be a mapping of sections at the top level")
    extra_env = raw.get("environment_variables")
    if extra_env is not None:
        if not isinstance(extra_env, Mapping):
            raise ConfigurationError("environment_variables: must be a mapping of names to values")
        env = {**env, **{str(k): str(v) for k, v in extra_env.items()}}
    raw = _resolve_env(raw, env, "")
    unknown = sorted(set(raw) - _TOP_LEVEL)
    if unknown:
        raise ConfigurationError(
            f"{unknown[0]}: unknown section; known sections: {sorted(_TOP_LEVEL)}"
        )
    _general(raw)  # unknown general settings: named with a suggestion
    shape = check_shape(raw)
    settings = shape.general_settings or GeneralSettings()
    router = choose_router(settings.router)
    if router == "openai-compatible":
        check_openai_compatible(raw)
    default_base = env.get("OPENAI_API_BASE") or env.get("OPENAI_BASE_URL") or _DEFAULT_API_BASE
    deployments = parse_deployments(raw.get("model_list"), default_base)
    general = _general(raw)
    # LiteLLM's proxy takes the master key from $LITELLM_MASTER_KEY when the config has none
    master_key = general.get("master_key", env.get("LITELLM_MASTER_KEY") or None)
    if master_key is not None and (not isinstance(master_key, str) or not master_key):
        raise ConfigurationError("general_settings.master_key: must be a non-empty string")
    timeout = seconds(general.get("request_timeout", 600.0), "general_settings.request_timeout")
    allow_flush = general.get("allow_flush_without_master_key", False)
    if not isinstance(allow_flush, bool):
        raise ConfigurationError(
            "general_settings.allow_flush_without_master_key: must be true or false"
        )
    cache = parse_cache(raw, env, deployments)
    public = set(settings.public_routes)
    if allow_flush:
        public.add("/cache/flushall")
    return ProxyConfig(
        deployments,
        cache,
        master_key,
        timeout,
        allow_flush,
        keys=tuple(ApiKey(**_key_fields(k.model_dump())) for k in shape.keys or ()),
        allow_unauthenticated=settings.allow_unauthenticated,
        public_routes=frozenset(public),
        metrics_identity_labels=settings.metrics_identity_labels,
        max_request_size_mb=_megabytes(settings.max_request_size_mb, DEFAULT_MAX_REQUEST_SIZE_MB),
        max_response_size_mb=_megabytes(settings.max_response_size_mb, None),
        router=router,
        model_list=list(raw.get("model_list") or []),
        router_settings=dict(raw.get("router_settings") or {}),
        litellm_settings=dict(raw.get("litellm_settings") or {}),
    )


def _megabytes(value: float | None, default: float | None) -> float | None:
    """A size limit as set (``default`` when unset, ``None`` for 0: no limit, as in LiteLLM)."""
    if value is None:
        return default
    return value if value > 0 else None


def _key_fields(fields: dict[str, Any]) -> dict[str, Any]:
    models = fields.get("models")
    fields["models"] = None if models is None else frozenset(models)
    return fields


def _general(raw: Mapping[str, Any]) -> dict[str, Any]:
    general = read_section(raw, "general_settings")
    for name in sorted(set(general) - _GENERAL):
        if name in _GENERAL_WITHOUT_EFFECT:
            logger.warning("general_settings.%s has no effect in this proxy", name)
            continue
        close = difflib.get_close_matches(name, sorted(_GENERAL), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigurationError(
            f"general_settings.{name}: unknown setting; {hint}known: {sorted(_GENERAL)}"
        )
    return general


def _resolve_env(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, datetime.date):  # YAML reads 2006-03-01 as a date: keep the text
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX) :]
        if name not in env:
            raise ConfigurationError(
                f"{where or 'config'}: the environment variable {name} is not set"
            )
        return env[name]
    if isinstance(value, Mapping):
        return {
            k: _resolve_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_resolve_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
