"""RedisClusterCache on a real three-master Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.cluster import key_slot

from aiocache_llm.errors import NotSupported
from aiocache_llm.storage.redis import RedisClusterCache
from tests.harness.redis_cluster import RedisClusterServers

KEYS = [f"k{i}" for i in range(200)]


@pytest.fixture
async def cluster_cache(
    redis_cluster: RedisClusterServers, namespace: str
) -> AsyncIterator[RedisClusterCache]:
    cache = RedisClusterCache(
        startup_nodes=redis_cluster.startup_nodes, namespace=namespace, env={}
    )
    try:
        yield cache
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


def test_the_keys_used_span_every_master(namespace: str) -> None:
    slots = {key_slot(f"{namespace}:{key}".encode()) for key in KEYS}
    thirds = {slot * 3 // 16384 for slot in slots}
    assert thirds == {0, 1, 2}


async def test_batch_get_and_set_pipeline_work_across_slots(
    cluster_cache: RedisClusterCache,
) -> None:
    await cluster_cache.async_set_cache_pipeline([(k, {"key": k}) for k in KEYS], ttl=60)
    values = await cluster_cache.async_batch_get_cache([*KEYS, "missing"])
    assert values == [*({"key": k} for k in KEYS), None]


async def test_increment_pipeline_across_slots_returns_new_values(
    cluster_cache: RedisClusterCache,
) -> None:
    first = await cluster_cache.async_increment_pipeline([(k, 1, 60) for k in KEYS])
    second = await cluster_cache.async_increment_pipeline([(k, 2.5) for k in KEYS])
    assert first == [1] * len(KEYS)
    assert second == [3.5] * len(KEYS)
    remaining = await cluster_cache.async_get_ttl(KEYS[0])
    assert remaining is not None and 0 < remaining <= 60


async def test_flush_empties_the_namespace_on_every_master(
    cluster_cache: RedisClusterCache, redis_cluster: RedisClusterServers, namespace: str
) -> None:
    other = RedisClusterCache(
        startup_nodes=redis_cluster.startup_nodes, namespace=f"{namespace}-other", env={}
    )
    try:
        await cluster_cache.async_set_cache_pipeline([(k, 1) for k in KEYS])
        await other.async_set_cache("kept", "v")
        await cluster_cache.async_flush_cache()
        assert await cluster_cache.async_batch_get_cache(KEYS) == [None] * len(KEYS)
        assert await other.async_get_cache("kept") == "v"
    finally:
        await other.async_flush_cache()
        await other.async_disconnect()


async def test_test_connection_reports_the_cluster_mode(cluster_cache: RedisClusterCache) -> None:
    report = await cluster_cache.async_test_connection()
    assert (report["status"], report["mode"]) == ("healthy", "cluster")


async def test_cluster_nodes_come_from_the_environment(
    redis_cluster: RedisClusterServers,
) -> None:
    nodes = ",".join(f"{host}:{port}" for host, port in redis_cluster.startup_nodes[:1])
    cache = RedisClusterCache(env={"REDIS_CLUSTER_NODES": nodes, "REDIS_NAMESPACE": "env"})
    try:
        await cache.async_set_cache_pipeline([(k, 1) for k in KEYS[:20]])
        assert await cache.async_batch_get_cache(KEYS[:20]) == [1] * 20
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


def test_the_blocking_api_works_on_the_cluster(
    redis_cluster: RedisClusterServers, namespace: str
) -> None:
    cache = RedisClusterCache(
        redis_startup_nodes=[{"host": h, "port": p} for h, p in redis_cluster.startup_nodes],
        namespace=namespace,
        env={},
    )
    try:
        cache.set_cache_pipeline([(k, k) for k in KEYS[:30]])
        assert cache.batch_get_cache(KEYS[:30]) == KEYS[:30]
        cache.flush_cache()
    finally:
        cache.disconnect()


async def test_published_messages_reach_a_subscriber_on_the_cluster(
    cluster_cache: RedisClusterCache,
) -> None:
    async def first_message() -> bytes:
        async for message in cluster_cache.async_subscribe("events"):
            return message
        raise AssertionError("the subscription ended")

    listener = asyncio.create_task(first_message())
    for _ in range(500):  # publish until the subscription is up (counts are per node)
        await cluster_cache.async_publish("events", b"hello")
        await asyncio.sleep(0.01)
        if listener.done():
            break
    assert await asyncio.wait_for(listener, 5) == b"hello"


async def test_a_flush_without_a_namespace_is_refused_on_every_primary(
    redis_cluster: RedisClusterServers, namespace: str
) -> None:
    cache = RedisClusterCache(startup_nodes=redis_cluster.startup_nodes, env={})
    key = f"{namespace}-unprefixed"
    try:
        await cache.async_set_cache(key, "v")
        with pytest.raises(NotSupported):
            await cache.async_flush_cache()
        assert await cache.async_get_cache(key) == "v"
    finally:
        await cache.async_delete_cache(key)
        await cache.async_disconnect()
