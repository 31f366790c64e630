"""Entries planted in a real object store (raw bytes through the store's own client) are
counted misses: an entry copied under another name, and one that inflates past the cache's
``max_entry_size``."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from aiocache_llm.core.codec import key_digest
from aiocache_llm.storage._object_store import ObjectStoreCache

from .conftest import STORE_TIMEOUT, StoreFactory


async def test_an_entry_copied_under_another_name_is_a_counted_miss(
    store: ObjectStoreCache[Any],
) -> None:
    await store.async_set_cache("acme:eu:everest", {"answer": "8849 m"})
    stored = await store.store.get(store.object_name("acme:eu:everest"))
    assert stored is not None
    await store.store.set(store.object_name("acme:eu:france"), stored.data, None)
    before = store.stats.corrupt_reads
    assert await store.async_get_cache("acme:eu:france") is None
    assert store.stats.corrupt_reads == before + 1


async def test_an_entry_inflating_past_max_entry_size_is_a_counted_miss(
    make_store: StoreFactory, prefix: str
) -> None:
    cache = make_store(prefix, timeout=STORE_TIMEOUT, max_entry_size=64 * 1024)
    try:
        name = cache.object_name("bomb")
        payload = zlib.compress(b'"' + b"a" * (1 << 20) + b'"', 9)
        header = struct.pack(
            "!2sBBddI8s", b"\xa1L", 2, 1, 1.0, 0.0, zlib.crc32(payload), key_digest(name)
        )
        await cache.store.set(name, header + payload, None)
        assert await cache.async_get_cache("bomb") is None
        assert cache.stats.corrupt_reads == 1
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()
