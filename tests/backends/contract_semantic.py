"""The semantic caches in the contract suite: as exact-key backends they behave like any other."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aiocache_llm.storage.base import BaseCache

_names = itertools.count()


def redis_semantic_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.semantic.redis import RedisSemanticCache

    server = request.getfixturevalue("redis_server")
    cache = RedisSemanticCache(
        url=server.url,
        redis_semantic_cache_index_name=f"contract_semantic{next(_names)}",
        redis_semantic_cache_embedding_model="local",
        env={},
    )
    request.addfinalizer(cache.disconnect)
    return cache


def qdrant_semantic_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    pytest.importorskip("qdrant_client")
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache

    return QdrantSemanticCache(location=":memory:", qdrant_semantic_cache_embedding_model="local")


def qdrant_over_redis_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    """A Qdrant index beside a Redis exact-key store: the exact-key contract is Redis's."""
    pytest.importorskip("qdrant_client")
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache
    from aiocache_llm.storage.redis import RedisCache

    server = request.getfixturevalue("redis_server")
    store = RedisCache(url=server.url, namespace=f"contract_qdrant{next(_names)}", env={})
    cache = QdrantSemanticCache(
        location=":memory:", qdrant_semantic_cache_embedding_model="local", store=store
    )
    request.addfinalizer(cache.disconnect)
    return cache


def dual_semantic_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.semantic.dual import DualSemanticCache

    cache = DualSemanticCache(redis_semantic_factory(request, tmp_path))
    request.addfinalizer(cache.disconnect)
    return cache


FACTORIES = {
    "redis-semantic": redis_semantic_factory,
    "qdrant-semantic": qdrant_semantic_factory,
    "qdrant-semantic-redis-store": qdrant_over_redis_factory,
    "dual-semantic": dual_semantic_factory,
}
