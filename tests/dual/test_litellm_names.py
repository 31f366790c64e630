"""DualCache and the backends under LiteLLM's names: local_only, set-add, timedelta TTLs."""
# ruff: noqa: F811 - the fixtures imported from test_dual are parameters here

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from aiocache_llm import ConfigurationError, DiskCache, InMemoryCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache

from .test_dual import dual, l2  # noqa: F401 - the same L1-over-real-Redis fixtures


async def test_local_only_reads_stop_at_l1(dual: DualCache, l2: RedisCache) -> None:
    await dual.async_set_cache("k", "v")  # a number would be a counter, never held in L1
    await dual.in_memory_cache.async_delete_cache("k")  # in L2 only, as another process's write
    assert await dual.async_get_cache("k", local_only=True) is None
    assert dual.get_cache("k", local_only=True) is None
    assert await dual.async_get_cache("k") == "v"  # fills L1
    assert await dual.async_get_cache("k", local_only=True) == "v"


async def test_set_add_writes_both_levels_and_counts_new_members(
    dual: DualCache, l2: RedisCache
) -> None:
    assert await dual.async_set_cache_sadd("s", ["a", "b"], ttl=60) == 2
    assert await dual.async_set_cache_sadd("s", ["b", "c"]) == 1
    assert await l2.async_smembers("s") == {"a", "b", "c"}
    assert await dual.in_memory_cache.async_smembers("s") == {"a", "b", "c"}
    assert await dual.async_set_cache_sadd("s", ["d"], local_only=True) == 1
    assert await l2.async_smembers("s") == {"a", "b", "c"}


def test_litellms_batch_expiry_name_is_accepted() -> None:
    cache = DualCache(InMemoryCache(), None, default_redis_batch_cache_expiry=2.0)
    assert cache.redis_batch_cache_expiry == 2.0


async def test_litellms_batch_cache_size_bounds_the_misses_remembered(l2: RedisCache) -> None:
    dual = DualCache(InMemoryCache(), l2, default_max_redis_batch_cache_size=3)
    try:
        for round_ in range(5):
            keys = [f"absent-{round_}-{i}" for i in range(2)]
            assert await dual.async_batch_get_cache(keys) == [None, None]
            assert len(dual._reads._misses) <= 3
        assert await dual.async_batch_get_cache(["absent-4-0"]) == [None]
    finally:
        await dual.async_disconnect()
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(ConfigurationError):
            DualCache(InMemoryCache(), None, default_max_redis_batch_cache_size=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["memory", "disk"])
def test_timedelta_ttls_and_values_are_seconds(kind: str, tmp_path: Path) -> None:
    cache = InMemoryCache() if kind == "memory" else DiskCache(tmp_path)
    cache.set_cache("k", {"v": 1}, ttl=datetime.timedelta(minutes=2))
    remaining = cache.get_ttl("k")
    assert remaining is not None and 60 < remaining <= 120
    cache.set_cache("window", {"length": datetime.timedelta(seconds=90)})
    stored = cache.get_cache("window")
    # a serialising store keeps the seconds, as LiteLLM does; memory keeps the object itself
    assert stored == {"length": 90.0 if kind == "disk" else datetime.timedelta(seconds=90)}


async def test_a_timedelta_value_is_stored_as_seconds_in_redis(l2: RedisCache) -> None:
    await l2.async_set_cache("window", datetime.timedelta(minutes=1), ttl=datetime.timedelta(1))
    assert await l2.async_get_cache("window") == 60.0


async def test_a_local_only_refreshing_increment_resets_the_l1_ttl_and_skips_l2(
    dual: DualCache, l2: RedisCache
) -> None:
    await dual.async_increment("n", 1, ttl=100, local_only=True)
    assert await dual.async_increment("n", 1, ttl=1000, local_only=True, refresh_ttl=True) == 2
    assert dual.increment_cache("n", 1, ttl=2000, local_only=True) == 3  # keeps the refreshed TTL
    remaining = await dual.in_memory_cache.async_get_ttl("n")
    assert remaining is not None and 500 < remaining <= 1000
    assert await l2.async_get_cache("n") is None


async def test_litellms_keyword_names_for_batches_and_tracing(
    dual: DualCache, l2: RedisCache
) -> None:
    await dual.async_set_cache_pipeline(cache_list=[("a", "1"), ("b", "2")], ttl=60)
    assert await dual.async_batch_get_cache(["a", "b", "c"], parent_otel_span=None) == [
        "1",
        "2",
        None,
    ]
    assert dual.batch_get_cache(["a", "b"], parent_otel_span=None) == ["1", "2"]
    assert await dual.async_get_cache("a", parent_otel_span=None) == "1"
    await l2.async_set_cache_pipeline(cache_list=[("d", "4")])  # in L2 only
    assert await dual.async_batch_get_cache(["a", "d"], local_only=True) == ["1", None]
    assert await dual.async_batch_get_cache(["a", "d"]) == ["1", "4"]


async def test_litellms_increment_names_and_keywords(dual: DualCache, l2: RedisCache) -> None:
    assert await dual.async_increment_cache("n", 2, parent_otel_span=None, local_only=True) == 2
    assert dual.increment_cache("n", 3, 60, local_only=True) == 5  # third positional: the TTL
    assert await l2.async_get_cache("n") is None  # local only
    assert await dual.async_increment_cache(key="m", value=1, ttl=60) == 1
    assert await l2.async_get_cache("m") == 1
    assert await dual.async_increment_pipeline(increment_list=[("m", 2)]) == [3]
    assert await l2.async_increment_pipeline(increment_list=[("m", 1)]) == [4]
    assert await dual.async_set_cache_sadd("s", value=["x"]) == 1
    assert await InMemoryCache().async_set_cache_sadd("s", value=["x", "y"], ttl=None) == 2
