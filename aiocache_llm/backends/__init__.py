"""Storage backends. Each lives in its own module; optional ones import their client lazily.

``from aiocache_llm.backends import RedisCache`` works once the ``redis`` extra is installed;
without it, the import raises :class:`~aiocache_llm.errors.MissingDependencyError` naming the
extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MissingDependencyError
from .base import USE_DEFAULT, BaseCache, CacheStats
from .disk import DiskCache
from .memory import InMemoryCache

__all__ = ["USE_DEFAULT", "BaseCache", "CacheStats", "DiskCache", "InMemoryCache"]

#: public name -> (module, extra that installs its client library)
OPTIONAL_BACKENDS: dict[str, tuple[str, str]] = {
    "RedisCache": ("redis", "redis"),
    "RedisClusterCache": ("redis_cluster", "redis"),
    "DualCache": ("dual", "redis"),
    "S3Cache": ("s3", "s3"),
    "GCSCache": ("gcs", "gcs"),
    "AzureBlobCache": ("azure_blob", "azure"),
    "RedisSemanticCache": ("semantic.redis", "semantic"),
    "QdrantSemanticCache": ("semantic.qdrant", "qdrant"),
    "DualSemanticCache": ("semantic.dual", "semantic"),
}


def __getattr__(name: str) -> Any:
    if name not in OPTIONAL_BACKENDS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, extra = OPTIONAL_BACKENDS[name]
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"{__name__}."):
            raise AttributeError(f"{name} is not available in this version") from exc
        raise MissingDependencyError(name, extra, exc.name) from exc
    return getattr(module, name)
