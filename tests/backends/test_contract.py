"""The backend contract, run on every backend through the async and the blocking API."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from aiocache_llm import (
    BaseCache,
    InvalidArgumentError,
    InvalidKeyError,
    InvalidTTLError,
    SerializationError,
)
from tests.timing import TTL_LADDER, live_then_gone, sleep_until

from .conftest import BY_REFERENCE, Api

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris. " * 200}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 400, "total_tokens": 409},
}


async def test_get_of_a_missing_key_is_none(api: Api) -> None:
    assert await api.get_cache("absent") is None


async def test_set_then_get_returns_the_value(api: Api) -> None:
    await api.set_cache("chat", CHAT)
    assert await api.get_cache("chat") == CHAT


@pytest.mark.parametrize(
    "value",
    ["text", "ünïcödé ✓", 0, 3.5, True, [1, "two", None], {"nested": {"a": [1]}}, b"\x00\xff"],
)
async def test_values_of_every_kind_round_trip(api: Api, value: Any) -> None:
    await api.set_cache("value", value)
    assert await api.get_cache("value") == value


async def test_overwrite_replaces_the_value(api: Api) -> None:
    await api.set_cache("k", "old")
    await api.set_cache("k", "new")
    assert await api.get_cache("k") == "new"


async def test_entry_expires_after_its_ttl(api: Api) -> None:
    await live_then_gone(
        lambda ttl: api.set_cache("short", "v", ttl=ttl), lambda: api.get_cache("short"), "v"
    )


async def test_default_ttl_applies_when_ttl_is_left_out(cache: BaseCache, api: Api) -> None:
    cache.default_ttl = 0.2
    await api.set_cache("k", "v")
    await api.set_cache("forever", "v", ttl=None)
    await asyncio.sleep(0.3)
    assert await api.get_cache("k") is None
    assert await api.get_cache("forever") == "v"


async def test_get_ttl_reports_remaining_seconds(api: Api) -> None:
    began = time.monotonic()
    await api.set_cache("k", "v", ttl=100)
    await api.set_cache("forever", "v", ttl=None)
    remaining = await api.get_ttl("k")
    assert remaining is not None and 100 - (time.monotonic() - began) - 0.01 <= remaining <= 100
    assert await api.get_ttl("forever") is None
    assert await api.get_ttl("absent") is None


async def test_batch_get_returns_values_in_order_with_none_for_misses(api: Api) -> None:
    await api.set_cache_pipeline([("a", 1), ("b", {"x": 2})])
    assert await api.batch_get_cache(["b", "missing", "a"]) == [{"x": 2}, None, 1]


async def test_set_pipeline_applies_one_ttl_to_all(api: Api) -> None:
    await api.set_cache_pipeline([("a", 1), ("b", 2)], ttl=0.2)
    await asyncio.sleep(0.3)
    assert await api.batch_get_cache(["a", "b"]) == [None, None]


async def test_increment_creates_then_adds(api: Api) -> None:
    assert await api.increment_cache("n", 1) == 1
    assert await api.increment_cache("n", 2) == 3
    assert await api.increment_cache("n", 0.5) == pytest.approx(3.5)
    assert await api.get_cache("n") == pytest.approx(3.5)


async def test_increment_sets_the_ttl_only_when_the_key_is_new(api: Api) -> None:
    for ttl in TTL_LADDER:  # a longer TTL only when the machine was too slow for the shorter
        key = f"window-{ttl}"
        await api.increment_cache(key, 1, ttl=ttl)
        created = time.monotonic()
        if await api.increment_cache(key, 1, ttl=1000) != 2:  # the window expired first
            continue
        remaining = await api.get_ttl(key)
        if remaining is not None:  # None: it expired before the TTL was read (a slow machine)
            break
    else:
        raise AssertionError("every window expired before its TTL could be read")
    assert remaining <= ttl  # the first TTL, not the second
    await sleep_until(created + ttl * 1.5)
    assert await api.get_cache(key) is None


async def test_increment_pipeline_returns_new_values(api: Api) -> None:
    await api.increment_cache("a", 10)
    result = await api.increment_pipeline(
        [("a", 1), ("b", 2, 60), {"key": "a", "increment_value": 5, "ttl": None}]
    )
    assert result == [11, 2, 16]


async def test_increment_of_a_non_number_is_a_typed_error(api: Api) -> None:
    await api.set_cache("text", "hello")
    with pytest.raises(InvalidArgumentError):
        await api.increment_cache("text", 1)


async def test_delete_removes_only_that_key(api: Api) -> None:
    await api.set_cache_pipeline([("a", 1), ("b", 2)])
    await api.delete_cache("a")
    await api.delete_cache("never-existed")
    assert await api.batch_get_cache(["a", "b"]) == [None, 2]


async def test_flush_removes_everything(api: Api) -> None:
    await api.set_cache_pipeline([("a", 1), ("b", 2)])
    await api.flush_cache()
    assert await api.batch_get_cache(["a", "b"]) == [None, None]


async def test_ping_and_test_connection_report_healthy(api: Api) -> None:
    assert await api.ping() is True
    report = await api.test_connection()
    assert report["status"] == "healthy"


async def test_disconnect_then_use_again(api: Api) -> None:
    await api.set_cache("k", "v")
    await api.disconnect()
    assert await api.get_cache("k") == "v"


@pytest.mark.parametrize("key", [None, 1, b"bytes", ""])
async def test_bad_keys_are_a_typed_error_and_store_nothing(api: Api, key: Any) -> None:
    with pytest.raises(InvalidKeyError):
        await api.set_cache(key, "v")


@pytest.mark.parametrize("ttl", [-1, 0, math.inf, math.nan, "60", True])
async def test_bad_ttls_are_a_typed_error_and_store_nothing(api: Api, ttl: Any) -> None:
    with pytest.raises(InvalidTTLError):
        await api.set_cache("k", "v", ttl=ttl)
    assert await api.get_cache("k") is None


UNSERIALISABLE = [{1, 2}, object(), {"k": object()}, {(1, 2): "tuple key"}]


def serialising(backend_name: str) -> None:
    if backend_name in BY_REFERENCE:
        pytest.skip(f"{backend_name} keeps values by reference, unserialised")


@pytest.mark.parametrize("value", UNSERIALISABLE)
async def test_unserialisable_values_are_a_typed_error_and_store_nothing(
    backend_name: str, api: Api, value: Any
) -> None:
    serialising(backend_name)
    with pytest.raises(SerializationError):
        await api.set_cache("k", value)
    assert await api.get_cache("k") is None


async def test_a_pipeline_with_one_bad_value_stores_nothing(backend_name: str, api: Api) -> None:
    serialising(backend_name)
    with pytest.raises(SerializationError):
        await api.set_cache_pipeline([("good", 1), ("bad", object())])
    assert await api.batch_get_cache(["good", "bad"]) == [None, None]


@pytest.mark.parametrize("value", UNSERIALISABLE)
async def test_a_by_reference_cache_keeps_unserialisable_values_as_they_are(
    backend_name: str, api: Api, value: Any
) -> None:
    if backend_name not in BY_REFERENCE:
        pytest.skip(f"{backend_name} serialises its values")
    await api.set_cache("k", value)
    assert await api.get_cache("k") is value


async def test_a_thousand_concurrent_increments_give_the_exact_total(cache: BaseCache) -> None:
    await asyncio.gather(*(cache.async_increment("counter", 1) for _ in range(1000)))
    assert await cache.async_get_cache("counter") == 1000


async def test_concurrent_blocking_increments_from_threads_give_the_exact_total(
    cache: BaseCache,
) -> None:
    def work() -> None:
        for _ in range(100):
            cache.increment_cache("counter", 1)

    await asyncio.gather(*(asyncio.to_thread(work) for _ in range(10)))
    assert await cache.async_get_cache("counter") == 1000


async def test_get_entry_carries_the_creation_and_expiry_times(api: Api) -> None:
    before = time.time()
    await api.set_cache("k", {"a": 1}, ttl=100)
    await api.set_cache("forever", "v", ttl=None)
    entry = await api.get_entry("k")
    after = time.time()
    assert entry.value == {"a": 1}
    assert before - 0.01 <= entry.created_at <= after + 0.01
    assert before + 99.9 <= entry.expires_at <= after + 100.1
    assert (await api.get_entry("forever")).expires_at is None
    assert await api.get_entry("absent") is None


async def test_batch_get_entries_returns_entries_in_order(api: Api) -> None:
    before = time.time()
    await api.set_cache_pipeline([("a", 1), ("b", 2)], ttl=50)
    a, missing, b = await api.batch_get_entries(["a", "missing", "b"])
    assert (a.value, missing, b.value) == (1, None, 2)
    assert a.expires_at is not None and a.expires_at >= before + 50 - 0.01
