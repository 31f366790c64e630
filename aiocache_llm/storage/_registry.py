"""The one table of backends: each cache ``type`` with its module, class and extra.

``Cache(type=...)``, the proxy's config, ``aiocache_llm.storage.<Name>`` and
``DualSemanticCache(semantic_type=...)`` all read this table, so they cannot disagree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from ..errors import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    from .base import BaseCache

__all__ = ["BACKEND_TYPES", "SEMANTIC_TYPES", "backend_type_class", "import_backend"]

#: type -> (module under aiocache_llm.storage, class, extra that installs its client)
BACKEND_TYPES: Final[dict[str, tuple[str, str, str | None]]] = {
    "local": ("memory", "InMemoryCache", None),
    "disk": ("disk", "DiskCache", None),
    "redis": ("redis.cache", "RedisCache", "redis"),
    "redis-cluster": ("redis.cluster", "RedisClusterCache", "redis"),
    "dual": ("dual", "DualCache", "redis"),
    "s3": ("s3", "S3Cache", "s3"),
    "gcs": ("gcs", "GCSCache", "gcs"),
    "azure-blob": ("azure_blob", "AzureBlobCache", "azure"),
    "redis-semantic": ("semantic.redis", "RedisSemanticCache", "semantic"),
    "qdrant-semantic": ("semantic.qdrant", "QdrantSemanticCache", "qdrant"),
    "dual-semantic": ("semantic.dual", "DualSemanticCache", "semantic"),
}

#: The types a DualSemanticCache can put behind its in-memory level.
SEMANTIC_TYPES: Final = ("redis-semantic", "qdrant-semantic")


def import_backend(module_name: str, class_name: str, extra: str | None) -> type[BaseCache]:
    """The class ``class_name`` of ``aiocache_llm.storage.<module_name>``, imported now.

    Raises :class:`~aiocache_llm.errors.MissingDependencyError` naming the extra when its
    client library is missing, and :class:`~aiocache_llm.errors.ConfigurationError` when the
    module is not part of this version.
    """
    full_name = f"{__package__}.{module_name}"
    try:
        module = importlib.import_module(full_name)
    except ModuleNotFoundError as exc:
        if exc.name and (full_name == exc.name or full_name.startswith(exc.name + ".")):
            raise ConfigurationError(f"{class_name} is not available in this version") from exc
        raise MissingDependencyError(class_name, extra or "all", exc.name) from exc
    cls: type[BaseCache] = getattr(module, class_name)
    return cls


def backend_type_class(type_: str, choices: tuple[str, ...] | None = None) -> type[BaseCache]:
    """The backend class of a cache ``type`` (one of ``choices`` if given), imported now."""
    known = sorted(choices if choices is not None else BACKEND_TYPES)
    if type_ not in known:
        raise ConfigurationError(f"unknown cache type {type_!r}; choose one of {known}")
    module_name, class_name, extra = BACKEND_TYPES[type_]
    try:
        return import_backend(module_name, class_name, extra)
    except MissingDependencyError:
        raise
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"cache type {type_!r} ({class_name}) is not available in this version"
        ) from exc.__cause__
