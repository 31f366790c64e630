"""DualCache under random operations from several caches at once, some cancelled midway: once
the invalidations have arrived, no L1 holds a value L2 does not (a real Redis)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable
from typing import Any

import pytest

from aiocache_llm import InMemoryCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer
from tests.timing import eventually

KEYS = [f"k{i}" for i in range(32)]


async def _operate(cache: DualCache, rng: random.Random, count: int) -> None:
    """``count`` random writes (values and numbers), deletes, flushes, increments and reads;
    about one in three cancelled midway."""
    for i in range(count):
        key, choice = rng.choice(KEYS), rng.random()
        operation: Awaitable[Any]
        if choice < 0.33:
            operation = cache.async_set_cache(key, f"{id(cache)}-{i}", ttl=rng.choice([None, 60]))
        elif choice < 0.36:
            operation = cache.async_set_cache(key, i)  # a number: a counter, never in L1
        elif choice < 0.45:
            pair = [(key, f"p{i}"), (rng.choice(KEYS), rng.choice([i, f"q{i}"]))]
            operation = cache.async_set_cache_pipeline(pair)
        elif choice < 0.54:
            operation = cache.async_delete_cache(key)
        elif choice < 0.545:
            operation = cache.async_flush_cache()
        elif choice < 0.57:
            operation = cache.async_increment(f"n-{key}", 1)
        elif choice < 0.8:
            operation = cache.async_get_cache(key)
        else:
            operation = cache.async_batch_get_cache(rng.sample(KEYS, 3))
        task = asyncio.ensure_future(operation)
        if rng.random() < 0.3:
            await asyncio.sleep(rng.random() * 0.0003)
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


@pytest.mark.parametrize("seed", range(6))
async def test_no_l1_keeps_a_value_l2_replaced(redis_server: RedisServer, seed: int) -> None:
    rng = random.Random(seed)
    namespace = f"random-{uuid.uuid4().hex[:8]}"
    # an L1 copy outlives the wait below: a stale one cannot simply expire before the check
    caches = [
        DualCache(
            InMemoryCache(),
            RedisCache(url=redis_server.url, namespace=namespace, env={}),
            default_in_memory_ttl=120,
        )
        for _ in range(3)
    ]
    truth = RedisCache(url=redis_server.url, namespace=namespace, env={})
    try:
        for cache in caches:
            await cache.async_ready()
        workers = [random.Random(rng.random()) for _ in range(9)]
        await asyncio.gather(
            *(_operate(caches[i % 3], worker, 300) for i, worker in enumerate(workers))
        )

        async def stale() -> list[tuple[int, str]]:
            found = []
            for n, cache in enumerate(caches):
                for key in KEYS:
                    held = cache.in_memory_cache.get_cache(key)
                    if held is not None and held != await truth.async_get_cache(key):
                        found.append((n, key))
            return found

        async def converged() -> bool:
            return not await stale()

        await eventually(converged, what="every L1 agreeing with L2")
    finally:
        for cache in caches:
            await cache.async_disconnect()
        await truth.async_disconnect()
