"""RedisCache on a real redis-server: what it stores, namespaces, batching, counters, loops."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from aiocache_llm.core.codec import decode
from aiocache_llm.errors import InvalidArgumentError, NotSupported
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer, redis_running

CHAT = {"choices": [{"message": {"role": "assistant", "content": "Paris. " * 200}}]}


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_running(tmp_path_factory.mktemp("redis-pw"), password="s3cret-pw") as server:
        yield server


def batches(cache: RedisCache) -> int:
    return cache._loop_client().pipeline.batches


async def test_keys_carry_the_namespace_prefix(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await cache.async_set_cache("k", "v")
    assert await raw.exists(f"{namespace}:k") == 1


async def test_stored_values_are_codec_entries(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await cache.async_set_cache("k", CHAT)
    assert decode(await raw.get(f"{namespace}:k")).value == CHAT


async def test_the_ttl_is_kept_natively_by_redis(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    began = time.monotonic()
    await cache.async_set_cache("k", "v", ttl=60)
    left = await raw.pttl(f"{namespace}:k")
    assert 60_000 - (time.monotonic() - began) * 1000 - 10 <= left <= 60_000


async def test_namespaces_isolate_entries(cache: RedisCache, redis_server: RedisServer) -> None:
    other = RedisCache(url=redis_server.url, namespace=f"{cache.namespace}-other", env={})
    try:
        await cache.async_set_cache("k", "mine")
        await other.async_set_cache("k", "theirs")
        assert await cache.async_get_cache("k") == "mine"
        assert await other.async_get_cache("k") == "theirs"
    finally:
        await other.async_flush_cache()
        await other.async_disconnect()


async def test_flush_removes_only_its_own_namespace(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await raw.set(f"{namespace}x:outside", "kept")
    await raw.set("no-namespace", "kept")
    await cache.async_set_cache_pipeline([(f"k{i}", i) for i in range(2500)])
    try:
        await cache.async_flush_cache()
        assert await raw.keys(f"{namespace}:*") == []
        assert await raw.get(f"{namespace}x:outside") == b"kept"
        assert await raw.get("no-namespace") == b"kept"
    finally:
        await raw.delete(f"{namespace}x:outside", "no-namespace")


async def test_flush_without_a_namespace_is_refused(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    cache = RedisCache(url=redis_server.url, env={})
    try:
        await cache.async_set_cache("unprefixed", "v")
        with pytest.raises(NotSupported):
            await cache.async_flush_cache()
        assert await raw.exists("unprefixed") == 1
    finally:
        await cache.async_delete_cache("unprefixed")
        await cache.async_disconnect()


async def test_numbers_set_with_set_cache_are_plain_redis_numbers(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await cache.async_set_cache_pipeline([("int", 3), ("float", 3.0)])
    assert await raw.mget(f"{namespace}:int", f"{namespace}:float") == [b"3", b"3.0"]
    assert await cache.async_batch_get_cache(["int", "float"]) == [3, 3.0]
    assert isinstance(await cache.async_get_cache("float"), float)


async def test_counters_are_plain_redis_numbers(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await cache.async_increment("n", 2.5)
    assert await raw.get(f"{namespace}:n") == b"2.5"
    await raw.incrby(f"{namespace}:hits", 7)
    assert await cache.async_get_cache("hits") == 7


async def test_a_batch_get_of_a_thousand_keys_is_one_mget(
    cache: RedisCache, raw: aioredis.Redis
) -> None:
    keys = [f"k{i}" for i in range(1000)]
    await cache.async_set_cache_pipeline([(k, {"i": i}) for i, k in enumerate(keys)])
    await raw.config_resetstat()
    values = await cache.async_batch_get_cache(keys)
    stats = await raw.info("commandstats")
    assert values == [{"i": i} for i in range(1000)]
    assert stats["cmdstat_mget"]["calls"] == 1
    assert "cmdstat_get" not in stats


async def test_a_set_pipeline_is_one_round_trip(cache: RedisCache, raw: aioredis.Redis) -> None:
    await cache.async_ping()
    before = batches(cache)
    await raw.config_resetstat()
    await cache.async_set_cache_pipeline([(f"k{i}", i) for i in range(500)], ttl=60)
    assert batches(cache) == before + 1
    assert (await raw.info("commandstats"))["cmdstat_set"]["calls"] == 500


async def test_an_increment_pipeline_is_one_round_trip_returning_new_values(
    cache: RedisCache,
) -> None:
    await cache.async_increment("a", 1)
    before = batches(cache)
    result = await cache.async_increment_pipeline([("a", 1), ("b", 5, 60), ("a", 0.5)])
    assert result == [2, 5, 2.5]
    assert batches(cache) == before + 1


async def test_an_increment_pipeline_over_a_key_of_another_type_applies_nothing(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await cache.async_increment("a", 1)
    await raw.sadd(f"{namespace}:a-set", "member")
    with pytest.raises(InvalidArgumentError):
        await cache.async_increment_pipeline([("a", 1), ("new", 1), ("a-set", 1)])
    assert await cache.async_get_cache("a") == 1
    assert await raw.exists(f"{namespace}:new") == 0


async def test_an_increment_pipeline_of_ten_thousand_keys_is_one_script_call(
    cache: RedisCache, raw: aioredis.Redis
) -> None:
    keys = [f"many{i}" for i in range(10_000)]
    await cache.async_increment_pipeline([(key, 1) for key in keys[::2]])
    await raw.config_resetstat()
    result = await cache.async_increment_pipeline([(key, 2, 60) for key in keys])
    assert result == [3 if i % 2 == 0 else 2 for i in range(10_000)]
    assert (await raw.info("commandstats"))["cmdstat_eval"]["calls"] == 1
    assert await cache.async_get_ttl(keys[1]) is not None  # new keys got their TTL
    assert await cache.async_get_ttl(keys[0]) is None  # existing ones kept theirs (none)


async def test_commands_from_concurrent_tasks_share_one_pipeline(cache: RedisCache) -> None:
    """The first command of a quiet loop goes at once; the other 49 share one pipeline."""
    await cache.async_set_cache("k", "v")
    before = batches(cache)
    values = await asyncio.gather(*(cache.async_get_cache("k") for _ in range(50)))
    assert values == ["v"] * 50
    assert batches(cache) == before + 2


async def test_a_lone_command_is_sent_from_its_callers_task(cache: RedisCache) -> None:
    """Nothing else queued or in flight: no batch task is made, the caller sends it itself."""
    await cache.async_set_cache("k", "v")
    pipeline = cache._loop_client().pipeline
    before = batches(cache)
    task = asyncio.ensure_future(cache.async_get_cache("k"))
    await asyncio.sleep(0)  # the task has sent its GET and waits for the reply
    assert pipeline.in_flight == 0  # no batch task carries it
    assert await task == "v"
    assert batches(cache) == before + 1


async def test_a_failing_command_fails_only_its_caller(cache: RedisCache) -> None:
    await cache.async_set_cache("text", "not a number")
    await cache.async_set_cache("k", "v")
    results = await asyncio.gather(
        cache.async_get_cache("k"),
        cache.async_increment("text", 1),
        cache.async_get_cache("k"),
        return_exceptions=True,
    )
    assert results[0] == results[2] == "v"
    assert isinstance(results[1], InvalidArgumentError)


async def test_a_cancelled_caller_does_not_disturb_the_others(cache: RedisCache) -> None:
    await cache.async_set_cache("k", "v")
    doomed = asyncio.ensure_future(cache.async_get_cache("k"))
    others = [asyncio.ensure_future(cache.async_get_cache("k")) for _ in range(5)]
    await asyncio.sleep(0)
    doomed.cancel()
    assert await asyncio.gather(*others) == ["v"] * 5
    assert await cache.async_get_cache("k") == "v"


async def test_buffered_writes_are_flushed_at_the_flush_size(
    redis_server: RedisServer, raw: aioredis.Redis, namespace: str
) -> None:
    cache = RedisCache(url=redis_server.url, namespace=namespace, redis_flush_size=3, env={})
    try:
        await cache.async_batch_cache_write("a", 1)
        await cache.async_batch_cache_write("b", 2)
        assert await raw.exists(f"{namespace}:a", f"{namespace}:b") == 0
        await cache.async_batch_cache_write("c", 3)
        assert await cache.async_batch_get_cache(["a", "b", "c"]) == [1, 2, 3]
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_buffered_writes_are_not_lost_at_disconnect(
    redis_server: RedisServer, raw: aioredis.Redis, namespace: str
) -> None:
    cache = RedisCache(url=redis_server.url, namespace=namespace, env={})
    await cache.async_batch_cache_write("a", {"n": 1}, ttl=60)
    assert cache.buffered_writes == 1
    await cache.async_disconnect()
    try:
        assert decode(await raw.get(f"{namespace}:a")).value == {"n": 1}
    finally:
        await raw.delete(f"{namespace}:a")


async def test_a_corrupt_entry_reads_as_a_miss_and_is_counted(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    await raw.set(f"{namespace}:k", b"\xa1Lgarbage that is no entry")
    assert await cache.async_get_cache("k") is None
    assert cache.stats.corrupt_reads == 1


async def test_set_add_sets_the_ttl_only_when_the_set_is_new(
    cache: RedisCache, raw: aioredis.Redis, namespace: str
) -> None:
    assert await cache.async_set_cache_sadd("s", ["a", "b"], ttl=60) == 2
    assert await cache.async_set_cache_sadd("s", ["b", "c"], ttl=1000) == 1
    assert await cache.async_smembers("s") == {"a", "b", "c"}
    assert 0 < await raw.pttl(f"{namespace}:s") <= 60_000


async def test_each_event_loop_gets_its_own_client(cache: RedisCache) -> None:
    await cache.async_set_cache("k", "v")
    seen: list[object] = []

    def other_loop() -> None:
        async def use() -> None:
            seen.append(await cache.async_get_cache("k"))
            await cache.async_disconnect()

        asyncio.run(use())

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert seen == ["v"]
    assert await cache.async_get_cache("k") == "v"


async def test_blocking_and_async_calls_see_the_same_data(cache: RedisCache) -> None:
    await cache.async_set_cache("k", "from async")
    try:
        assert await asyncio.to_thread(cache.get_cache, "k") == "from async"
        await asyncio.to_thread(cache.set_cache, "k2", "from blocking")
        assert await cache.async_get_cache("k2") == "from blocking"
    finally:
        await asyncio.to_thread(cache.disconnect)


async def test_test_connection_reports_the_version_and_masks_the_password(
    password_server: RedisServer,
) -> None:
    cache = RedisCache(password_server.host, password_server.port, "s3cret-pw", env={})
    try:
        report = await cache.async_test_connection()
    finally:
        await cache.async_disconnect()
    assert report["status"] == "healthy"
    assert report["redis_version"].startswith(("7.", "8."))
    assert report["connection"]["password"] == "***"
    assert "s3cret-pw" not in repr(report)


async def test_a_wrong_password_is_reported_unhealthy_without_the_password(
    password_server: RedisServer,
) -> None:
    cache = RedisCache(
        url=f"redis://:wrong-pw@{password_server.host}:{password_server.port}", env={}
    )
    try:
        report = await cache.async_test_connection()
    finally:
        await cache.async_disconnect()
    assert report["status"] == "unhealthy"
    assert "wrong-pw" not in repr(report)


async def test_without_auto_pipelining_every_operation_still_works(
    redis_server: RedisServer, namespace: str
) -> None:
    cache = RedisCache(url=redis_server.url, namespace=namespace, auto_pipeline=False, env={})
    try:
        await cache.async_set_cache_pipeline([("a", 1), ("b", 2)])
        assert await cache.async_batch_get_cache(["a", "b", "c"]) == [1, 2, None]
        assert await cache.async_increment_pipeline([("n", 1), ("n", 2)]) == [1, 3]
        await cache.async_set_cache("text", "not a number")
        with pytest.raises(InvalidArgumentError):
            await cache.async_increment_pipeline([("n", 1), ("text", 1)])
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_published_messages_reach_a_subscriber_of_the_same_namespace(
    cache: RedisCache,
) -> None:
    received: list[bytes] = []

    async def listen() -> None:
        async for message in cache.async_subscribe("events"):
            received.append(message)
            return

    listener = asyncio.create_task(listen())
    for _ in range(500):  # publish until the subscription is up
        if await cache.async_publish("events", b"hello") > 0:
            break
        await asyncio.sleep(0.01)
    await asyncio.wait_for(listener, 5)
    assert received == [b"hello"]


async def test_a_pool_of_one_connection_serves_many_concurrent_tasks(
    redis_server: RedisServer, namespace: str
) -> None:
    cache = RedisCache(url=redis_server.url, namespace=namespace, max_connections=1, env={})

    async def worker(n: int) -> list[object]:
        out = []
        for i in range(5):
            for _ in range(n % 3):  # spread the tasks over loop iterations: batches overlap
                await asyncio.sleep(0)
            await cache.async_set_cache(f"k{n}", i)
            out.append(await cache.async_get_cache(f"k{n}"))
        return out

    try:
        results = await asyncio.gather(*(worker(n) for n in range(50)))
        assert results == [[0, 1, 2, 3, 4]] * 50
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()
