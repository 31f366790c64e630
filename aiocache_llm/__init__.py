"""aiocache_llm: asyncio-first caching for LLM responses, with a blocking shim for scripts."""

from . import errors
from .backends import USE_DEFAULT, BaseCache, CacheStats, DiskCache, InMemoryCache
from .backends.semantic import SemanticCache, SemanticHit
from .embeddings import CachedEmbedder, Embedder, FunctionEmbedder, LocalEmbedder, OpenAIEmbedder
from .encryption import EncryptedCache, generate_key
from .errors import *  # noqa: F403 - every error, as listed in errors.__all__
from .events import CacheEvent, EventBus
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
from .keys import make_key
from .resilience import CircuitBreaker, GuardedCache
from .responses import cache_info
from .semantic_guard import PrecisionGuard

__version__ = "0.1.0"

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
    "errors",
    *errors.__all__,
]
