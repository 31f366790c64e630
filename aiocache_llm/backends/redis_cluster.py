"""``RedisClusterCache`` under its former module name; it lives in
:mod:`aiocache_llm.backends.redis.cluster`."""

from __future__ import annotations

from .redis.cluster import RedisClusterCache

__all__ = ["RedisClusterCache"]
