"""DualCache: L1 over a real Redis L2, coherence across processes, coalescing, failing open."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections.abc import AsyncIterator
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from aiocache_llm import InMemoryCache
from aiocache_llm._sync import run_sync
from aiocache_llm.errors import BackendError
from aiocache_llm.storage._invalidation import InvalidationChannel
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer, start_redis
from tests.timing import eventually, sleep_until


def _namespace() -> str:
    return f"dual-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def l2(redis_server: RedisServer) -> AsyncIterator[RedisCache]:
    cache = RedisCache(url=redis_server.url, namespace=_namespace(), env={})
    yield cache
    await cache.async_flush_cache()
    await cache.async_disconnect()


@pytest.fixture
async def dual(l2: RedisCache) -> AsyncIterator[DualCache]:
    cache = DualCache(InMemoryCache(), l2, default_in_memory_ttl=60)
    await cache.async_ready()  # L1 takes fills once invalidations can reach it
    yield cache
    await cache.async_disconnect()


async def _calls(server: RedisServer, command: str) -> int:
    client = aioredis.Redis.from_url(server.url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_an_l2_hit_fills_l1(dual: DualCache, l2: RedisCache) -> None:
    await l2.async_set_versioned([("k", {"v": 1})])
    assert await dual.async_get_cache("k") == {"v": 1}
    await l2.async_delete_cache("k")  # behind DualCache's back: L1 still answers
    assert await dual.async_get_cache("k") == {"v": 1}


async def test_the_l1_fill_never_outlives_the_l2_entry(dual: DualCache, l2: RedisCache) -> None:
    await l2.async_set_versioned([("short", "v")], ttl=1.5)
    written = time.monotonic()
    await dual.async_get_cache("short")
    l1_entry = dual.in_memory_cache.get_entry("short")
    l2_entry = await l2.async_get_entry("short")
    if l1_entry is not None:  # absent only if L2's entry had run out already (a slow machine)
        assert l2_entry is not None and l2_entry.expires_at is not None
        assert l1_entry.expires_at is not None
        assert l1_entry.expires_at <= l2_entry.expires_at + 0.01  # absolute times, both
    await sleep_until(written + 1.6)
    assert await dual.async_get_cache("short") is None


async def test_the_l1_fill_is_capped_by_the_in_memory_ttl(l2: RedisCache) -> None:
    dual = DualCache(InMemoryCache(), l2, default_in_memory_ttl=5)
    await dual.async_ready()
    await l2.async_set_versioned([("long", "v")], ttl=1000)
    await dual.async_get_cache("long")
    left = dual.in_memory_cache.get_ttl("long")
    assert left is not None and left <= 5
    await dual.async_disconnect()


async def test_a_value_written_without_a_version_is_never_held_in_l1(
    dual: DualCache, l2: RedisCache
) -> None:
    await l2.async_set_cache("plain", "v")  # a writer that announces nothing
    assert await dual.async_get_cache("plain") == "v"
    assert dual.in_memory_cache.get_cache("plain") is None


async def test_local_only_writes_stay_in_l1(dual: DualCache, l2: RedisCache) -> None:
    await dual.async_set_cache("mine", "v", local_only=True)
    assert await dual.async_get_cache("mine") == "v"
    assert await l2.async_get_cache("mine") is None


async def test_a_batch_get_reads_l1_then_l2_once_and_fills_l1(
    dual: DualCache, l2: RedisCache, redis_server: RedisServer
) -> None:
    await dual.async_set_cache("in-l1", [1])
    await l2.async_set_versioned([("in-l2-a", [2]), ("in-l2-b", [3])])
    before = await _calls(redis_server, "mget")
    result = await dual.async_batch_get_cache(["in-l1", "in-l2-a", "absent", "in-l2-b"])
    assert result == [[1], [2], None, [3]]
    assert await _calls(redis_server, "mget") == before + 1
    assert dual.in_memory_cache.batch_get_cache(["in-l2-a", "in-l2-b"]) == [[2], [3]]


async def test_a_stored_number_stays_incrementable_and_is_never_held_in_l1(
    dual: DualCache, l2: RedisCache
) -> None:
    await dual.async_set_cache("n", 5)
    assert await l2.async_increment("n", 1) == 6  # a number is stored as a counter is
    assert await dual.async_get_cache("n") == 6
    assert dual.in_memory_cache.get_cache("n") is None  # counters change without versions


@pytest.mark.parametrize("batch", [False, True], ids=["set", "pipeline"])
async def test_a_number_written_over_a_held_value_drops_the_writers_copy(
    dual: DualCache, batch: bool
) -> None:
    await dual.async_set_cache("k", {"v": 1})
    assert dual.in_memory_cache.get_cache("k") == {"v": 1}
    if batch:
        await dual.async_set_cache_pipeline([("k", 7), ("j", "w")])
    else:
        await dual.async_set_cache("k", 7)  # a counter now: never held in L1
    assert dual.in_memory_cache.get_cache("k") is None
    assert await dual.async_get_cache("k") == 7


async def test_concurrent_and_repeated_batch_reads_of_missing_keys_hit_l2_once(
    l2: RedisCache, redis_server: RedisServer
) -> None:
    # a window far longer than the test, so that a slow machine cannot make it run out
    dual = DualCache(InMemoryCache(), l2, redis_batch_cache_expiry=600)
    keys = [f"missing-{i}" for i in range(20)]
    before = await _calls(redis_server, "mget")
    results = await asyncio.gather(*(dual.async_batch_get_cache(keys) for _ in range(10)))
    for _ in range(5):
        results.append(await dual.async_batch_get_cache(keys))
    assert all(result == [None] * 20 for result in results)
    assert await _calls(redis_server, "mget") == before + 1
    await dual.async_disconnect()


async def test_concurrent_batch_reads_of_present_keys_share_one_l2_read_and_all_see_it(
    dual: DualCache, l2: RedisCache, redis_server: RedisServer
) -> None:
    await l2.async_set_versioned([(f"present-{i}", i) for i in range(1, 4)])
    await l2.async_set_versioned([("text", "t")])
    keys = ["present-1", "text", "absent", "present-3"]
    before = await _calls(redis_server, "mget")
    results = await asyncio.gather(*(dual.async_batch_get_cache(keys) for _ in range(10)))
    assert results == [[1, "t", None, 3]] * 10  # every caller, not only the one that read
    assert await _calls(redis_server, "mget") == before + 1


class HeldReads(RedisCache):
    """A real RedisCache whose versioned reads wait for ``release`` once ``held`` is set."""

    held: asyncio.Event | None = None
    release: asyncio.Event | None = None

    async def async_get_versioned(self, keys: Any) -> Any:
        if self.held is not None and self.release is not None:
            self.held.set()
            await self.release.wait()
        return await super().async_get_versioned(keys)


async def test_a_shared_batch_read_cancelled_is_a_miss_for_those_waiting_on_it(
    redis_server: RedisServer,
) -> None:
    l2 = HeldReads(url=redis_server.url, namespace=_namespace(), env={})
    await l2.async_set_versioned([("k", "v")])
    dual = DualCache(InMemoryCache(), l2)
    await dual.async_ready()
    l2.held, l2.release = asyncio.Event(), asyncio.Event()
    reader = asyncio.create_task(dual.async_batch_get_cache(["k"]))
    await l2.held.wait()
    waiter = asyncio.create_task(dual.async_batch_get_cache(["k"]))  # shares the read
    await asyncio.sleep(0.01)
    reader.cancel()
    assert await asyncio.wait_for(waiter, 5) == [None]  # not left waiting, not a failure
    l2.held = l2.release = None
    assert await dual.async_batch_get_cache(["k"]) == ["v"]  # nothing remembered of it
    await dual.async_disconnect()


async def test_other_processes_readiness_probes_are_not_kept(
    dual: DualCache, l2: RedisCache
) -> None:
    channel = dual.channel
    assert isinstance(channel, InvalidationChannel)
    for i in range(300):  # every process that starts sends one; anyone can send a flood
        message = orjson.dumps({"from": "probe", "keys": [[f"__ready__:{i}", 0]]})
        await l2.async_publish(channel.channel, message)
    await dual.async_ready()  # its own probe still comes back (after the flood)
    assert channel._probes == set() and channel._awaited == set()


async def test_a_write_ends_the_miss_window_for_that_key(dual: DualCache) -> None:
    assert await dual.async_batch_get_cache(["later"]) == [None]
    await dual.async_set_cache("later", "now")
    dual.in_memory_cache.flush_cache()
    assert await dual.async_batch_get_cache(["later"]) == ["now"]


async def test_counters_are_authoritative_in_l2(l2: RedisCache) -> None:
    a = DualCache(InMemoryCache(), l2)
    b = DualCache(InMemoryCache(), l2)
    assert await a.async_increment("hits", 1, ttl=60) == 1
    assert await b.async_increment("hits", 2) == 3
    assert await a.async_increment("hits", 1) == 4
    assert await l2.async_get_cache("hits") == 4
    await a.async_disconnect()
    await b.async_disconnect()


def test_a_blocking_l1_hit_does_not_hop_threads(dual: DualCache) -> None:
    dual.in_memory_cache.set_cache("hot", "v")

    async def on_the_library_loop() -> Any:
        # a hop to the library's loop thread from here would raise instead of deadlocking
        return dual.get_cache("hot")

    assert run_sync(on_the_library_loop()) == "v"


def _watch(url: str, namespace: str, ready: Event, seen: Any) -> None:
    async def main() -> None:
        cache = DualCache(
            InMemoryCache(),
            RedisCache(url=url, namespace=namespace, env={}),
            default_in_memory_ttl=300,
        )
        await cache.async_ready()
        assert await cache.async_get_cache("shared") == "old"  # now held in this L1
        ready.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if await cache.async_get_cache("shared") == "new":
                seen.put(time.time())
                break
            await asyncio.sleep(0.001)
        await cache.async_disconnect()

    asyncio.run(main())


async def test_a_write_in_one_process_drops_the_l1_copy_in_another(
    redis_server: RedisServer,
) -> None:
    """The other process holds the old value in L1 for 300 s: only the invalidation message
    can make it see the new one within the 10 s it watches."""
    namespace = _namespace()
    writer = DualCache(
        InMemoryCache(), RedisCache(url=redis_server.url, namespace=namespace, env={})
    )
    await writer.async_set_cache("shared", "old")
    spawn = multiprocessing.get_context("spawn")
    ready, seen = spawn.Event(), spawn.Queue()
    child = spawn.Process(target=_watch, args=(redis_server.url, namespace, ready, seen))
    child.start()
    try:
        assert await asyncio.to_thread(ready.wait, 30)
        written_at = time.time()
        await writer.async_set_cache("shared", "new")
        seen_at = await asyncio.to_thread(seen.get, True, 15)
        assert written_at <= seen_at
    finally:
        await asyncio.to_thread(child.join, 15)
        await writer.async_flush_cache()
        await writer.async_disconnect()
    assert child.exitcode == 0


async def test_with_l2_down_l1_keeps_serving_and_nothing_but_counters_reach_the_caller(
    tmp_path: Path,
) -> None:
    server = start_redis(tmp_path / "redis")
    port = server.port
    try:
        l2 = RedisCache(url=server.url, namespace=_namespace(), socket_timeout=0.5, env={})
        dual = DualCache(InMemoryCache(), l2, default_in_memory_ttl=60)
        await dual.async_ready()
        await dual.async_set_cache("hot", "v")
        await dual.async_set_cache("overwritten", "old")
        server.stop()
        assert await dual.async_get_cache("hot") == "v"  # from L1
        assert await dual.async_get_cache("cold") is None  # L2 read fails open
        await dual.async_set_cache("overwritten", "new")  # L2 write dropped, not raised
        # L1 never holds what L2 does not: neither the unwritten value nor the replaced one
        assert dual.in_memory_cache.get_cache("overwritten") is None
        assert await dual.async_get_cache("overwritten") is None
        with pytest.raises(BackendError):  # a counter cannot be invented
            await dual.async_increment("n", 1)
        assert dual.stats.errors >= 4
        server = start_redis(tmp_path / "redis", port=port)  # back: the same object resumes

        async def written_through() -> bool:
            await dual.async_set_cache("after", "v2")  # an L2 write still failing is dropped
            try:
                return bool(await l2.async_get_cache("after") == "v2")
            except BackendError:
                return False

        await eventually(written_through, what="writing through to the restarted L2")
        await dual.async_disconnect()
    finally:
        server.stop()


async def test_a_write_and_its_announcement_are_one_round_trip(
    dual: DualCache, l2: RedisCache, redis_server: RedisServer
) -> None:
    await dual.async_set_cache("warm", "v")  # the server holds the script from now on
    before = l2._loop_client().pipeline.batches
    scripts, publishes = (
        await _calls(redis_server, "evalsha"),
        await _calls(redis_server, "publish"),
    )
    await dual.async_set_cache("k", {"v": 1})
    assert l2._loop_client().pipeline.batches == before + 1
    assert await _calls(redis_server, "evalsha") == scripts + 1
    assert await _calls(redis_server, "publish") == publishes + 1  # from inside the script
    assert dual.in_memory_cache.get_cache("k") == {"v": 1}  # the writer's L1, filled at once


async def test_a_server_that_lost_the_scripts_is_given_them_again(
    dual: DualCache, l2: RedisCache, redis_server: RedisServer
) -> None:
    await dual.async_set_cache("k", "first")
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.script_flush()
    finally:
        await client.aclose()
    await dual.async_set_cache("k", "second")
    await dual.async_delete_cache("gone")
    assert await l2.async_get_cache("k") == "second"


async def test_versions_only_grow_through_deletes_and_flushes(l2: RedisCache) -> None:
    (first,) = await l2.async_set_versioned([("k", "v")])
    deleted = await l2.async_delete_versioned("k")
    await l2.async_flush_cache()  # the version counter goes with the namespace
    second, third = await l2.async_set_versioned([("k", "v"), ("j", "w")])
    assert first < deleted < second < third
    assert [version for _, version in await l2.async_get_versioned(["k", "j"])] == [second, third]
