"""The proxy's cache: the ``cache_settings`` / ``litellm_settings`` section, checked, and how
the :class:`~aiocache_llm.facade.Cache` is built from it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import ConfigurationError
from ..facade import BACKEND_TYPES, CALL_TYPES, Cache, backend_class, build_backend
from ..storage.redis.settings import redis_env_target
from .deployments import Deployment
from .fields import read_section, seconds, string

__all__ = ["CACHE_SECTIONS", "CacheConfig", "parse_cache"]

CACHE_SECTIONS: Final = ("cache_settings", "litellm_settings")
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
class CacheConfig:
    """How to build the proxy's :class:`~aiocache_llm.facade.Cache` (``None`` params: no cache)."""

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
    from ..semantic.embedders import OpenAIEmbedder

    model = requested if deployment.model == "*" else deployment.model
    return OpenAIEmbedder(model, base_url=deployment.api_base, api_key=deployment.api_key or "")


def parse_cache(
    raw: Mapping[str, Any], env: Mapping[str, str], deployments: Mapping[str, list[Deployment]]
) -> CacheConfig:
    """The cache section of ``raw`` (a disk cache when there is none)."""
    present = [name for name in CACHE_SECTIONS if raw.get(name) is not None]
    if len(present) > 1:
        raise ConfigurationError(
            "cache_settings: give the cache in cache_settings or litellm_settings, not both"
        )
    if not present:
        return CacheConfig({"type": "disk"}, reason="no cache section in the config")
    section_name = present[0]
    section = read_section(raw, section_name)
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
        string(model, f"{where}.{name}")
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
        params["ttl"] = seconds(params["ttl"], f"{where}.ttl")
    mode = params.get("mode")
    if mode is not None and mode not in ("default_on", "default_off"):
        raise ConfigurationError(f"{where}.mode: must be default_on or default_off, not {mode!r}")
    namespace = params.get("namespace")
    if namespace is not None:
        string(namespace, f"{where}.namespace")
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
