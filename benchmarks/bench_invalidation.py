"""Invalidation source of DualCache: Redis pub/sub against RESP3 client-side tracking.

    python benchmarks/bench_invalidation.py          # WRITES=3000 per source by default

Starts a redis-server on a free loopback port (as ``bench_dual.py``) and stops it at the
end. For each source (``DualCache(..., invalidation="pubsub" | "tracking")``) a writer and a
reader DualCache over the same namespace, each with its own Redis connections, in short
alternating rounds so changes of the machine's load hit both alike. Measured per source:

* the invalidation lag: from just before a write starts in the writer to the reader dropping
  its copy (p50 / p99 / max);
* the cost of a write: its latency in the writer (p50 / p99), the commands the server
  processed per write, and whether the writer keeps its own freshly written copy in L1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from aiocache_llm import InMemoryCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import redis_running

WRITES = int(os.environ.get("WRITES", "3000"))
ROUNDS = 10
SOURCES = ("pubsub", "tracking")
READ_KEYS = [f"r{j}" for j in range(100)]


@dataclass
class Measured:
    lags: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    commands: int = 0
    trips: int = 0
    reads: int = 0
    filled: int = 0
    written: int = 0
    kept: int = 0
    lost: int = 0


def _cache(url: str, source: str) -> DualCache:
    l2 = RedisCache(url=url, namespace=f"inv-{source}", env={})
    return DualCache(InMemoryCache(max_size_in_memory=WRITES * 2), l2, invalidation=source)


#: Commands a client sends for a write (the rest run inside the script).
_SENT = ("cmdstat_eval", "cmdstat_evalsha", "cmdstat_publish")
_READS = ("cmdstat_get", "cmdstat_mget", "cmdstat_info")


async def _commands(admin: aioredis.Redis) -> tuple[int, int]:
    """(commands processed for writes, commands sent by clients for writes) so far: the cold
    reads' GETs and these INFO calls left out."""
    stats = await admin.info("commandstats")
    total = sum(int(v["calls"]) for name, v in stats.items() if name not in _READS)
    return total, sum(int(stats[name]["calls"]) for name in _SENT if name in stats)


async def _cold_reads(
    reader: DualCache, keys: list[str], stop: asyncio.Event, out: Measured
) -> None:
    """Read keys L1 does not hold, one after another: how many L2 reads may fill L1."""
    i = 0
    while not stop.is_set():
        key = keys[i % len(keys)]
        i += 1
        reader.in_memory_cache.delete_cache(key)
        await reader.async_get_cache(key)
        out.reads += 1
        out.filled += reader.in_memory_cache.get_cache(key) is not None


async def _round(
    writer: DualCache, reader: DualCache, admin: aioredis.Redis, out: Measured, n: int
) -> None:
    assert reader.channel is not None
    started: dict[str, float] = {}
    dropped: dict[str, float] = {}

    def observe(items: list[tuple[str, int]], at: float, sent: bool) -> None:
        if not sent:
            for key, _ in items:
                dropped.setdefault(key, at)

    reader.channel.observer = observe
    base = out.written
    keys = [f"k{base + i}" for i in range(n)]
    before, sent = await _commands(admin)
    stop = asyncio.Event()
    cold = asyncio.create_task(_cold_reads(reader, READ_KEYS, stop, out))
    for key in keys:
        t0 = time.time()
        started[key] = t0
        await writer.async_set_cache(key, "v", ttl=600)
        out.writes.append(time.time() - t0)
    stop.set()
    await cold
    after, sent_after = await _commands(admin)
    out.commands += after - before
    out.trips += sent_after - sent
    for _ in range(200):  # at most 2 s for the last notifications
        if len(dropped) >= n:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the writer's own notifications, if any, have arrived
    out.lags.extend(dropped[key] - started[key] for key in keys if key in dropped)
    out.lost += sum(key not in dropped for key in keys)
    out.kept += sum(writer.in_memory_cache.get_cache(key) is not None for key in keys)
    out.written += n
    reader.channel.observer = None


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def main(url: str) -> None:
    admin = aioredis.from_url(url)
    pairs = {source: (_cache(url, source), _cache(url, source)) for source in SOURCES}
    for writer, reader in pairs.values():
        await writer.async_ready()
        await reader.async_ready()
        for key in READ_KEYS:
            await writer.async_set_cache(key, "read-only", ttl=600)
    await asyncio.sleep(0.1)
    measured = {source: Measured() for source in SOURCES}
    for _ in range(ROUNDS):
        for source, (writer, reader) in pairs.items():
            await _round(writer, reader, admin, measured[source], WRITES // ROUNDS)
    for writer, reader in pairs.values():
        await writer.async_flush_cache()
        await writer.async_disconnect()
        await reader.async_disconnect()
    await admin.aclose()

    print(f"{WRITES:,} writes per source, {ROUNDS} alternating rounds, one host (loopback)\n")
    print(
        f"{'source':10} {'lag p50 ms':>10} {'p99 ms':>8} {'max ms':>8} {'lost':>5}"
        f" {'write p50 ms':>12} {'p99 ms':>8} {'trips/write':>11} {'cmds/write':>10}"
        f" {'own copy kept':>13} {'cold fills kept':>15}"
    )
    for source, m in measured.items():
        print(
            f"{source:10} {_pct(m.lags, 0.5):10.3f} {_pct(m.lags, 0.99):8.3f}"
            f" {max(m.lags) * 1000:8.2f} {m.lost:5d} {_pct(m.writes, 0.5):12.3f}"
            f" {_pct(m.writes, 0.99):8.3f} {m.trips / m.written:11.2f}"
            f" {m.commands / m.written:10.2f} {m.kept / m.written:13.0%}"
            f" {m.filled / max(m.reads, 1):15.0%}"
        )
    print(
        "\nlag: write start in one DualCache -> copy dropped in the other; trips: commands a"
        " client sends per write; cmds: commands the server runs per write (3 inside the"
        " version script); own copy kept: the writer's L1 still holds what it wrote; cold"
        " fills kept: L2 reads by a concurrent reader of other keys whose value entered L1"
    )
    pub, track = measured["pubsub"], measured["tracking"]
    print(
        f"\ntracking / pubsub: lag p50 {_pct(track.lags, 0.5) / _pct(pub.lags, 0.5):.2f}x,"
        f" lag p99 {_pct(track.lags, 0.99) / _pct(pub.lags, 0.99):.2f}x,"
        f" write p50 {_pct(track.writes, 0.5) / _pct(pub.writes, 0.5):.2f}x"
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory, redis_running(Path(directory)) as server:
        asyncio.run(main(server.url))
