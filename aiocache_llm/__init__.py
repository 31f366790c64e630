"""aiocache_llm: asyncio-first caching for LLM responses, with a blocking shim for scripts."""

from typing import Any as _Any

from . import errors
from .core.logs import JsonFormatter, use_json_logs
from .errors import *  # noqa: F403 - every error, as listed in errors.__all__
from .facade import (
    Cache,
    cached,
    disable_cache,
    enable_cache,
    update_cache,
    wrap_anthropic,
    wrap_openai,
)
from .integrations import litellm_cache
from .llm.events import CacheEvent, EventBus
from .llm.keys import make_key
from .llm.responses import cache_info
from .middleware.builders import CircuitBreaker, EncryptedCache, GuardedCache, generate_key
from .semantic import SemanticCache, SemanticHit
from .semantic.embedders import (
    CachedEmbedder,
    Embedder,
    FunctionEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
)
from .semantic.guard import PrecisionGuard
from .storage import USE_DEFAULT, BaseCache, CacheStats, DiskCache, InMemoryCache

__version__ = "0.1.0"


def __getattr__(name: str) -> _Any:
    """The backends by class name (``from aiocache_llm import RedisCache, DualCache``, as
    LiteLLM's caching exports them), imported on first use; a missing client library is a
    :class:`~aiocache_llm.errors.MissingDependencyError` naming the extra to install."""
    from .facade.registry import BACKEND_TYPES
    from .storage._registry import import_class

    for module_name, class_name, extra in BACKEND_TYPES.values():
        if class_name == name:
            return import_class(module_name, class_name, extra)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "USE_DEFAULT",
    "Cache",
    "CacheEvent",
    "CachedEmbedder",
    "Embedder",
    "EncryptedCache",
    "FunctionEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "PrecisionGuard",
    "SemanticCache",
    "SemanticHit",
    "CircuitBreaker",
    "EventBus",
    "GuardedCache",
    "cache_info",
    "cached",
    "disable_cache",
    "enable_cache",
    "generate_key",
    "litellm_cache",
    "make_key",
    "update_cache",
    "wrap_anthropic",
    "wrap_openai",
    "BaseCache",
    "CacheStats",
    "DiskCache",
    "InMemoryCache",
    "JsonFormatter",
    "use_json_logs",
    "errors",
    *errors.__all__,
]
