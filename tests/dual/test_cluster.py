"""DualCache over a real Redis Cluster: invalidations over sharded pub/sub across every master,
and a master killed mid-run with its replica promoted."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.cluster import key_slot

from aiocache_llm import InMemoryCache
from aiocache_llm.errors import BackendError, BackendTimeout
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisClusterCache
from tests.harness.redis import RedisServer
from tests.harness.redis_cluster import RedisClusterServers

KEYS = [f"k{i}" for i in range(60)]


def _dual(cluster: RedisClusterServers, namespace: str) -> DualCache:
    l2 = RedisClusterCache(
        startup_nodes=cluster.startup_nodes, namespace=namespace, socket_timeout=1, env={}
    )
    return DualCache(InMemoryCache(max_size_in_memory=1000), l2)


async def _until(condition: object, bound: float = 10.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not hold within the bound"
        await asyncio.sleep(0.01)


@pytest.fixture
async def pair(redis_cluster: RedisClusterServers) -> AsyncIterator[tuple[DualCache, DualCache]]:
    namespace = f"dc-{uuid.uuid4().hex[:8]}"
    a, b = _dual(redis_cluster, namespace), _dual(redis_cluster, namespace)
    await a.async_ready()
    await b.async_ready()
    yield a, b
    await a.async_flush_cache()
    await a.async_disconnect()
    await b.async_disconnect()


class PublishHeld(RedisClusterCache):
    """A real cluster cache whose messages wait for ``release`` once ``reached`` is set."""

    reached: asyncio.Event | None = None
    release: asyncio.Event | None = None

    async def async_publish(
        self, channel: str, message: bytes, *, sender: str | None = None
    ) -> int:
        if self.reached is not None and self.release is not None:
            self.reached.set()
            await self.release.wait()
        return await super().async_publish(channel, message, sender=sender)


@pytest.mark.parametrize("operation", ["set", "delete"])
async def test_a_write_cancelled_before_its_message_left_is_still_announced(
    redis_cluster: RedisClusterServers, operation: str
) -> None:
    namespace = f"dc-{uuid.uuid4().hex[:8]}"
    l2 = PublishHeld(
        startup_nodes=redis_cluster.startup_nodes, namespace=namespace, socket_timeout=1, env={}
    )
    mine, other = DualCache(InMemoryCache(), l2), _dual(redis_cluster, namespace)
    await mine.async_ready()
    await other.async_ready()
    await mine.async_set_cache("k", "old")
    assert await other.async_get_cache("k") == "old"  # held in the other L1
    l2.reached, l2.release = asyncio.Event(), asyncio.Event()
    if operation == "set":
        write = asyncio.create_task(mine.async_set_cache("k", "new"))
    else:
        write = asyncio.create_task(mine.async_delete_cache("k"))
    await l2.reached.wait()  # in L2; the message (a separate command on a cluster) not sent
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write
    l2.release.set()  # the message goes on without its caller
    await _until(lambda: other.in_memory_cache.get_cache("k") is None)
    assert await other.async_get_cache("k") == ("new" if operation == "set" else None)
    l2.reached = l2.release = None
    await mine.async_flush_cache()
    await mine.async_disconnect()
    await other.async_disconnect()


class LostReply(RedisClusterCache):
    """A real cluster cache whose versioned writes are applied, then time out."""

    async def _set_versions(self, *args: Any) -> list[int]:
        await super()._set_versions(*args)
        raise BackendTimeout("the reply did not come back in time")


async def test_a_write_that_may_have_been_applied_is_announced_with_an_unknown_version(
    redis_cluster: RedisClusterServers,
) -> None:
    namespace = f"dc-{uuid.uuid4().hex[:8]}"
    other = _dual(redis_cluster, namespace)
    await other.async_ready()
    await other.async_set_cache("k", "old")
    assert await other.async_get_cache("k") == "old"
    l2 = LostReply(
        startup_nodes=redis_cluster.startup_nodes, namespace=namespace, socket_timeout=1, env={}
    )
    mine = DualCache(InMemoryCache(), l2)
    await mine.async_ready()
    await mine.async_set_cache("k", "new")  # fails open; it is in L2 nevertheless
    assert mine.stats.errors == 1
    await _until(lambda: other.in_memory_cache.get_cache("k") is None)
    assert await other.async_get_cache("k") == "new"
    await other.async_flush_cache()
    await mine.async_disconnect()
    await other.async_disconnect()


def test_the_keys_span_every_master() -> None:
    assert {key_slot(f"x:{key}".encode()) * 3 // 16384 for key in KEYS} == {0, 1, 2}


async def test_writes_on_every_master_drop_the_copies_in_another_cache(
    pair: tuple[DualCache, DualCache],
) -> None:
    a, b = pair
    await a.async_set_cache_pipeline([(key, "first") for key in KEYS])
    assert await b.async_batch_get_cache(KEYS) == ["first"] * len(KEYS)
    assert all(b.in_memory_cache.get_cache(key) == "first" for key in KEYS)
    await a.async_set_cache_pipeline([(key, "second") for key in KEYS])
    await _until(lambda: all(b.in_memory_cache.get_cache(key) is None for key in KEYS))
    assert await b.async_batch_get_cache(KEYS) == ["second"] * len(KEYS)
    await a.async_delete_cache(KEYS[0])
    await _until(lambda: b.in_memory_cache.get_cache(KEYS[0]) is None)
    assert await b.async_get_cache(KEYS[0]) is None


async def test_invalidations_travel_on_sharded_pub_sub(
    pair: tuple[DualCache, DualCache], redis_cluster: RedisClusterServers
) -> None:
    a, _ = pair
    assert a.channel is not None and isinstance(a.redis_cache, RedisClusterCache)
    channel = a.redis_cache.object_name(a.channel.channel)
    owner = redis_cluster.master_of(channel)
    client = aioredis.Redis(host=owner.host, port=owner.port)
    try:
        sharded = await client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        plain = await client.execute_command("PUBSUB", "NUMSUB", channel)
    finally:
        await client.aclose()
    assert [int(count) for _, count in _pairs(sharded)] == [2]
    assert [int(count) for _, count in _pairs(plain)] == [0]


def _pairs(reply: object) -> list[tuple[object, object]]:
    """``[(channel, count)]`` from a flat ``[channel, count, ...]`` reply or redis-py's pairs."""
    items = list(reply)  # type: ignore[call-overload]
    if items and isinstance(items[0], (list, tuple)):
        return [tuple(item) for item in items]  # type: ignore[misc]
    return list(zip(items[::2], items[1::2], strict=True))


async def test_a_master_killed_mid_run_fails_over_and_the_caches_converge(
    redis_cluster_replicas: RedisClusterServers,
) -> None:
    cluster = redis_cluster_replicas
    namespace = f"fo-{uuid.uuid4().hex[:8]}"
    a, b = _dual(cluster, namespace), _dual(cluster, namespace)
    try:
        await a.async_ready()
        await b.async_ready()
        assert a.channel is not None and isinstance(a.redis_cache, RedisClusterCache)
        channel = a.redis_cache.object_name(a.channel.channel)
        victim = cluster.master_of(channel)  # the invalidation channel's shard goes down too
        rng = random.Random(7)
        stop = asyncio.Event()
        calls = 0

        async def traffic(cache: DualCache, name: str) -> None:
            nonlocal calls
            i = 0
            while not stop.is_set():
                i += 1
                await cache.async_set_cache(rng.choice(KEYS), f"{name}-{i}")  # never raises
                await cache.async_get_cache(rng.choice(KEYS))
                calls += 2
                await asyncio.sleep(0.001)

        tasks = [asyncio.create_task(traffic(cache, name)) for cache, name in ((a, "a"), (b, "b"))]
        try:
            await asyncio.sleep(0.5)
            cluster.kill(victim)
            at_kill = calls

            def promoted() -> bool:
                try:
                    return cluster.master_of(channel) is not victim
                except LookupError:  # no master for the slot yet
                    return False

            await _until(promoted, bound=30)
            await asyncio.sleep(1.0)  # writes go on against the promoted replica
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert calls > at_kill  # the caches kept answering through the failover
        await a.async_ready(timeout=20)
        await b.async_ready(timeout=20)
        # after the writes stop, every L1 copy agrees with L2, and new writes invalidate again
        await a.async_set_cache_pipeline([(key, "final") for key in KEYS])
        # b may still hold copies read during the traffic until a's announcement reaches it
        finals = ["final"] * len(KEYS)
        deadline = time.monotonic() + 10
        while await b.async_batch_get_cache(KEYS) != finals:
            assert time.monotonic() < deadline, "b did not converge on a's writes within the bound"
            await asyncio.sleep(0.05)

        async def diverged() -> int:
            count = 0
            for cache in (a, b):
                for key in KEYS:
                    held = cache.in_memory_cache.get_cache(key)
                    if held is not None and held != await cache.redis_cache.async_get_cache(key):
                        count += 1
            return count

        deadline = time.monotonic() + 10
        left = await diverged()
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            left = await diverged()
        assert left == 0
        await b.async_set_cache(KEYS[0], "from b")
        await _until(lambda: a.in_memory_cache.get_cache(KEYS[0]) is None)
        assert await a.async_get_cache(KEYS[0]) == "from b"
    finally:
        await a.async_disconnect()
        await b.async_disconnect()


def _replica_of(cluster: RedisClusterServers, master: RedisServer) -> RedisServer:
    """The replica that follows ``master`` now."""
    for node in cluster.nodes:
        if node is master or node.process.process.poll() is not None:
            continue
        info = redis.Redis(host=node.host, port=node.port, socket_timeout=5).info("replication")
        if info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port:
            return node
    raise LookupError(f"no replica follows the master on port {master.port}")


async def _read_or_none(l2: RedisClusterCache, key: str) -> object:
    """L2's value of ``key``, or ``None`` while the cluster cannot answer."""
    try:
        return await l2.async_get_cache(key)
    except BackendError:
        return None


@pytest.mark.parametrize("how", ["CLUSTER FAILOVER", "kill", "hang"])
async def test_the_subscription_follows_a_failover_of_the_channels_shard(
    redis_cluster_replicas: RedisClusterServers, how: str
) -> None:
    """After the channel's shard fails over (a manual failover on its replica, or its master
    killed, or hung so its connections go silent), another process's write is seen here long
    before the L1 copy would age out."""
    cluster = redis_cluster_replicas
    namespace = f"sub-{uuid.uuid4().hex[:8]}"

    def dual() -> DualCache:
        l2 = RedisClusterCache(
            startup_nodes=cluster.startup_nodes, namespace=namespace, socket_timeout=1, env={}
        )
        return DualCache(InMemoryCache(max_size_in_memory=1000), l2, default_in_memory_ttl=300)

    a, b = dual(), dual()
    hung: RedisServer | None = None
    try:
        await a.async_ready()
        await b.async_ready()
        assert b.channel is not None and isinstance(b.redis_cache, RedisClusterCache)
        l2 = b.redis_cache
        channel = l2.object_name(b.channel.channel)
        victim = cluster.master_of(channel)
        # the key lives on another shard, so its reads and writes never pause
        key = next(k for k in KEYS if cluster.master_of(l2.object_name(k)) != victim)
        await a.async_set_cache(key, "before")
        assert await b.async_get_cache(key) == "before"
        assert b.in_memory_cache.get_cache(key) == "before"  # held for up to 300 s
        replica = _replica_of(cluster, victim)
        if how == "kill":
            cluster.kill(victim)
        elif how == "hang":
            os.kill(victim.process.process.pid, signal.SIGSTOP)
            hung = victim
        else:
            redis.Redis(host=replica.host, port=replica.port, socket_timeout=5).execute_command(
                "CLUSTER", "FAILOVER"
            )

        asked = [time.monotonic()]

        def promoted() -> bool:
            client = redis.Redis(host=replica.host, port=replica.port, socket_timeout=5)
            if client.info("replication").get("role") == "master":
                return True
            if how == "CLUSTER FAILOVER" and time.monotonic() - asked[0] > 5:
                # a manual failover the master did not take up in time (a busy machine) is
                # aborted by Redis: ask again
                client.execute_command("CLUSTER", "FAILOVER")
                asked[0] = time.monotonic()
            return False

        await _until(promoted, bound=30)
        # the write itself may fail while a's cluster client learns the new layout: retried
        deadline = time.monotonic() + 30
        await a.async_set_cache(key, "after")
        while await _read_or_none(l2, key) != "after":
            assert time.monotonic() < deadline, "a's write did not reach L2 within the bound"
            await asyncio.sleep(0.1)
            await a.async_set_cache(key, "after")
        deadline = time.monotonic() + 30
        while await b.async_get_cache(key) != "after":
            assert time.monotonic() < deadline, "b still serves its L1 copy 30 s after the write"
            await asyncio.sleep(0.1)
        # and the subscription is live again: a later write drops b's copy without a poll
        await _until(lambda: b._state.live, bound=30)
        assert await b.async_get_cache(key) == "after"
        await a.async_set_cache(key, "again")
        await _until(lambda: b.in_memory_cache.get_cache(key) != "after", bound=30)
        assert await b.async_get_cache(key) == "again"
    finally:
        if hung is not None:
            os.kill(hung.process.process.pid, signal.SIGCONT)
        await a.async_disconnect()
        await b.async_disconnect()
