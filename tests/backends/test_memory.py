"""InMemoryCache: bounds, eviction order, size limit, references, and a model-based test."""

from __future__ import annotations

import asyncio
import threading
import time

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from aiocache_llm import InMemoryCache, InvalidArgumentError


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_are_returned_by_reference() -> None:
    cache = InMemoryCache()
    value = {"choices": []}
    cache.set_cache("k", value)
    assert cache.get_cache("k") is value


def test_litellms_attribute_names_show_what_is_held() -> None:
    clock = Clock()
    cache = InMemoryCache(max_size_in_memory=2, max_size_per_item=1, clock=clock)
    cache.set_cache("early", "a", ttl=100)
    cache.set_cache("forever", "b")
    assert dict(cache.cache_dict) == {"early": "a", "forever": "b"}
    shift = time.time() - clock.now  # the views show wall-clock times, as LiteLLM's
    assert dict(cache.ttl_dict) == {"early": pytest.approx(1100.0 + shift)}
    assert "forever" not in cache.ttl_dict and len(cache.ttl_dict) == 1
    cache.set_cache("late", "c", ttl=200)  # the earliest expiry is evicted
    assert "early" not in cache.cache_dict and cache.cache_dict["late"] == "c"
    assert cache.expiration_heap == [(pytest.approx(1200.0 + shift), "late")]
    for _ in range(100):
        cache.set_cache("late", "d", ttl=200)
    assert len(cache.expiration_heap) == 1
    assert cache.check_value_size("x" * 1024) and not cache.check_value_size("x" * 1025)
    assert cache.get_cache("late") == "d"  # the views change nothing
    assert not hasattr(cache.cache_dict, "clear")


def test_the_size_bound_is_never_exceeded() -> None:
    cache = InMemoryCache(max_size_in_memory=10)
    for i in range(100):
        cache.set_cache(f"k{i}", i)
    assert len(cache) == 10
    assert cache.stats.evictions == 90


def test_eviction_removes_expired_entries_first() -> None:
    clock = Clock()
    cache = InMemoryCache(max_size_in_memory=3, clock=clock)
    cache.set_cache("lives", 1, ttl=None)
    cache.set_cache("dies-a", 2, ttl=5)
    cache.set_cache("dies-b", 3, ttl=6)
    clock.now += 10
    cache.set_cache("new", 4, ttl=None)
    assert cache.stats.evictions == 0 and cache.stats.expirations == 2
    assert cache.batch_get_cache(["lives", "new"]) == [1, 4]


def test_eviction_then_takes_the_earliest_expiring_entry() -> None:
    cache = InMemoryCache(max_size_in_memory=3, clock=Clock())
    cache.set_cache("forever", 0, ttl=None)
    cache.set_cache("late", 1, ttl=500)
    cache.set_cache("soon", 2, ttl=50)
    cache.set_cache("new", 3, ttl=100)
    assert cache.get_cache("soon") is None
    assert cache.batch_get_cache(["forever", "late", "new"]) == [0, 1, 3]


def test_eviction_then_takes_the_least_recently_used_entry() -> None:
    cache = InMemoryCache(max_size_in_memory=3)
    for key in ("a", "b", "c"):
        cache.set_cache(key, key, ttl=None)
    cache.get_cache("a")  # "b" is now the least recently used
    cache.set_cache("d", "d", ttl=None)
    assert cache.get_cache("b") is None
    assert cache.batch_get_cache(["a", "c", "d"]) == ["a", "c", "d"]


def test_values_over_the_per_item_limit_are_refused_and_counted() -> None:
    cache = InMemoryCache(max_size_per_item=1)  # KiB
    cache.set_cache("big", "x" * 2000)
    cache.set_cache("big-utf8", "é" * 600)  # 600 characters, 1200 bytes
    cache.set_cache("big-bytes", b"x" * 2000)
    cache.set_cache("big-dict", {f"k{i}": i for i in range(200)})
    cache.set_cache("small", "x" * 500)
    assert cache.batch_get_cache(["big", "big-utf8", "big-bytes", "big-dict"]) == [None] * 4
    assert cache.get_cache("small") == "x" * 500
    assert cache.stats.refused_too_large == 4


def test_the_size_estimate_counts_a_containers_own_size_not_what_it_refers_to() -> None:
    cache = InMemoryCache(max_size_per_item=1)  # KiB
    nested = {"choices": [{"message": {"content": "y" * 2000}}]}
    cache.set_cache("nested", nested)
    assert cache.get_cache("nested") is nested
    assert cache.stats.refused_too_large == 0


def test_values_are_kept_as_they_are_without_serialising() -> None:
    cache = InMemoryCache()
    thing, nan = object(), float("nan")
    cache.set_cache_pipeline([("object", thing), ("set", {1, 2}), ("nan", nan)])
    assert cache.batch_get_cache(["object", "set", "nan"]) == [thing, {1, 2}, nan]


def test_oldest_keys_are_listed_least_recently_used_first() -> None:
    clock = Clock()
    cache = InMemoryCache(clock=clock)
    for key in ("a", "b", "c", "d"):
        cache.set_cache(key, 1, ttl=None if key != "c" else 1)
    cache.get_cache("a")
    clock.now += 2  # "c" has expired
    assert cache.get_oldest_n_keys(2) == ["b", "d"]  # type: ignore[attr-defined]


def test_set_add_adds_members_and_sets_the_ttl_only_on_creation() -> None:
    clock = Clock()
    cache = InMemoryCache(clock=clock)
    assert cache.set_cache_sadd("s", ["a", "b"], ttl=10) == 2  # type: ignore[attr-defined]
    clock.now += 5
    assert cache.set_cache_sadd("s", ["b", "c"], ttl=100) == 1  # type: ignore[attr-defined]
    assert cache.smembers("s") == {"a", "b", "c"}  # type: ignore[attr-defined]
    clock.now += 6
    assert cache.smembers("s") == set()  # type: ignore[attr-defined]


def test_set_add_on_a_non_set_is_a_typed_error() -> None:
    cache = InMemoryCache()
    cache.set_cache("k", "text")
    try:
        cache.set_cache_sadd("k", ["a"])  # type: ignore[attr-defined]
    except InvalidArgumentError:
        return
    raise AssertionError("expected InvalidArgumentError")


def test_blocking_increments_from_many_threads_are_exact() -> None:
    cache = InMemoryCache()

    def work() -> None:
        for _ in range(1000):
            cache.increment_cache("n", 1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get_cache("n") == 8000


async def test_async_methods_run_without_suspending() -> None:
    cache = InMemoryCache()
    loop_iterations = 0

    async def ticker() -> None:
        nonlocal loop_iterations
        while True:
            loop_iterations += 1
            await asyncio.sleep(0)

    task = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0)
    before = loop_iterations
    for i in range(100):
        await cache.async_set_cache(f"k{i}", i)
        await cache.async_get_cache(f"k{i}")
    assert loop_iterations == before  # no await inside yielded to the loop
    task.cancel()


class InMemoryCacheModel(RuleBasedStateMachine):
    """Random operations against InMemoryCache and a plain dict model with the same clock."""

    keys = st.sampled_from([f"k{i}" for i in range(8)])
    ttls = st.one_of(st.none(), st.integers(min_value=1, max_value=20))

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.capacity = 5
        self.cache = InMemoryCache(max_size_in_memory=self.capacity, clock=self.clock)
        self.model: dict[str, tuple[object, float | None]] = {}

    def _live_model(self) -> dict[str, object]:
        now = self.clock.now
        return {k: v for k, (v, exp) in self.model.items() if exp is None or exp > now}

    def _sync_model(self) -> None:
        """Evictions are the cache's choice: drop from the model what the cache evicted."""
        self.model = {k: entry for k, entry in self.model.items() if k in self.cache._data}

    @rule(key=keys, value=st.integers(), ttl=ttls)
    def set(self, key: str, value: int, ttl: int | None) -> None:
        self.cache.set_cache(key, value, ttl=ttl)
        self.model[key] = (value, None if ttl is None else self.clock.now + ttl)
        self._sync_model()

    @rule(key=keys)
    def get(self, key: str) -> None:
        assert self.cache.get_cache(key) == self._live_model().get(key)

    @rule(key=keys, by=st.integers(min_value=-5, max_value=5), ttl=ttls)
    def increment(self, key: str, by: int, ttl: int | None) -> None:
        live = self._live_model()
        current = live.get(key)
        if current is not None and not isinstance(current, int):
            return
        result = self.cache.increment_cache(key, by, ttl=ttl)
        if key in live:
            expected, exp = live[key] + by, self.model[key][1]  # type: ignore[operator]
        else:
            expected, exp = by, None if ttl is None else self.clock.now + ttl
        assert result == expected
        self.model[key] = (expected, exp)
        self._sync_model()

    @rule(key=keys)
    def delete(self, key: str) -> None:
        self.cache.delete_cache(key)
        self.model.pop(key, None)

    @rule(seconds=st.integers(min_value=0, max_value=15))
    def advance(self, seconds: int) -> None:
        self.clock.now += seconds

    @rule(key=keys)
    def ttl(self, key: str) -> None:
        entry = self.model.get(key)
        expected = None
        if entry is not None and entry[1] is not None and entry[1] > self.clock.now:
            expected = entry[1] - self.clock.now
        assert self.cache.get_ttl(key) == expected

    @rule()
    def flush(self) -> None:
        self.cache.flush_cache()
        self.model.clear()

    @invariant()
    def bounded_and_consistent(self) -> None:
        assert len(self.cache) <= self.capacity
        for key, (value, *_) in self.cache._data.items():
            assert key in self.model and self.model[key][0] == value


TestInMemoryCacheModel = InMemoryCacheModel.TestCase
TestInMemoryCacheModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
