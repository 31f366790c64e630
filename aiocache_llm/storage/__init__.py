"""Storage backends. Each lives in its own module; optional ones import their client lazily.

``from aiocache_llm.storage import RedisCache`` works once the ``redis`` extra is installed;
without it, the import raises :class:`~aiocache_llm.errors.MissingDependencyError` naming the
extra.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError, MissingDependencyError
from ._registry import STORE_TYPES, import_class
from .base import USE_DEFAULT, BaseCache, CacheStats
from .disk import DiskCache
from .memory import InMemoryCache

__all__ = ["USE_DEFAULT", "BaseCache", "CacheStats", "DiskCache", "InMemoryCache"]

#: public name -> (module, extra that installs its client library), from the one table
OPTIONAL_BACKENDS: dict[str, tuple[str, str]] = {
    name: (module, extra) for module, name, extra in STORE_TYPES.values() if extra is not None
}


def __getattr__(name: str) -> Any:
    if name not in OPTIONAL_BACKENDS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, extra = OPTIONAL_BACKENDS[name]
    try:
        return import_class(module_name, name, extra)
    except MissingDependencyError:
        raise
    except ConfigurationError as exc:  # not part of this version
        raise AttributeError(str(exc)) from exc
