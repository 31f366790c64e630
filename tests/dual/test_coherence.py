"""Coherence by construction: versions from L2, invalidations that carry them, bounded L1 life,
and L2 failures that never poison L1. Against a real Redis; the two-process checks run real
OS processes."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest
import redis.asyncio as aioredis

from aiocache_llm import InMemoryCache
from aiocache_llm.core.codec import Entry
from aiocache_llm.errors import BackendUnavailable
from aiocache_llm.storage._invalidation import L1Coherence
from aiocache_llm.storage._versions import Announcement
from aiocache_llm.storage.base import USE_DEFAULT, TTLArg
from aiocache_llm.storage.dual import DEFAULT_L1_TTL, DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer

from .convergence import run_writers, until


class HeldWrites(RedisCache):
    """A real RedisCache whose write replies can be held back, as when the writer's event loop
    is busy right after its own L2 write."""

    written: asyncio.Event | None = None
    release: asyncio.Event | None = None

    async def async_set_versioned(
        self,
        items: Iterable[tuple[str, Any]],
        ttl: TTLArg = USE_DEFAULT,
        *,
        announcement: Announcement | None = None,
    ) -> list[int]:
        versions = await super().async_set_versioned(items, ttl, announcement=announcement)
        if self.written is not None and self.release is not None:
            self.written.set()
            await self.release.wait()
        return versions


class FailingReads(RedisCache):
    """A real RedisCache whose batch reads fail while ``down`` is set."""

    down = False

    async def async_get_versioned(self, keys: Any) -> Any:
        if self.down:
            raise BackendUnavailable("L2 read failed")
        return await super().async_get_versioned(keys)


@pytest.fixture
def namespace() -> str:
    return f"coh-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def other(redis_server: RedisServer, namespace: str) -> AsyncIterator[DualCache]:
    """Another process's view of the same namespace (its own L1, sender and subscription)."""
    cache = DualCache(
        InMemoryCache(), RedisCache(url=redis_server.url, namespace=namespace, env={})
    )
    await cache.async_ready()
    yield cache
    await cache.async_flush_cache()
    await cache.async_disconnect()


async def test_a_write_overtaken_by_another_process_is_not_kept_in_l1(
    redis_server: RedisServer, namespace: str, other: DualCache
) -> None:
    held = HeldWrites(url=redis_server.url, namespace=namespace, env={})
    mine = DualCache(InMemoryCache(), held)
    await mine.async_ready()
    held.written, held.release = asyncio.Event(), asyncio.Event()
    applied: list[str] = []
    assert mine.channel is not None
    mine.channel.observer = lambda items, at, sent: applied.extend(k for k, _ in items)
    write = asyncio.create_task(mine.async_set_cache("k", "mine"))
    await held.written.wait()  # in L2, not yet in L1
    await other.async_set_cache("k", "theirs")  # overwrites it; the invalidation arrives
    await until(lambda: "k" in applied)
    held.release.set()
    await write
    assert mine.in_memory_cache.get_cache("k") is None
    assert await mine.async_get_cache("k") == "theirs"
    assert mine.in_memory_cache.get_cache("k") == "theirs"
    await mine.async_disconnect()


async def test_a_write_in_one_cache_drops_the_older_copy_in_another(
    redis_server: RedisServer, namespace: str, other: DualCache
) -> None:
    mine = DualCache(InMemoryCache(), RedisCache(url=redis_server.url, namespace=namespace, env={}))
    await mine.async_ready()
    await mine.async_set_cache("k", "first")
    assert await other.async_get_cache("k") == "first"
    await mine.async_set_cache("k", "second")
    await until(lambda: other.in_memory_cache.get_cache("k") is None)
    assert await other.async_get_cache("k") == "second"
    await mine.async_delete_cache("k")
    await until(lambda: other.in_memory_cache.get_cache("k") is None)
    assert await other.async_get_cache("k") is None
    await mine.async_disconnect()


def test_an_older_invalidation_never_drops_a_newer_copy() -> None:
    l1 = InMemoryCache()
    state = L1Coherence(l1, 30.0, needs_subscription=False)
    state.fill([("k", Entry("v7", time.time(), None), 7)], state.begin())
    state.invalidate([("k", 5)])
    assert l1.get_cache("k") == "v7"
    state.invalidate([("k", 8)])
    assert l1.get_cache("k") is None


def test_a_fill_older_than_a_seen_invalidation_is_refused() -> None:
    l1 = InMemoryCache()
    state = L1Coherence(l1, 30.0, needs_subscription=False)
    started = state.begin()
    state.invalidate([("k", 9)])
    state.fill([("k", Entry("v8", time.time(), None), 8)], started)
    assert l1.get_cache("k") is None
    state.fill([("k", Entry("v9", time.time(), None), 9)], state.begin())
    assert l1.get_cache("k") == "v9"


def test_fills_begun_before_a_resubscription_are_refused() -> None:
    l1 = InMemoryCache()
    state = L1Coherence(l1, 30.0, needs_subscription=True)
    assert state.begin() < 0  # no subscription yet: no fills
    state.reset(live=True)
    started = state.begin()
    state.pause()  # the subscription broke
    state.reset(live=True)  # and is back
    state.fill([("k", Entry("v", time.time(), None), 1)], started)
    assert l1.get_cache("k") is None


async def test_the_given_in_memory_cache_is_used_even_when_empty(l2_url: str) -> None:
    l1 = InMemoryCache(max_size_in_memory=5000)
    cache = DualCache(l1, RedisCache(url=l2_url, env={}))
    assert cache.in_memory_cache is l1


async def test_l1_life_is_bounded_by_default(
    redis_server: RedisServer, namespace: str, other: DualCache
) -> None:
    assert DualCache().default_in_memory_ttl == DEFAULT_L1_TTL
    assert DualCache(default_in_memory_ttl=None).default_in_memory_ttl == DEFAULT_L1_TTL
    await other.async_set_cache("forever", "v", ttl=None)
    left = other.in_memory_cache.get_ttl("forever")
    assert left is not None and left <= DEFAULT_L1_TTL


async def test_a_failed_batch_read_is_not_remembered_as_a_miss(
    redis_server: RedisServer, namespace: str
) -> None:
    l2 = FailingReads(url=redis_server.url, namespace=namespace, env={})
    cache = DualCache(InMemoryCache(), l2, redis_batch_cache_expiry=60)
    await cache.async_ready()
    await l2.async_set_versioned([("k", "v")])
    l2.down = True
    assert await cache.async_batch_get_cache(["k"]) == [None]
    l2.down = False
    assert await cache.async_batch_get_cache(["k"]) == ["v"]
    await cache.async_flush_cache()
    await cache.async_disconnect()


async def test_a_broken_subscription_empties_l1_once_it_is_back(
    redis_server: RedisServer, namespace: str, other: DualCache
) -> None:
    await other.async_set_cache("k", "v")
    assert other.in_memory_cache.get_cache("k") == "v"
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.client_kill_filter(_type="pubsub")
    finally:
        await client.aclose()
    await until(lambda: other.in_memory_cache.get_cache("k") is None)
    await other.async_ready()
    assert await other.async_get_cache("k") == "v"
    assert other.in_memory_cache.get_cache("k") == "v"


async def test_a_broken_subscription_logs_one_line_when_lost_and_one_when_back(
    redis_server: RedisServer, other: DualCache, caplog: pytest.LogCaptureFixture
) -> None:
    await other.async_ready()
    with caplog.at_level(logging.INFO, logger="aiocache_llm"):
        client = aioredis.Redis.from_url(redis_server.url)
        try:
            await client.client_kill_filter(_type="pubsub")
        finally:
            await client.aclose()

        def said(event: str) -> bool | None:
            return any(getattr(r, "event", None) == event for r in caplog.records) or None

        await until(lambda: said("subscription_restored"))
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("subscription_lost") == 1
    assert events.count("subscription_restored") == 1


def test_two_processes_writing_the_same_keys_converge(redis_server: RedisServer) -> None:
    reports = run_writers(redis_server.url, writes=2000, key_count=20, settle=0.1, poll=5.0)
    assert [report.diverged[-1] for report in reports] == [0, 0]
    assert all(report.received for report in reports)


@pytest.fixture
def l2_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.mark.parametrize("one_value", [True, False], ids=["set", "pipeline"])
async def test_a_write_cancelled_after_l2_took_it_leaves_no_older_copy_in_l1(
    redis_server: RedisServer, namespace: str, one_value: bool
) -> None:
    held = HeldWrites(url=redis_server.url, namespace=namespace, env={})
    mine = DualCache(InMemoryCache(), held)
    await mine.async_ready()
    await mine.async_set_cache("k", "old")
    assert mine.in_memory_cache.get_cache("k") == "old"
    held.written, held.release = asyncio.Event(), asyncio.Event()
    if one_value:
        write = asyncio.create_task(mine.async_set_cache("k", "new"))
    else:
        write = asyncio.create_task(mine.async_set_cache_pipeline([("k", "new"), ("j", "v")]))
    await held.written.wait()  # L2 holds the new value; the caller gives up before the reply
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    # this process never hears its own announcement: the old copy must go now
    assert mine.in_memory_cache.get_cache("k") is None
    assert await mine.async_get_cache("k") == "new"
    await mine.async_disconnect()


class DeletesThenIsCancelled(RedisCache):
    """A real RedisCache whose caller is cancelled right after L2 took a deletion."""

    async def async_delete_versioned(
        self, key: str, *, announcement: Announcement | None = None
    ) -> int:
        await super().async_delete_versioned(key, announcement=announcement)
        raise asyncio.CancelledError


async def test_a_read_begun_before_a_cancelled_delete_does_not_bring_the_value_back(
    redis_server: RedisServer, namespace: str
) -> None:
    l2 = DeletesThenIsCancelled(url=redis_server.url, namespace=namespace, env={})
    mine = DualCache(InMemoryCache(), l2)
    await mine.async_ready()
    await mine.async_set_cache("k", "old")
    started = mine._state.begin()  # a read of "k" that began before the delete
    ((entry, version),) = await l2.async_get_versioned(["k"])
    with pytest.raises(asyncio.CancelledError):
        await mine.async_delete_cache("k")
    mine._fill([("k", entry, version)], started)  # its answer arrives late
    assert mine.in_memory_cache.get_cache("k") is None
    assert await mine.async_get_cache("k") is None
    await mine.async_disconnect()


class FlushHeld(RedisCache):
    """A real RedisCache whose flush, once done in Redis, waits for ``release`` or fails."""

    flushed: asyncio.Event | None = None
    release: asyncio.Event | None = None
    fail = False

    async def async_flush_cache(self) -> None:
        await super().async_flush_cache()
        if self.fail:
            raise BackendUnavailable("the connection broke after the keys were removed")
        if self.flushed is not None and self.release is not None:
            self.flushed.set()
            await self.release.wait()


@pytest.mark.parametrize("how", ["cancelled", "failed"])
async def test_a_flush_cut_short_after_l2_emptied_is_still_announced(
    redis_server: RedisServer, namespace: str, other: DualCache, how: str
) -> None:
    l2 = FlushHeld(url=redis_server.url, namespace=namespace, env={})
    mine = DualCache(InMemoryCache(), l2)
    await mine.async_ready()
    await mine.async_set_cache("k", "v")
    assert await other.async_get_cache("k") == "v"  # held in the other L1
    if how == "failed":
        l2.fail = True
        await mine.async_flush_cache()  # fails open
        assert mine.stats.errors == 1
    else:
        l2.flushed, l2.release = asyncio.Event(), asyncio.Event()
        flush = asyncio.create_task(mine.async_flush_cache())
        await l2.flushed.wait()
        flush.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flush
        l2.release.set()  # the flush goes on without its caller
    await until(lambda: other.in_memory_cache.get_cache("k") is None)
    assert await other.async_get_cache("k") is None
    await mine.async_disconnect()


async def test_a_read_that_overtakes_a_cancelled_write_is_dropped_once_l2_has_settled(
    redis_server: RedisServer, namespace: str
) -> None:
    l2 = HeldWrites(url=redis_server.url, namespace=namespace, socket_timeout=0.3, env={})
    mine = DualCache(InMemoryCache(), l2)
    await mine.async_ready()
    await mine.async_set_cache("k", "old")
    ((entry, version),) = await l2.async_get_versioned(["k"])  # what an overtaking read gets
    l2.written, l2.release = asyncio.Event(), asyncio.Event()
    write = asyncio.create_task(mine.async_set_cache("k", "new"))
    await l2.written.wait()
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    mine._fill([("k", entry, version)], mine._state.begin())  # a read begun after, answered
    assert mine.in_memory_cache.get_cache("k") == "old"  # before the write: the race
    await until(lambda: mine.in_memory_cache.get_cache("k") is None)  # within settle_time
    assert mine.settle_time < 1
    assert await mine.async_get_cache("k") == "new"
    await mine.async_disconnect()
