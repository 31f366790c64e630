"""RESP3 client-side tracking as DualCache's invalidation source, against a real Redis 8."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from aiocache_llm import InMemoryCache
from aiocache_llm.core.codec import Entry
from aiocache_llm.errors import ConfigurationError
from aiocache_llm.facade import Cache
from aiocache_llm.storage._invalidation import L1Coherence
from aiocache_llm.storage._tracking import TrackingChannel
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer

from .convergence import run_writers, until


@pytest.fixture
def namespace() -> str:
    return f"trk-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def tracked(redis_server: RedisServer, namespace: str) -> AsyncIterator[DualCache]:
    l2 = RedisCache(url=redis_server.url, namespace=namespace, env={})
    cache = DualCache(InMemoryCache(), l2, invalidation="tracking")
    await cache.async_ready()
    yield cache
    await cache.async_flush_cache()
    await cache.async_disconnect()


async def _held(cache: DualCache, key: str, value: Any) -> None:
    """Read ``key`` until L1 holds ``value`` (a fill that raced the write's own
    notification is refused, and the next read fills)."""
    deadline = time.monotonic() + 5.0
    while cache.in_memory_cache.get_cache(key) != value:
        assert await cache.async_get_cache(key) == value
        assert time.monotonic() < deadline, "L1 did not take the value within the bound"
        await asyncio.sleep(0.005)


async def _write(l2: RedisCache, key: str, value: Any) -> None:
    """A write by a client that announces nothing (no L1, no pub/sub)."""
    await l2.async_set_versioned([(key, value)])


async def test_another_clients_write_drops_the_copy(
    redis_server: RedisServer, namespace: str, tracked: DualCache
) -> None:
    plain = RedisCache(url=redis_server.url, namespace=namespace, env={})
    await _write(plain, "k", "first")
    await _held(tracked, "k", "first")
    await _write(plain, "k", "second")
    await until(lambda: tracked.in_memory_cache.get_cache("k") is None)
    assert await tracked.async_get_cache("k") == "second"
    await plain.async_delete_cache("k")
    await until(lambda: tracked.in_memory_cache.get_cache("k") is None)
    assert await tracked.async_get_cache("k") is None
    await plain.async_disconnect()


async def test_a_key_of_another_namespace_drops_nothing(
    redis_server: RedisServer, tracked: DualCache
) -> None:
    elsewhere = RedisCache(url=redis_server.url, namespace=f"x-{uuid.uuid4().hex[:6]}", env={})
    applied: list[str] = []
    assert tracked.channel is not None
    tracked.channel.observer = lambda items, at, sent: applied.extend(k for k, _ in items)
    try:
        # the server reports this cache's own writes too, in order: once a write's report is
        # in, no report of an earlier write is still on its way
        await tracked.async_set_cache("fence", "f")
        await until(lambda: "fence" in applied)
        applied.clear()
        await tracked.async_set_cache("k", "mine")
        await until(lambda: "k" in applied)  # its own write's report: the copy was dropped
        await _held(tracked, "k", "mine")
        applied.clear()
        await elsewhere.async_set_cache("k", "theirs")
        await tracked.async_set_cache("marker", "m")  # tracked: its notification comes after
        await until(lambda: "marker" in applied)
        assert applied == ["marker"]
        assert tracked.in_memory_cache.get_cache("k") == "mine"
    finally:
        await elsewhere.async_disconnect()


async def test_a_killed_tracking_connection_comes_back_and_empties_l1(
    redis_server: RedisServer, namespace: str, tracked: DualCache
) -> None:
    plain = RedisCache(url=redis_server.url, namespace=namespace, env={})
    await _write(plain, "k", "v")
    await _held(tracked, "k", "v")
    admin = aioredis.from_url(redis_server.url)
    clients = await admin.client_list()
    tracking = [c["id"] for c in clients if "t" in c["flags"]]
    assert len(tracking) == 1
    await admin.client_kill_filter(_id=tracking[0])
    await until(lambda: tracked.in_memory_cache.get_cache("k") is None)
    await tracked.async_ready()
    await _write(plain, "k", "after")
    await _held(tracked, "k", "after")
    await _write(plain, "k", "later")
    await until(lambda: tracked.in_memory_cache.get_cache("k") is None)
    await admin.aclose()
    await plain.async_disconnect()


def test_two_processes_converge_with_tracking(redis_server: RedisServer) -> None:
    reports = run_writers(
        redis_server.url, writes=2000, key_count=20, settle=0.1, poll=5.0, invalidation="tracking"
    )
    assert [report.diverged[-1] for report in reports] == [0, 0]
    assert all(report.received for report in reports)


async def test_the_facade_takes_tracking_as_an_l1_setting(redis_server: RedisServer) -> None:
    cache = Cache(
        type="redis", url=redis_server.url, namespace="trk-facade", l1={"invalidation": "tracking"}
    )
    assert isinstance(cache.backend, DualCache)
    assert isinstance(cache.backend.channel, TrackingChannel)
    await cache.async_disconnect()


def test_tracking_needs_a_standalone_redis() -> None:
    with pytest.raises(ConfigurationError):
        DualCache(InMemoryCache(), InMemoryCache(), invalidation="tracking")
    with pytest.raises(ConfigurationError):
        DualCache(
            InMemoryCache(), RedisCache(url="redis://127.0.0.1:1", env={}), invalidation="push"
        )


def test_a_change_of_unknown_version_refuses_only_that_keys_earlier_fills() -> None:
    l1 = InMemoryCache()
    state = L1Coherence(l1, 30.0, needs_subscription=False)
    started = state.begin()
    state.invalidate([("k", 0)])  # a tracking message: no version
    state.fill(
        [("k", Entry("old", time.time(), None), 5), ("other", Entry("o", time.time(), None), 5)],
        started,
    )
    assert l1.get_cache("k") is None
    assert l1.get_cache("other") == "o"
    state.fill([("k", Entry("new", time.time(), None), 6)], state.begin())
    assert l1.get_cache("k") == "new"
