"""Namespaces on Redis and Redis Cluster, and one caller's bad input inside a shared batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from aiocache_llm.errors import InvalidKeyError
from aiocache_llm.middleware.builders import CircuitBreaker, GuardedCache
from aiocache_llm.storage.redis import RedisCache, RedisClusterCache, namespace_prefix

MakeCache = Callable[[str], RedisCache]


@pytest.fixture(params=["redis", "redis-cluster"])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[MakeCache]:
    made: list[RedisCache] = []

    def make(namespace: str) -> RedisCache:
        cache: RedisCache
        if request.param == "redis":
            server = request.getfixturevalue("redis_server")
            cache = RedisCache(url=server.url, namespace=namespace, env={})
        else:
            cluster = request.getfixturevalue("redis_cluster")
            cache = RedisClusterCache(
                startup_nodes=cluster.startup_nodes, namespace=namespace, env={}
            )
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.async_flush_cache()
        await cache.async_disconnect()


@pytest.fixture
def base() -> str:
    return uuid.uuid4().hex[:8]


async def test_a_namespace_does_not_read_the_keys_of_a_namespace_it_prefixes(
    make_cache: MakeCache, base: str
) -> None:
    outer, inner = make_cache(base), make_cache(f"{base}:x")
    await inner.async_set_cache("y", "inner's")
    assert await outer.async_get_cache("x:y") is None
    await outer.async_set_cache("x:y", "outer's")
    assert await inner.async_get_cache("y") == "inner's"
    assert await outer.async_get_cache("x:y") == "outer's"


async def test_flushing_a_namespace_leaves_a_namespace_it_prefixes(
    make_cache: MakeCache, base: str
) -> None:
    outer, inner, star = make_cache(base), make_cache(f"{base}:x"), make_cache(f"{base}*")
    await inner.async_set_cache("y", "kept")
    await star.async_set_cache("y", "kept too")
    await outer.async_set_cache("k", "flushed")
    await outer.async_flush_cache()
    assert await outer.async_get_cache("k") is None
    assert await inner.async_get_cache("y") == "kept"
    assert await star.async_get_cache("y") == "kept too"


@pytest.mark.parametrize(
    ("one", "other"), [("a:b", "a\\:b"), ("a\\", "a"), ("a\\:b", "a\\\\:b"), ("t", "t:")]
)
def test_no_two_namespaces_share_a_prefix(one: str, other: str) -> None:
    first, second = namespace_prefix(one), namespace_prefix(other)
    assert not first.startswith(second) and not second.startswith(first)


async def test_a_bad_key_in_an_auto_pipelined_batch_fails_only_its_caller(
    make_cache: MakeCache, base: str
) -> None:
    cache = make_cache(base)
    await cache.async_set_cache_pipeline([(f"k{i}", i) for i in range(10)])
    calls = [cache.async_get_cache(f"k{i}") for i in range(10)]
    calls.insert(5, cache.async_get_cache("bad-\udc80"))
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results.pop(5), InvalidKeyError)
    assert results == list(range(10))


async def test_bad_keys_never_open_the_circuit_breaker(make_cache: MakeCache, base: str) -> None:
    guarded = GuardedCache(
        make_cache(base), breaker=CircuitBreaker(failure_threshold=5, recovery_time=60)
    )
    await guarded.async_set_cache("good", "v")
    for _ in range(10):
        with pytest.raises(InvalidKeyError):
            await guarded.async_get_cache("bad-\ud800")
    assert guarded.breaker.state == "closed"
    assert await guarded.async_get_cache("good") == "v"
