"""Resource hygiene: nothing on the disk or Redis paths blocks the event loop (every blocking
call the library makes on the loop thread is recorded, see tests/loop_audit.py), and memory
stays flat over 100k cached calls on the in-memory cache. Warnings are errors in this suite,
so an unclosed client fails the test that leaked it."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import uuid
from pathlib import Path

import pytest

from aiocache_llm.errors import BackendTimeout
from aiocache_llm.facade import Cache
from aiocache_llm.storage.disk import DiskCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer
from tests.loop_audit import LoopAudit

from .conftest import Echo, chat


async def exercise(cache: Cache, echo: Echo, tag: str) -> None:
    """Concurrent misses, stores and hits, a stream and embeddings (all new under ``tag``)."""
    llm = cache.cached(echo.acompletion)
    for _ in range(2):
        await asyncio.gather(*(llm(**chat(f"{tag} q{i}")) for i in range(50)))
    stream = await llm(**chat(f"{tag} q1", stream=True))
    assert [chunk async for chunk in stream]
    embed = cache.cached(echo.aembedding)
    await embed(model="e", input=[f"{tag} t{i}" for i in range(20)])


async def audited(cache: Cache, echo: Echo) -> list[str]:
    """The library's blocking calls on the loop thread while ``exercise`` runs and the cache
    disconnects (after one warm run: imports, schema, first connections)."""
    await exercise(cache, Echo(), "warm")
    with LoopAudit().watching() as audit:
        await exercise(cache, echo, "audited")
        await cache.async_disconnect()
    assert echo.calls > 0  # the audited run did go through the library
    return audit.calls


async def test_the_disk_backend_never_blocks_the_loop(tmp_path: Path, echo: Echo) -> None:
    assert await audited(Cache(type="disk", disk_cache_dir=tmp_path), echo) == []


async def test_the_redis_backend_never_blocks_the_loop(redis_url: str, echo: Echo) -> None:
    cache = Cache(type="redis", url=redis_url, namespace=uuid.uuid4().hex[:8])
    assert await audited(cache, echo) == []


async def test_a_paused_redis_never_blocks_the_loop(
    redis_down_and_up: RedisServer, echo: Echo
) -> None:
    cache = Cache(type="redis", url=redis_down_and_up.url, namespace="paused", backend_deadline=0.2)
    await exercise(cache, Echo(), "warm")
    redis_down_and_up.process.pause()
    try:
        with LoopAudit().watching() as audit:
            await exercise(cache, echo, "paused")
    finally:
        redis_down_and_up.process.resume()
    await cache.async_disconnect()
    assert echo.calls > 0
    assert audit.calls == []


async def test_the_audit_does_report_blocking_calls_on_the_loop(
    tmp_path: Path, redis_down_and_up: RedisServer
) -> None:
    disk = DiskCache(tmp_path / "disk")
    redis_cache = RedisCache(
        url=redis_down_and_up.url, namespace=uuid.uuid4().hex[:8], socket_timeout=0.3, env={}
    )
    # paused, the server answers nothing, so the blocking get surely waits for the library's
    # loop thread (a quick answer could be ready before the caller waits)
    redis_down_and_up.process.pause()
    try:
        with LoopAudit().watching() as audit:
            disk.get_cache("k")  # the blocking twins, called on the loop thread by mistake
            with pytest.raises(BackendTimeout):
                redis_cache.get_cache("k")  # waits for the library's own loop thread
    finally:
        redis_down_and_up.process.resume()
        disk.disconnect()
        await asyncio.to_thread(redis_cache.disconnect)
    assert any(call.startswith("sqlite3.") and "disk.py" in call for call in audit.calls)
    assert any("wait for another thread" in call for call in audit.calls)


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
