"""A layered cache over a guarded Redis L2: a Redis that is down, or a breaker that is open,
makes L2 reads misses and L2 writes local-only, never a TypeError (fail open, counted)."""

from __future__ import annotations

import pytest

from aiocache_llm.middleware.builders import CircuitBreaker, GuardedCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.memory import InMemoryCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.process import free_port


def _layered(threshold: int) -> tuple[DualCache, GuardedCache]:
    down = RedisCache(host="127.0.0.1", port=free_port(), socket_timeout=0.5, env={})
    guarded = GuardedCache(
        down, deadline=2.0, breaker=CircuitBreaker(failure_threshold=threshold, recovery_time=60)
    )
    return DualCache(InMemoryCache(), guarded), guarded


@pytest.mark.parametrize("breaker_open", [False, True], ids=["redis-down", "breaker-open"])
async def test_a_guarded_l2_that_is_down_fails_open_on_get_set_and_batch_get(
    breaker_open: bool,
) -> None:
    layered, guarded = _layered(threshold=1 if breaker_open else 1000)
    try:
        if breaker_open:
            assert await guarded.async_get_cache("warm-up") is None  # the failure opens it
            assert guarded.breaker.is_open()
        errors_before = guarded.stats.errors
        assert await layered.async_get_cache("k") is None
        await layered.async_set_cache("k", {"a": 1})
        assert await layered.async_batch_get_cache(["x", "y"]) == [None, None]
        assert await layered.async_get_entry("z") is None
        await layered.async_delete_cache("k")
        assert await layered.async_set_cache_sadd("s", ["m"]) == 1  # L1's answer
        assert guarded.stats.errors > errors_before  # each failure counted
    finally:
        await layered.async_disconnect()
