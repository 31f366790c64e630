"""Convergence check of coherent L1s: OS processes writing the same keys through DualCache.

Each process runs a few concurrent tasks that write and read random keys (with the event loop
made busy now and then, the case where a write can be overtaken by another process's write),
records when each of its writes was acknowledged and when each invalidation from the other
processes arrived, and, once every process has stopped writing, compares its L1 with L2 key
by key. Used by ``tests/dual/test_convergence.py`` and ``benchmarks/bench_dual.py``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiocache_llm import InMemoryCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache

TASKS = 4


@dataclass
class ProcessReport:
    """What one writer process saw."""

    acked: dict[tuple[str, int], float] = field(default_factory=dict)
    received: dict[tuple[str, int], float] = field(default_factory=dict)
    #: Diverged key count at each check after the writes stopped (polled until 0 or the bound).
    diverged: list[int] = field(default_factory=list)


async def _diverged(cache: DualCache, keys: list[str]) -> int:
    l2 = cache.redis_cache
    assert l2 is not None
    count = 0
    for key in keys:
        held = cache.in_memory_cache.get_cache(key)
        if held is not None and held != await l2.async_get_cache(key):
            count += 1
    return count


async def _run(
    url: str,
    namespace: str,
    keys: list[str],
    writes: int,
    seed: int,
    sync: Any,
    poll: float,
    busy: bool,
    invalidation: str,
) -> ProcessReport:
    ready, start, done, check, out = sync
    report = ProcessReport()
    cache = DualCache(
        InMemoryCache(max_size_in_memory=10_000),
        RedisCache(url=url, namespace=namespace, env={}),
        default_in_memory_ttl=300,
        invalidation=invalidation,
    )
    assert cache.channel is not None

    def observe(items: list[tuple[str, int]], at: float, sent: bool) -> None:
        (report.acked if sent else report.received).update((item, at) for item in items)

    cache.channel.observer = observe
    await cache.async_ready()
    ready.put(seed)
    rng = random.Random(seed)
    start.wait()
    per_task = writes // TASKS

    async def writer(task: int) -> None:
        for i in range(per_task):
            key = rng.choice(keys)
            await cache.async_set_cache(key, f"{seed}-{task}-{i}")
            if rng.random() < 0.5:
                await cache.async_get_cache(rng.choice(keys))
            if busy and rng.random() < 0.01:
                time.sleep(0.002)  # noqa: ASYNC251 - the loop is busy: replies queue up

    await asyncio.gather(*(writer(task) for task in range(TASKS)))
    done.put(seed)
    check.wait()
    deadline = time.monotonic() + poll
    while True:
        report.diverged.append(await _diverged(cache, keys))
        if report.diverged[-1] == 0 or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    await cache.async_disconnect()
    out.put(report)
    return report


def _process(*args: Any) -> None:
    asyncio.run(_run(*args))


def run_writers(
    url: str,
    *,
    processes: int = 2,
    writes: int = 10_000,
    key_count: int = 50,
    settle: float = 0.1,
    poll: float = 0.0,
    busy: bool = True,
    invalidation: str = "pubsub",
) -> list[ProcessReport]:
    """Run ``processes`` writers of ``writes`` writes each over ``key_count`` keys; ``settle``
    seconds after the last one stops, every process compares its L1 with L2 (again every
    50 ms for up to ``poll`` seconds while keys differ). ``busy`` blocks each writer's event
    loop for 2 ms after 1% of its writes; ``invalidation`` is DualCache's source."""
    namespace = f"conv-{uuid.uuid4().hex[:8]}"
    keys = [f"key-{i}" for i in range(key_count)]
    spawn = multiprocessing.get_context("spawn")
    start, check = spawn.Event(), spawn.Event()
    ready, done, out = spawn.Queue(), spawn.Queue(), spawn.Queue()
    children = [
        spawn.Process(
            target=_process,
            args=(
                url,
                namespace,
                keys,
                writes,
                seed,
                (ready, start, done, check, out),
                poll,
                busy,
                invalidation,
            ),
        )
        for seed in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=120)  # every child is subscribed
        start.set()
        for _ in children:
            done.get(timeout=300)
        time.sleep(settle)
        check.set()
        reports = [out.get(timeout=60) for _ in children]
    finally:
        for child in children:
            child.join(30)
            if child.is_alive():
                child.kill()
    return reports


async def until(condition: Any, bound: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail if it does not within ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold within the bound"
        await asyncio.sleep(0.005)


def lags(reports: list[ProcessReport]) -> list[float]:
    """Seconds from each write's announcement (after L2 acknowledged it) to its arrival in
    another process."""
    out: list[float] = []
    for writer_index, writer in enumerate(reports):
        for other_index, other in enumerate(reports):
            if other_index == writer_index:
                continue
            for item, acked in writer.acked.items():
                received = other.received.get(item)
                if received is not None:
                    out.append(max(0.0, received - acked))
    return out
