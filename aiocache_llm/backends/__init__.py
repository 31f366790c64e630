"""Storage backends. Each lives in its own module; optional ones import their client lazily."""

from .base import USE_DEFAULT, BaseCache, CacheStats
from .disk import DiskCache
from .memory import InMemoryCache

__all__ = ["USE_DEFAULT", "BaseCache", "CacheStats", "DiskCache", "InMemoryCache"]
