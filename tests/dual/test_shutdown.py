"""Shutting a DualCache down, in either order (the DualCache first, or its Redis L2 first),
through the async or the blocking API, leaves nothing behind: no pending task destroyed, no
L2 subscription error, no warning, nothing on stderr, also at interpreter exit.

Each case runs in a process of its own, so what is printed while the interpreter exits is
captured too."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

import pytest

from tests.harness.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, logging, sys, time, warnings

warnings.simplefilter("always")  # ResourceWarning (unclosed clients) included
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

from aiocache_llm import InMemoryCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache

url, namespace, api, order = sys.argv[1:5]
l2 = RedisCache(url=url, namespace=namespace, env={})
dual = DualCache(InMemoryCache(), l2)


async def use_async():
    await dual.async_ready()  # the invalidation subscription is up
    await dual.async_set_cache("k", "v")
    assert await dual.async_get_cache("k") == "v"
    first, second = (dual, l2) if order == "dual-first" else (l2, dual)
    await first.async_disconnect()
    await asyncio.sleep(0.3)  # time for the subscription to notice a closed connection
    await second.async_disconnect()


def use_blocking():
    dual.ready()
    dual.set_cache("k", "v")
    assert dual.get_cache("k") == "v"
    first, second = (dual, l2) if order == "dual-first" else (l2, dual)
    first.disconnect()
    time.sleep(0.3)
    second.disconnect()


if api == "async":
    asyncio.run(use_async())
else:
    use_blocking()
print("done")
"""


@pytest.mark.parametrize("api", ["async", "blocking"])
@pytest.mark.parametrize("order", ["dual-first", "l2-first"])
def test_shutting_down_in_either_order_leaves_nothing_behind(
    redis_server: RedisServer, order: str, api: str
) -> None:
    namespace = f"shutdown-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, redis_server.url, namespace, api, order],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "done"), done.stderr
    assert done.stderr == ""


async def _subscribers(raw: Any) -> int:
    clients = await raw.client_list()
    return sum(1 for c in clients if int(c.get("sub", 0)) or int(c.get("psub", 0)))


@pytest.mark.parametrize("made_by", ["DualCache", "Cache(type='redis')"])
async def test_a_cache_its_user_dropped_stops_listening(
    made_by: str, redis_server: RedisServer
) -> None:
    import redis.asyncio as aioredis

    from aiocache_llm import Cache, InMemoryCache
    from aiocache_llm.storage.dual import DualCache
    from aiocache_llm.storage.redis import RedisCache

    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        before = await _subscribers(raw)
        namespace = f"dropped-{uuid.uuid4().hex[:8]}"
        if made_by == "DualCache":
            cache: Any = DualCache(
                InMemoryCache(), RedisCache(url=redis_server.url, namespace=namespace, env={})
            )
            await cache.async_ready()
        else:
            cache = Cache(type="redis", url=redis_server.url, namespace=namespace)
            await cache.backend.async_ready()
        dual = cache if made_by == "DualCache" else cache.backend
        await dual.async_set_cache("k", "v")
        assert await _subscribers(raw) == before + 1
        l2 = dual.redis_cache  # kept, to close its command connections at the end
        del dual
        ref = weakref.ref(cache)
        del cache
        gc.collect()
        assert ref() is None  # nothing the library keeps holds a dropped cache
        deadline = time.monotonic() + 10
        while await _subscribers(raw) != before:  # its subscription connection closes
            assert time.monotonic() < deadline, "the dropped cache is still subscribed"
            await asyncio.sleep(0.02)
        await l2.async_disconnect()
    finally:
        await raw.aclose()
