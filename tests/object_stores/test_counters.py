"""Counters on object stores: atomic through conditional writes, or refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiocache_llm.errors import NotSupported
from aiocache_llm.storage._object_store import ObjectStoreCache
from aiocache_llm.storage.gcs import GCSCache
from tests.harness.gcs import GCSServer

from .conftest import FAMILIES, STORE_TIMEOUT, StoreFactory

#: The stores whose emulators honour conditional writes (S3 If-Match / If-None-Match, Azure
#: ETags). The GCS emulator ignores generation preconditions, so GCSCache refuses to count.
COUNTING = ["s3", "azure-blob"]


@pytest.fixture(params=COUNTING)
def make_counter_store(request: pytest.FixtureRequest) -> StoreFactory:
    return FAMILIES[request.param](request)


@pytest.fixture
async def counter_store(
    make_counter_store: StoreFactory, prefix: str
) -> AsyncIterator[ObjectStoreCache[Any]]:
    cache = make_counter_store(prefix, timeout=STORE_TIMEOUT)
    try:
        yield cache
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_increments_from_separate_caches_on_one_store_are_never_lost(
    make_counter_store: StoreFactory, prefix: str
) -> None:
    writers = [make_counter_store(prefix) for _ in range(4)]

    async def count(cache: ObjectStoreCache[Any]) -> None:
        for _ in range(15):
            await cache.async_increment("shared", 1)

    try:
        await asyncio.gather(*(count(cache) for cache in writers))
        assert await writers[0].async_get_cache("shared") == 60
    finally:
        await writers[0].async_flush_cache()
        for cache in writers:
            await cache.async_disconnect()


async def test_concurrent_increments_each_get_a_distinct_result(
    counter_store: ObjectStoreCache[Any],
) -> None:
    results = await asyncio.gather(*(counter_store.async_increment("n", 1) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))


async def test_gcs_refuses_to_count_rather_than_count_non_atomically(
    gcs_server: GCSServer,
) -> None:
    cache = GCSCache(**gcs_server.cache_params(), gcs_path=f"count/{uuid.uuid4().hex}")
    try:
        with pytest.raises(NotSupported, match="atomically"):
            await cache.async_increment("n", 1)
        with pytest.raises(NotSupported):
            await cache.async_increment_pipeline([("n", 1)])
        assert await cache.async_get_cache("n") is None
    finally:
        await cache.async_disconnect()
