"""The storage types: each cache ``type`` that is a plain store, with its module, class and extra.

``aiocache_llm.storage.<Name>`` reads this table; the facade's one table of every ``type``
(:data:`aiocache_llm.facade.registry.BACKEND_TYPES`) is these rows and the semantic ones.
:func:`import_class` imports a row's class with the typed errors every caller shares.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from ..errors import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    from .base import BaseCache

__all__ = ["STORE_TYPES", "TypeRow", "import_class", "type_class"]

#: (module, class, extra that installs its client)
TypeRow = tuple[str, str, str | None]

#: type -> row (modules under aiocache_llm.storage)
STORE_TYPES: Final[dict[str, TypeRow]] = {
    "local": ("aiocache_llm.storage.memory", "InMemoryCache", None),
    "disk": ("aiocache_llm.storage.disk", "DiskCache", None),
    "redis": ("aiocache_llm.storage.redis.cache", "RedisCache", "redis"),
    "redis-cluster": ("aiocache_llm.storage.redis.cluster", "RedisClusterCache", "redis"),
    "dual": ("aiocache_llm.storage.dual", "DualCache", "redis"),
    "s3": ("aiocache_llm.storage.s3", "S3Cache", "s3"),
    "gcs": ("aiocache_llm.storage.gcs", "GCSCache", "gcs"),
    "azure-blob": ("aiocache_llm.storage.azure_blob", "AzureBlobCache", "azure"),
}


def import_class(module_name: str, class_name: str, extra: str | None) -> type[BaseCache]:
    """The class ``class_name`` of ``module_name``, imported now.

    Raises :class:`~aiocache_llm.errors.MissingDependencyError` naming the extra when its
    client library is missing, and :class:`~aiocache_llm.errors.ConfigurationError` when the
    module is not part of this version.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigurationError(f"{class_name} is not available in this version") from exc
        raise MissingDependencyError(class_name, extra or "all", exc.name) from exc
    cls: type[BaseCache] = getattr(module, class_name)
    return cls


def type_class(
    table: Mapping[str, TypeRow], type_: str, choices: tuple[str, ...] | None = None
) -> type[BaseCache]:
    """The class of a cache ``type`` of ``table`` (one of ``choices`` if given), imported now."""
    known = sorted(choices if choices is not None else table)
    if type_ not in known:
        raise ConfigurationError(f"unknown cache type {type_!r}; choose one of {known}")
    module_name, class_name, extra = table[type_]
    try:
        return import_class(module_name, class_name, extra)
    except MissingDependencyError:
        raise
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"cache type {type_!r} ({class_name}) is not available in this version"
        ) from exc.__cause__
