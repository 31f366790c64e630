"""Resource hygiene: no event-loop blocking beyond a few milliseconds on any backend path
(asyncio's debug mode reports every slow step), and memory that stays flat over 100k cached
calls on the in-memory cache. Warnings are errors in this suite, so an unclosed client fails
the test that leaked it."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import uuid
from pathlib import Path

from aiocache_llm.cache import Cache
from tests.harness.redis import RedisServer

from .conftest import Echo, LoopWatchdog, chat, watch_loop


async def exercise(cache: Cache, echo: Echo) -> None:
    """Concurrent misses, stores and hits, a stream and embeddings."""
    llm = cache.cached(echo.acompletion)
    for _ in range(2):
        await asyncio.gather(*(llm(**chat(f"q{i}")) for i in range(50)))
    stream = await llm(**chat("q1", stream=True))
    assert [chunk async for chunk in stream]
    embed = cache.cached(echo.aembedding)
    await embed(model="e", input=[f"t{i}" for i in range(20)])


async def test_the_disk_backend_never_blocks_the_loop(
    tmp_path: Path, echo: Echo, loop_watchdog: LoopWatchdog
) -> None:
    cache = Cache(type="disk", disk_cache_dir=tmp_path)
    await exercise(cache, Echo())  # warm: imports, schema, first connections
    watch_loop()
    await exercise(cache, echo)
    await cache.async_disconnect()
    assert loop_watchdog.reports == []


async def test_the_redis_backend_never_blocks_the_loop(
    redis_url: str, echo: Echo, loop_watchdog: LoopWatchdog
) -> None:
    cache = Cache(type="redis", url=redis_url, namespace=uuid.uuid4().hex[:8])
    await exercise(cache, Echo())
    watch_loop()
    await exercise(cache, echo)
    await cache.async_disconnect()
    assert loop_watchdog.reports == []


async def test_a_paused_redis_never_blocks_the_loop(
    redis_down_and_up: RedisServer, echo: Echo, loop_watchdog: LoopWatchdog
) -> None:
    cache = Cache(type="redis", url=redis_down_and_up.url, namespace="paused", backend_deadline=0.2)
    await exercise(cache, Echo())
    watch_loop()
    redis_down_and_up.process.pause()
    try:
        await exercise(cache, echo)
    finally:
        redis_down_and_up.process.resume()
    await cache.async_disconnect()
    assert loop_watchdog.reports == []


def test_the_watchdog_does_report_a_blocking_call(loop_watchdog: LoopWatchdog) -> None:
    import time

    def block() -> None:
        time.sleep(0.05)

    async def main() -> None:
        watch_loop()
        asyncio.get_running_loop().call_soon(block)
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert loop_watchdog.reports


async def test_memory_stays_flat_over_100k_in_memory_calls(echo: Echo) -> None:
    cache = Cache(type="local")
    llm = cache.cached(echo.acompletion)
    questions = [chat(f"question {i}") for i in range(100)]

    async def run(n: int) -> None:
        for i in range(n):
            await llm(**questions[i % 100])

    await run(10_000)  # warm: every entry stored, caches of the SDK types filled
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await run(100_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert echo.calls == 100
    assert grown < 256 * 1024, f"{grown} bytes retained over 100k calls"
