"""The Redis backends: a single server or Sentinel (:class:`RedisCache`) and Redis Cluster
(:class:`RedisClusterCache`), on ``redis.asyncio`` with hiredis.

The package's modules, each one concern:

* :mod:`~aiocache_llm.storage.redis.settings`: parameters and ``REDIS_*`` variables.
* :mod:`~aiocache_llm.storage.redis.connection`: where the server is, one client per loop,
  batches on redis-py's pool; :mod:`~aiocache_llm.storage.redis.autopipeline` batches the
  commands of one loop iteration; :mod:`~aiocache_llm.storage.redis.errors` maps redis-py's
  exceptions to :mod:`aiocache_llm.errors`.
* :mod:`~aiocache_llm.storage.redis.client`: the connection side of a cache (commands,
  reports, disconnects); :mod:`~aiocache_llm.storage.redis.pubsub`: subscriptions.
* :mod:`~aiocache_llm.storage.redis.store`: Redis as a
  :class:`~aiocache_llm.storage._store.Store` (one command per primitive, native expiry and
  counters) under the one cache class; :mod:`~aiocache_llm.storage.redis.scripts`: the Lua
  scripts it runs.
* :mod:`~aiocache_llm.storage.redis.cache`: :class:`RedisCache`, the contract plus Redis's
  extras (how numbers are spelled, the write buffer, sets, versioned entries).
* :mod:`~aiocache_llm.storage.redis.cluster`: the same across hash slots.
* :mod:`~aiocache_llm.storage.redis.gcp_iam`: GCP IAM access tokens as credentials.

The package itself imports nothing of redis-py: :mod:`~.settings` serves callers that only
read Redis settings (which backend a configuration names) without the ``redis`` extra, and
the names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import RedisCache
    from .client import namespace_prefix
    from .cluster import RedisClusterCache
    from .errors import translate_redis_error

__all__ = ["RedisCache", "RedisClusterCache", "namespace_prefix", "translate_redis_error"]

#: public name -> the module of this package that defines it
_HOMES = {
    "RedisCache": "cache",
    "RedisClusterCache": "cluster",
    "namespace_prefix": "client",
    "translate_redis_error": "errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
