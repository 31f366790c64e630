"""Behaviour the object-store backends add to the contract, checked against each emulator."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from aiocache_llm.errors import BackendUnavailable, NotSupported
from aiocache_llm.storage._object_store import ObjectStoreCache

from .conftest import FAMILIES, StoreFactory, object_names

Store = ObjectStoreCache[Any]


async def test_an_expired_object_is_a_miss_and_is_deleted_on_read(store: Store) -> None:
    await store.async_set_cache("short", "v", ttl=0.2)
    await store.async_set_cache("long", "v", ttl=60)
    await asyncio.sleep(0.3)
    assert await store.async_get_cache("short") is None
    assert await object_names(store) == [store.object_name("long")]
    assert store.stats.expirations == 1


async def test_flush_removes_only_objects_under_its_own_prefix(
    make_store: StoreFactory, prefix: str
) -> None:
    mine, neighbour = make_store(f"{prefix}/a"), make_store(f"{prefix}/ab")
    try:
        await mine.async_set_cache("k", 1)
        await neighbour.async_set_cache("k", 2)
        await mine.async_flush_cache()
        assert await mine.async_get_cache("k") is None
        assert await neighbour.async_get_cache("k") == 2
    finally:
        await neighbour.async_flush_cache()
        await mine.async_disconnect()
        await neighbour.async_disconnect()


async def test_flush_without_a_prefix_refuses_to_empty_the_whole_store(
    make_store: StoreFactory,
) -> None:
    unprefixed = make_store(None)
    try:
        with pytest.raises(NotSupported, match="prefix"):
            await unprefixed.async_flush_cache()
    finally:
        await unprefixed.async_disconnect()


#: aiohttp (under the Azure SDK) advises streaming bodies over 1 MiB; the value is in memory anyway.
large_body = pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")


@large_body
async def test_a_one_mebibyte_value_round_trips(store: Store) -> None:
    value = os.urandom(1 << 20)
    await store.async_set_cache("large", value)
    assert await store.async_get_cache("large") == value


@large_body
async def test_overwriting_a_large_value_with_a_small_one_keeps_only_the_new(store: Store) -> None:
    await store.async_set_cache("k", os.urandom(1 << 20))
    await store.async_set_cache("k", "small")
    assert await store.async_get_cache("k") == "small"
    assert await object_names(store) == [store.object_name("k")]


@pytest.mark.parametrize(
    "key",
    [
        "litellm:chat:9f86d081884c7d65",
        "::leading:and:trailing::",
        "ünïcödé ✓ 東京 🚀",
        "spaces and ?query=1&x=%20#fragment",
        "a+b=c,d'e\"f~g",  # no ';': the GCS emulator cuts a path at it
    ],
)
async def test_unusual_keys_round_trip(store: Store, key: str) -> None:
    await store.async_set_cache(key, {"key": key})
    assert await store.async_get_cache(key) == {"key": key}
    assert await store.async_batch_get_cache([key]) == [{"key": key}]


async def test_keys_that_differ_only_in_characters_are_kept_apart(store: Store) -> None:
    keys = ["a b", "a%20b", "a+b", "ä", "a\u0308"]
    await store.async_set_cache_pipeline([(k, k) for k in keys])
    assert await store.async_batch_get_cache(keys) == keys


async def test_an_unreadable_object_is_a_miss_and_is_counted(store: Store) -> None:
    client = await store.store._client()
    await store.store._write(client, store.object_name("junk"), b"not an entry", None)
    assert await store.async_get_cache("junk") is None
    assert store.stats.corrupt_reads == 1


async def test_a_batch_get_of_many_keys_returns_each_value_in_order(store: Store) -> None:
    items = [(f"k{i}", i) for i in range(150)]
    await store.async_set_cache_pipeline(items)
    keys = [k for k, _ in items] + ["missing"]
    assert await store.async_batch_get_cache(keys) == [v for _, v in items] + [None]


async def test_every_call_on_one_loop_reuses_one_client(store: Store) -> None:
    await store.async_set_cache("k", 1)
    first = await store.store._client()
    await store.async_batch_get_cache(["k"] * 10)
    assert await store.store._client() is first
    assert len(store.store._loops) == 1


async def test_disconnect_closes_the_client_and_the_next_call_opens_another(store: Store) -> None:
    await store.async_set_cache("k", 1)
    first = await store.store._client()
    await store.async_disconnect()
    assert await store.async_get_cache("k") == 1
    assert await store.store._client() is not first


@pytest.mark.parametrize("family", ["s3", "gcs"])  # Azure creates its container on first use
async def test_a_missing_bucket_is_backend_unavailable_with_the_stores_message(
    request: pytest.FixtureRequest, family: str, prefix: str
) -> None:
    cache = FAMILIES[family](request)(prefix)
    cache.store.bucket = "no-such-bucket-here"  # type: ignore[attr-defined]
    try:
        with pytest.raises(BackendUnavailable, match=r"(?i)bucket|404|not ?found"):
            await cache.async_set_cache("k", 1)
        report = await cache.async_test_connection()
        assert report["status"] == "unhealthy"
    finally:
        await cache.async_disconnect()
