"""Cached calls with Redis paused (SIGSTOP): every call answered by the upstream, and what the
cache adds per call once its circuit breaker is open.

Run from the repository root: ``python benchmarks/bench_reliability.py``. It starts a real
redis-server and the stand-in OpenAI-compatible upstream (tests/harness/upstream.py) on
loopback, freezes Redis, and sends 1,000 chat calls through ``Cache.wrap_openai`` (real
``openai`` SDK, real HTTP). The baseline is the same SDK call without the cache, interleaved
call by call with the cached one so both see the same machine. The bar: after the breaker
opens, the added latency per call is under 1 ms.

A second table measures the same thing without HTTP noise: an in-process upstream, the cache
layer's own cost per call with the breaker open, against calling the upstream function.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openai import AsyncOpenAI

from aiocache_llm.facade import Cache
from aiocache_llm.middleware.builders import GuardedCache
from tests.harness.redis import start_redis
from tests.harness.upstream import start_upstream

CALLS = 1_000
DEADLINE = 0.1
BREAKER = {"failure_threshold": 5, "recovery_time": 60.0}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def paired(
    baseline: Callable[[int], Awaitable[Any]], cached: Callable[[int], Awaitable[Any]], n: int
) -> tuple[list[float], list[float], int]:
    """Per-call seconds of ``baseline(i)`` and ``cached(i)``, interleaved; cached successes."""
    base, mine, ok = [], [], 0
    for i in range(n):
        started = time.perf_counter()
        await baseline(i)
        base.append(time.perf_counter() - started)
        started = time.perf_counter()
        try:
            answer = await cached(i)
            ok += answer is not None
        except Exception as exc:  # counted as a failure, never hidden
            print(f"call {i} failed: {type(exc).__name__}")
        mine.append(time.perf_counter() - started)
    return base, mine, ok


def row(name: str, samples: list[float], base: list[float] | None) -> str:
    p50, p99 = statistics.median(samples) * 1e6, pct(samples, 0.99) * 1e6
    if base is None:
        return f"{name:<44} {p50:>9.1f} {p99:>9.1f} {'':>12} {'1.00x':>7}"
    added = (statistics.median(samples) - statistics.median(base)) * 1e6
    ratio = statistics.median(samples) / statistics.median(base)
    return f"{name:<44} {p50:>9.1f} {p99:>9.1f} {added:>+12.1f} {ratio:>6.2f}x"


async def over_http(redis_url: str, base_url: str, pause: Callable[[], None]) -> None:
    cache = Cache(
        type="redis",
        url=redis_url,
        namespace="bench-rel",
        backend_deadline=DEADLINE,
        circuit_breaker=BREAKER,
    )
    async with AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0) as plain:
        client = cache.wrap_openai(plain)
        for i in range(20):  # warm both paths, and the cache's Redis connections
            await plain.chat.completions.create(model="m", messages=ask(f"warm {i}"))
            await client.chat.completions.create(model="m", messages=ask(f"warm {i}"))
        pause()

        async def base_call(i: int) -> Any:
            return await plain.chat.completions.create(model="m", messages=ask(f"b{i}"))

        async def cached_call(i: int) -> Any:
            return await client.chat.completions.create(model="m", messages=ask(f"q{i}"))

        started = time.perf_counter()
        base, mine, ok = await paired(base_call, cached_call, CALLS)
        total = time.perf_counter() - started
    guard = cache.guarded
    assert isinstance(guard, GuardedCache)
    opened = guard.guard_stats.timeouts
    print(f"\nRedis paused (SIGSTOP); {CALLS} cached chat calls over HTTP via the openai SDK")
    print(f"answered: {ok}/{CALLS} (all from the upstream); run took {total:.1f} s")
    print(
        f"calls that waited out the {DEADLINE * 1e3:.0f} ms deadline before the breaker "
        f"opened: {opened}; calls that skipped the open breaker: "
        f"{cache.events.counters['circuit_open']}"
    )
    print(f"breaker: {guard.breaker.snapshot()['state']}\n")
    header = f"{'per call (us)':<44} {'p50':>9} {'p99':>9} {'added p50':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    print(row("upstream, no cache (baseline)", base[opened:], None))
    print(row("cached, breaker open (after it opened)", mine[opened:], base[opened:]))
    print(row("cached, all 1,000 (deadline paid until open)", mine, base))
    added = statistics.median(mine[opened:]) - statistics.median(base[opened:])
    print(
        f"\nbar: added p50 after the breaker opened < 1 ms: {'PASS' if added < 1e-3 else 'FAIL'}"
        f" ({added * 1e3:+.3f} ms); all answered: {'PASS' if ok == CALLS else 'FAIL'}"
    )
    await cache.async_disconnect()


async def in_process(redis_url: str) -> None:
    answer = {
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
    }

    async def acompletion(**kwargs: Any) -> Any:
        return answer

    cache = Cache(
        type="redis",
        url=redis_url,
        namespace="bench-rel2",
        backend_deadline=DEADLINE,
        circuit_breaker=BREAKER,
    )
    llm = cache.cached(acompletion)
    while cache.events.counters["circuit_open"] == 0:  # until the breaker opens
        await llm(model="m", messages=ask("open it"))

    async def base_call(i: int) -> Any:
        return await acompletion(model="m", messages=ask(f"b{i}"))

    async def cached_call(i: int) -> Any:
        return await llm(model="m", messages=ask(f"q{i}"))

    base, mine, _ = await paired(base_call, cached_call, 20 * CALLS)
    print(f"\nIn-process upstream, breaker open, {20 * CALLS} calls (cache layer's own cost)")
    header = f"{'per call (us)':<44} {'p50':>9} {'p99':>9} {'added p50':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    print(row("upstream function, no cache (baseline)", base, None))
    print(row("cached, breaker open", mine, base))
    print()
    await cache.async_disconnect()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def main() -> None:
    logging.getLogger("aiocache_llm").setLevel(logging.ERROR)  # the expected failure lines
    with tempfile.TemporaryDirectory() as directory:
        redis = start_redis(Path(directory) / "redis")
        upstream = start_upstream(Path(directory) / "upstream")
        try:
            asyncio.run(over_http(redis.url, upstream.base_url, redis.process.pause))
            asyncio.run(in_process(redis.url))
        finally:
            redis.process.resume()
            redis.stop()
            upstream.process.stop()


if __name__ == "__main__":
    main()
