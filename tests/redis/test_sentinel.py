"""RedisCache through Redis Sentinel: a master, a replica, a sentinel; then a failover."""

from __future__ import annotations

import asyncio
import json
import time

from aiocache_llm.errors import BackendError
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis_sentinel import RedisSentinelServers


def sentinel_cache(servers: RedisSentinelServers, namespace: str) -> RedisCache:
    return RedisCache(
        sentinel_nodes=servers.sentinel_nodes,
        service_name=servers.service_name,
        namespace=namespace,
        socket_timeout=1,
        env={},
    )


async def test_a_cache_through_sentinel_reads_and_writes(
    redis_sentinel: RedisSentinelServers, namespace: str
) -> None:
    cache = sentinel_cache(redis_sentinel, namespace)
    try:
        await cache.async_set_cache("k", "v")
        assert await cache.async_get_cache("k") == "v"
        assert (await cache.async_test_connection())["mode"] == "sentinel"
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_sentinel_settings_come_from_the_environment(
    redis_sentinel: RedisSentinelServers,
) -> None:
    env = {
        "REDIS_SENTINEL_NODES": json.dumps(redis_sentinel.sentinel_nodes),
        "REDIS_SERVICE_NAME": redis_sentinel.service_name,
        "REDIS_NAMESPACE": "sentinel-env",
    }
    cache = RedisCache(env=env)
    try:
        assert await cache.async_increment("n", 2) == 2
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_the_cache_keeps_working_after_the_master_is_killed(
    redis_sentinel: RedisSentinelServers, namespace: str
) -> None:
    cache = sentinel_cache(redis_sentinel, namespace)
    try:
        await cache.async_set_cache("before", "v")
        old_master = redis_sentinel.master_port()
        redis_sentinel.master.stop()
        deadline = time.monotonic() + 30
        while True:  # failures during the failover are typed; then writes succeed again
            try:
                await cache.async_set_cache("after", "v")
                break
            except BackendError:
                assert time.monotonic() < deadline, "no failover within 30 s"
                await asyncio.sleep(0.2)
        assert await cache.async_get_cache("after") == "v"
        assert redis_sentinel.master_port() != old_master
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()
