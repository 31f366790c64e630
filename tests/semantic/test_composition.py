"""SemanticCache(store, index, embedder, guard): any exact-key store beside any vector index."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("qdrant_client")

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.semantic import SemanticCache, VectorIndex
from aiocache_llm.semantic.dual import DualSemanticCache
from aiocache_llm.semantic.guard import PrecisionGuard
from aiocache_llm.semantic.qdrant import QdrantSemanticCache
from aiocache_llm.semantic.qdrant_connection import QdrantConnection
from aiocache_llm.semantic.qdrant_index import QdrantVectorIndex
from aiocache_llm.semantic.redis import RedisSemanticCache
from aiocache_llm.semantic.redis_index import RedisVectorIndex
from aiocache_llm.storage.memory import InMemoryCache
from aiocache_llm.storage.redis import RedisCache

from .conftest import chat, query, unique_name

SCOPE = {"namespace": "app"}
FRANCE, PARAPHRASE = "What is the capital of France?", "France's capital city?"


def qdrant_index() -> QdrantVectorIndex:
    return QdrantVectorIndex(QdrantConnection({"location": ":memory:"}), unique_name("col"))


@pytest.fixture
async def redis_store(redis_server: Any) -> AsyncIterator[RedisCache]:
    store = RedisCache(url=redis_server.url, namespace=unique_name("ns"), env={})
    yield store
    await store.async_flush_cache()
    await store.async_disconnect()


async def test_an_in_memory_store_beside_a_qdrant_index(local_embedder: Any) -> None:
    store = InMemoryCache()
    cache = SemanticCache(store, qdrant_index(), local_embedder)
    await cache.async_set_cache("k", "v")
    assert await store.async_get_cache("k") == "v"
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE, "Paris"
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat(PARAPHRASE), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == "Paris"
    await cache.async_flush_cache()
    assert await store.async_get_cache("k") is None
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat(PARAPHRASE), SCOPE), SCOPE
        )
        is None
    )


async def test_deleting_a_key_removes_its_index_entry_whatever_the_store(
    local_embedder: Any,
) -> None:
    cache = SemanticCache(InMemoryCache(), qdrant_index(), local_embedder)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE, "Paris"
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE
    )
    assert hit is not None
    await cache.async_delete_cache(hit.key)
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat(PARAPHRASE), SCOPE), SCOPE
        )
        is None
    )


async def test_a_redis_store_under_a_qdrant_index_holds_the_exact_keys(
    local_embedder: Any, redis_store: RedisCache
) -> None:
    cache = QdrantSemanticCache(
        location=":memory:", qdrant_collection_name=unique_name("col"),
        embedder=local_embedder, store=redis_store,
    )  # fmt: skip
    assert cache.store is redis_store and cache.kv_collection_name is None
    await cache.async_set_cache("k", {"a": 1}, ttl=100)
    assert await redis_store.async_get_cache("k") == {"a": 1}
    assert 0 < (await cache.async_get_ttl("k") or 0) <= 100
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat(FRANCE), SCOPE), SCOPE, "Paris"
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat(PARAPHRASE), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == "Paris"


async def test_increments_through_a_redis_store_are_atomic_across_cache_objects(
    redis_server: Any, redis_store: RedisCache
) -> None:
    other_store = RedisCache(url=redis_server.url, namespace=redis_store.namespace, env={})
    one = QdrantSemanticCache(location=":memory:", store=redis_store)
    two = QdrantSemanticCache(location=":memory:", store=other_store)
    try:
        await asyncio.gather(
            *(cache.async_increment("hits", 1) for _ in range(50) for cache in (one, two))
        )
        assert await one.async_get_cache("hits") == 100
    finally:
        await other_store.async_disconnect()


async def test_a_dual_semantic_cache_over_a_redis_store_is_coherent(
    redis_store: RedisCache,
) -> None:
    qdrant = QdrantSemanticCache(location=":memory:", store=redis_store)
    assert DualSemanticCache(qdrant).coherent
    assert not DualSemanticCache(QdrantSemanticCache(location=":memory:")).coherent


async def test_the_redis_semantic_cache_is_a_redis_store_beside_a_redis_index(
    redis_server: Any,
) -> None:
    cache = RedisSemanticCache(
        url=redis_server.url, redis_semantic_cache_index_name=unique_name("idx"), env={}
    )
    assert isinstance(cache.store, RedisCache) and isinstance(cache.index, RedisVectorIndex)
    assert cache.index.redis is cache.store
    assert cache.entry_prefix.startswith(cache.store.namespace)


def test_an_index_must_keep_the_vector_index_protocol() -> None:
    assert isinstance(qdrant_index(), VectorIndex)
    with pytest.raises(ConfigurationError, match="VectorIndex"):
        SemanticCache(InMemoryCache(), object(), "local")  # type: ignore[arg-type]


def test_the_guard_is_a_part_of_its_own() -> None:
    guard = PrecisionGuard(rules=["numbers"])
    cache = SemanticCache(InMemoryCache(), qdrant_index(), "local", guard)
    assert cache.precision_guard is guard
    assert SemanticCache(InMemoryCache(), qdrant_index(), "local", False).precision_guard is None


async def test_the_store_can_be_named_by_its_configuration(redis_server: Any) -> None:
    namespace = unique_name("ns")
    config = {"type": "redis", "url": redis_server.url, "namespace": namespace, "env": {}}
    cache = QdrantSemanticCache(location=":memory:", store=config)
    try:
        assert isinstance(cache.store, RedisCache) and cache.store.namespace == namespace
        await cache.async_set_cache("k", "v")
        assert await cache.store.async_get_cache("k") == "v"
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


@pytest.mark.parametrize("config", [{}, {"type": "qdrant-semantic"}, {"type": "sqlite"}])
def test_a_store_configuration_of_no_exact_key_type_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        QdrantSemanticCache(location=":memory:", store=config)
