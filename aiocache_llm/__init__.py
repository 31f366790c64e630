"""aiocache_llm: asyncio-first caching for LLM responses, with a blocking shim for scripts."""

from . import errors
from .backends import USE_DEFAULT, BaseCache, CacheStats, DiskCache, InMemoryCache
from .backends.semantic import SemanticCache, SemanticHit
from .cache import Cache, disable_cache, enable_cache, update_cache
from .embeddings import CachedEmbedder, Embedder, FunctionEmbedder, LocalEmbedder, OpenAIEmbedder
from .encryption import EncryptedCache, generate_key
from .errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    CorruptEntryError,
    InvalidArgumentError,
    InvalidControlError,
    InvalidKeyError,
    InvalidTTLError,
    MissingDependencyError,
    NotSupported,
    SerializationError,
    ValueTooLargeError,
)
from .events import CacheEvent, EventBus
from .integrations import litellm_cache
from .keys import make_key
from .resilience import CircuitBreaker, GuardedCache
from .responses import cache_info
from .semantic_guard import PrecisionGuard
from .wrappers import cached, wrap_anthropic, wrap_openai

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
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "BaseCache",
    "CacheError",
    "CacheStats",
    "ConfigurationError",
    "CorruptEntryError",
    "DiskCache",
    "InMemoryCache",
    "InvalidArgumentError",
    "InvalidControlError",
    "InvalidKeyError",
    "InvalidTTLError",
    "MissingDependencyError",
    "NotSupported",
    "SerializationError",
    "ValueTooLargeError",
    "errors",
]
