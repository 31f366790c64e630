"""aiocache_llm: asyncio-first caching for LLM responses, with a blocking shim for scripts."""

from . import errors
from .backends import USE_DEFAULT, BaseCache, CacheStats, DiskCache, InMemoryCache
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

__version__ = "0.1.0"

__all__ = [
    "USE_DEFAULT",
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
