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
import inspect
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..backends._redis_config import redis_env_target
from ..cache import BACKEND_TYPES, CALL_TYPES, Cache, backend_class, build_backend
from ..errors import ConfigurationError

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
_SECRET_WORDS: Final = (
    "password",
    "secret",
    "token",
    "api_key",
    "master_key",
    "credential",
    "access_key",
)
_SECRET_NAMES: Final = frozenset({"key", "connection_string", "gcp_service_account"})
_DEFAULT_API_BASE: Final = "https://api.openai.com/v1"
_CACHE_SECTIONS: Final = ("cache_settings", "litellm_settings")
_TOP_LEVEL: Final = frozenset(
    {"model_list", "general_settings", "environment_variables", "router_settings", *_CACHE_SECTIONS}
)
_GENERAL: Final = frozenset({"master_key", "request_timeout", "allow_flush_without_master_key"})
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
#: Cache parameters only a semantic cache takes: on another type they are a mistake.
_SEMANTIC_PARAMS: Final = frozenset(
    {
        "similarity_threshold",
        "redis_semantic_cache_embedding_model",
        "redis_semantic_cache_index_name",
        "qdrant_semantic_cache_embedding_model",
        "qdrant_collection_name",
        "qdrant_quantization_config",
        "qdrant_api_base",
        "qdrant_api_key",
    }
)
_EMBEDDING_MODEL_PARAMS: Final = (
    "redis_semantic_cache_embedding_model",
    "qdrant_semantic_cache_embedding_model",
)


@dataclass(frozen=True)
class Deployment:
    """One upstream a public model name is sent to."""

    model_name: str
    model: str
    api_base: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float | None = None


@dataclass(frozen=True)
class CacheConfig:
    """How to build the proxy's :class:`~aiocache_llm.cache.Cache` (``None`` params: no cache)."""

    params: dict[str, Any] | None
    shared: bool = False
    #: Why this cache type: said at start-up.
    reason: str = "the config's cache_params.type"
    #: embedding-model parameter -> the model_list deployment that makes the embeddings
    embedders: dict[str, Deployment] = field(default_factory=dict)

    def build(self, identity: Callable[[Mapping[str, Any]], str | None] | None) -> Cache | None:
        """The cache (``None`` when caching is off); ``identity`` keeps callers apart.

        A namespace goes to the store itself when its type takes one (Redis), so that
        flushing empties exactly this namespace.
        """
        if self.params is None:
            return None
        params = dict(self.params)
        for name, deployment in self.embedders.items():
            params.pop(name)
            params["embedder"] = _embedder(deployment, self.params[name])
        try:
            type_ = params.pop("type")
            cache_names = set(inspect.signature(Cache).parameters) - {"backend_params"}
            cache_params = {k: params.pop(k) for k in list(params) if k in cache_names}
            namespace = cache_params.get("namespace")
            if namespace is not None and "namespace" in _parameters(type_, params):
                params["namespace"] = cache_params.pop("namespace")
            ttl = cache_params.get("ttl")
            backend = build_backend(type_, ttl, params)
            return Cache(type_, **cache_params, backend=backend, identity=identity)
        except ConfigurationError as exc:
            raise ConfigurationError(f"cache_params: {exc}") from exc


def _parameters(type_: str, params: Mapping[str, Any]) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(backend_class(type_, params)).parameters


def _embedder(deployment: Deployment, requested: str) -> Any:
    from ..embeddings import OpenAIEmbedder

    model = requested if deployment.model == "*" else deployment.model
    return OpenAIEmbedder(model, base_url=deployment.api_base, api_key=deployment.api_key or "")


@dataclass(frozen=True)
class ProxyConfig:
    """A validated proxy configuration."""

    deployments: dict[str, list[Deployment]]
    cache: CacheConfig
    master_key: str | None = field(default=None, repr=False)
    request_timeout: float = 600.0
    #: Without a master key, ``/cache/flushall`` is refused unless this is set.
    allow_flush_without_master_key: bool = False

    def deployment(self, model: str) -> Deployment | None:
        """The first deployment of ``model`` (or of the wildcard ``"*"``), if any."""
        found = self.deployments.get(model) or self.deployments.get("*")
        return found[0] if found else None

    def masked_cache_params(self) -> dict[str, Any]:
        return mask_secrets(self.cache.params or {})


def mask_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``settings`` safe to show: passwords, keys and tokens become ``"***"``."""
    out: dict[str, Any] = {}
    for name, value in settings.items():
        lowered = str(name).lower()
        if value is not None and (
            lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)
        ):
            out[name] = "***"
        elif isinstance(value, str) and "://" in value:
            out[name] = _mask_url(value)
        elif isinstance(value, Mapping):
            out[name] = mask_secrets(value)
        elif isinstance(value, list):
            out[name] = [mask_secrets(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[name] = value
    return out


def _mask_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, hostpart = rest.partition("@")
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    return f"{scheme}://{user}:***@{hostpart}"


# -- loading ----------------------------------------------------------------------------------


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> ProxyConfig:
    """Read and validate the YAML file at ``path`` (errors start with the path)."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the config file {str(path)!r}: {exc.strerror}"
        ) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    try:
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
    default_base = env.get("OPENAI_API_BASE") or env.get("OPENAI_BASE_URL") or _DEFAULT_API_BASE
    deployments = _deployments(raw.get("model_list"), default_base)
    general = _general(raw)
    master_key = general.get("master_key")
    if master_key is not None and (not isinstance(master_key, str) or not master_key):
        raise ConfigurationError("general_settings.master_key: must be a non-empty string")
    timeout = _seconds(general.get("request_timeout", 600.0), "general_settings.request_timeout")
    allow_flush = general.get("allow_flush_without_master_key", False)
    if not isinstance(allow_flush, bool):
        raise ConfigurationError(
            "general_settings.allow_flush_without_master_key: must be true or false"
        )
    cache = _cache(raw, env, deployments)
    return ProxyConfig(deployments, cache, master_key, timeout, allow_flush)


def _general(raw: Mapping[str, Any]) -> dict[str, Any]:
    general = _section(raw, "general_settings")
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


def _section(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name}: must be a mapping")
    return dict(value)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{where}: must be a number of seconds, not {value!r}")
    if value <= 0:
        raise ConfigurationError(f"{where}: must be positive, not {value!r}")
    return float(value)


def _string(value: Any, where: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: must be a non-empty string")
    return value


def _deployments(model_list: Any, default_base: str) -> dict[str, list[Deployment]]:
    if model_list is None:
        return {}
    if not isinstance(model_list, list):
        raise ConfigurationError("model_list: must be a list of models")
    out: dict[str, list[Deployment]] = {}
    for i, item in enumerate(model_list):
        where = f"model_list[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"{where}: must be a mapping")
        name = _string(item.get("model_name"), f"{where}.model_name")
        params = item.get("litellm_params") or {}
        if not isinstance(params, Mapping):
            raise ConfigurationError(f"{where}.litellm_params: must be a mapping")
        where = f"{where}.litellm_params"
        model = _string(params.get("model", name), f"{where}.model")
        assert name is not None and model is not None
        provider, slash, bare = model.partition("/")
        upstream_model = (
            bare if slash and provider in ("openai", "text-completion-openai") else model
        )
        api_base = _string(params.get("api_base", default_base), f"{where}.api_base")
        assert api_base is not None
        if not api_base.startswith(("http://", "https://")):
            raise ConfigurationError(f"{where}.api_base: must be an http:// or https:// URL")
        api_key = _string(params.get("api_key"), f"{where}.api_key", required=False)
        timeout = params.get("timeout")
        deployment = Deployment(
            name,
            upstream_model,
            api_base.rstrip("/"),
            api_key,
            None if timeout is None else _seconds(timeout, f"{where}.timeout"),
        )
        out.setdefault(name, []).append(deployment)
    return out


def _cache(
    raw: Mapping[str, Any], env: Mapping[str, str], deployments: Mapping[str, list[Deployment]]
) -> CacheConfig:
    present = [name for name in _CACHE_SECTIONS if raw.get(name) is not None]
    if len(present) > 1:
        raise ConfigurationError(
            "cache_settings: give the cache in cache_settings or litellm_settings, not both"
        )
    if not present:
        return CacheConfig({"type": "disk"}, reason="no cache section in the config")
    section_name = present[0]
    section = _section(raw, section_name)
    if section_name == "cache_settings":  # ours: strict (litellm_settings holds much more)
        unknown = sorted(set(section) - {"cache", "cache_params"})
        if unknown:
            raise ConfigurationError(
                f"cache_settings.{unknown[0]}: unknown setting; known: cache, cache_params"
            )
    enabled = section.get("cache", True)
    if not isinstance(enabled, bool):
        raise ConfigurationError(f"{section_name}.cache: must be true or false")
    where = f"{section_name}.cache_params"
    given = section.get("cache_params") or {}
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"{where}: must be a mapping")
    params = dict(given)
    shared = params.pop("shared", False)
    if not isinstance(shared, bool):
        raise ConfigurationError(f"{where}.shared: must be true or false")
    if not enabled:
        return CacheConfig(None, shared, reason=f"{section_name}.cache is false")
    reason = f"{where}.type"
    if params.get("type") is None:
        found = redis_env_target(env)
        params["type"] = "redis" if found else "disk"
        reason = (
            f"no {where}.type, and {found} is set (LiteLLM's default)"
            if found
            else f"no {where}.type, and no REDIS_HOST / REDIS_URL / REDIS_CLUSTER_NODES is set"
        )
    _check_cache_params(params, where)
    embedders = _embedding_deployments(params, where, deployments)
    return CacheConfig(params, shared, reason, embedders)


def _embedding_deployments(
    params: Mapping[str, Any], where: str, deployments: Mapping[str, list[Deployment]]
) -> dict[str, Deployment]:
    """The model_list deployment each embedding-model parameter names."""
    out: dict[str, Deployment] = {}
    for name in _EMBEDDING_MODEL_PARAMS:
        model = params.get(name)
        if model is None or model == "local":
            continue
        _string(model, f"{where}.{name}")
        found = deployments.get(model) or deployments.get("*")
        if not found:
            raise ConfigurationError(
                f"{where}.{name}: {model!r} is not a model_name of model_list"
                f" (known: {sorted(deployments)}; or 'local' for the built-in model)"
            )
        out[name] = found[0]
    return out


def _check_cache_params(params: dict[str, Any], where: str) -> None:
    type_ = params["type"]
    if not isinstance(type_, str) or type_ not in BACKEND_TYPES:
        raise ConfigurationError(
            f"{where}.type: unknown cache type {type_!r}; choose one of {sorted(BACKEND_TYPES)}"
        )
    if "semantic" not in type_:
        misplaced = sorted(set(params) & _SEMANTIC_PARAMS)
        if misplaced:
            raise ConfigurationError(
                f"{where}.{misplaced[0]}: only a semantic cache takes it, and type is"
                f" {type_!r} (use redis-semantic or qdrant-semantic)"
            )
    if "ssl_cert_reqs" in params and params["ssl_cert_reqs"] is None:
        params["ssl_cert_reqs"] = "none"  # LiteLLM's "null": do not verify the certificate
    if params.get("ttl") is not None:
        params["ttl"] = _seconds(params["ttl"], f"{where}.ttl")
    mode = params.get("mode")
    if mode is not None and mode not in ("default_on", "default_off"):
        raise ConfigurationError(f"{where}.mode: must be default_on or default_off, not {mode!r}")
    namespace = params.get("namespace")
    if namespace is not None:
        _string(namespace, f"{where}.namespace")
    call_types = params.get("supported_call_types")
    if call_types is not None:
        if not isinstance(call_types, list) or not all(isinstance(t, str) for t in call_types):
            raise ConfigurationError(f"{where}.supported_call_types: must be a list of names")
        unknown = sorted(set(call_types) - set(CALL_TYPES))
        if unknown:
            raise ConfigurationError(
                f"{where}.supported_call_types: unknown call types {unknown}; "
                f"known: {list(CALL_TYPES)}"
            )
    threshold = params.get("similarity_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0 <= threshold <= 1
    ):
        raise ConfigurationError(f"{where}.similarity_threshold: must be a number from 0 to 1")
