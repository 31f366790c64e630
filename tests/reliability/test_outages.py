"""Backends paused (SIGSTOP), killed and restarted during runs of concurrent cached calls:
every call answers, none waits longer than the deadline + 10%, the breaker opens and closes,
and the cache resumes with no user action.

Durations are measured with :func:`tests.timing.own_time`, which leaves out the time the event
loop's thread waited for a CPU: on a busy machine that time stretches every step, and it is
the machine's, not the cache's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.middleware.builders import GuardedCache
from tests.harness.redis import RedisServer, start_redis
from tests.harness.s3 import S3Server, start_s3
from tests.timing import own_time

from .conftest import Echo, chat, text_of

DEADLINE = 0.3
#: What an answer may take beyond the deadline: 10%, plus the stand-in upstream's own time.
BOUND = DEADLINE * 1.1 + 0.03
BREAKER = {"failure_threshold": 3, "recovery_time": 0.5}


async def run_round(llm: Callable[..., Awaitable[Any]], tag: str, n: int = 40) -> list[float]:
    """``n`` concurrent calls; checks every answer, returns each call's duration."""

    async def one(i: int) -> float:
        started = own_time()
        answer = await llm(**chat(f"{tag}-{i % 10}"))
        elapsed = own_time() - started
        assert text_of(answer) == f"None asked: {tag}-{i % 10}"
        return elapsed

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def breaker_state(cache: Cache) -> str:
    guard = cache.guarded
    assert isinstance(guard, GuardedCache)
    return str(guard.breaker.state)


async def wait_until_closed(cache: Cache, llm: Callable[..., Awaitable[Any]]) -> None:
    """Keep calling (as users would) until the breaker has probed and closed."""
    for i in range(60):
        await llm(**chat(f"probe-{i}"))
        if breaker_state(cache) == "closed":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the breaker never closed")


async def serves_a_hit(llm: Callable[..., Awaitable[Any]], tag: str) -> None:
    """The cache answers ``tag`` from a stored entry. Under load a store can be skipped (its
    lookup timed out), so the question is asked again, a bounded number of times."""
    for _ in range(20):
        if cache_info(await llm(**chat(tag))).get("cache_hit") is True:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cache never served {tag!r} from a stored entry")


async def serving_or_open(cache: Cache, llm: Callable[..., Awaitable[Any]]) -> bool:
    """Whether, while a writer holds the disk, the breaker opened or stored entries are still
    read (SQLite's write-ahead log lets readers go on beside a stalled writer, and writes fail
    within the deadline, so the breaker need not open)."""
    if breaker_state(cache) == "open":
        return True
    return cache_info(await llm(**chat("warm-1"))).get("cache_hit") is True


async def breaker_opened(cache: Cache, llm: Callable[..., Awaitable[Any]]) -> bool:
    return breaker_state(cache) == "open"


async def outage_run(
    cache: Cache,
    echo: Echo,
    pause: Callable[[], None],
    resume: Callable[[], None],
    degraded: Callable[[Cache, Callable[..., Awaitable[Any]]], Awaitable[bool]] = breaker_opened,
) -> None:
    llm = cache.cached(echo.acompletion)
    try:
        await run_round(llm, "warm")
        await wait_until_closed(cache, llm)  # a slow store may have tripped it while warming
        await serves_a_hit(llm, "warm-1")
        upstream_before = echo.calls
        pause()
        try:
            for round_ in range(3):
                durations = await run_round(llm, f"down{round_}")
                assert max(durations) <= BOUND, f"a call took {max(durations):.3f} s"
            assert await degraded(cache, llm)
            assert echo.calls > upstream_before
        finally:
            resume()
        await wait_until_closed(cache, llm)
        await run_round(llm, "after")
        await serves_a_hit(llm, "after-3")
    finally:
        await cache.async_disconnect()


async def test_redis_paused_with_sigstop(redis_down_and_up: RedisServer, echo: Echo) -> None:
    cache = Cache(
        type="redis",
        url=redis_down_and_up.url,
        namespace=uuid.uuid4().hex[:8],
        backend_deadline=DEADLINE,
        circuit_breaker=BREAKER,
    )
    process = redis_down_and_up.process
    await outage_run(cache, echo, process.pause, process.resume)


async def test_redis_killed_and_restarted_on_its_port(tmp_path: Path, echo: Echo) -> None:
    server = start_redis(tmp_path / "first")
    port = server.port
    servers = [server]
    cache = Cache(
        type="redis",
        url=server.url,
        namespace="restart",
        backend_deadline=DEADLINE,
        circuit_breaker=BREAKER,
        socket_timeout=DEADLINE,
    )

    def kill() -> None:
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.process.wait()

    def restart() -> None:
        servers.append(start_redis(tmp_path / "second", port=port))

    try:
        await outage_run(cache, echo, kill, restart)
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[S3Server]:
    server = start_s3(tmp_path / "s3")
    try:
        yield server
    finally:
        server.process.resume()
        server.stop()


async def test_s3_paused_with_sigstop(own_s3: S3Server, echo: Echo) -> None:
    cache = Cache(
        type="s3",
        **own_s3.cache_params(),
        backend_deadline=DEADLINE,
        circuit_breaker=BREAKER,
        namespace="outage",
    )
    process = own_s3.process
    await outage_run(cache, echo, process.pause, process.resume)


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(120)
"""


async def test_disk_held_by_a_stalled_writer_process(tmp_path: Path, echo: Echo) -> None:
    cache = Cache(
        type="disk",
        disk_cache_dir=tmp_path / "disk",
        timeout=0.5,
        backend_deadline=DEADLINE,
        circuit_breaker=BREAKER,
    )
    lockers: list[subprocess.Popen[bytes]] = []

    def stall() -> None:
        """Another process takes the write lock, then is frozen holding it."""
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(tmp_path / "disk" / "cache.sqlite3")],
            stdout=subprocess.PIPE,
        )
        lockers.append(locker)
        assert locker.stdout is not None and locker.stdout.readline() == b"locked\n"
        os.kill(locker.pid, signal.SIGSTOP)

    def kill() -> None:
        for locker in lockers:
            os.kill(locker.pid, signal.SIGKILL)
            locker.wait()
            assert locker.stdout is not None
            locker.stdout.close()

    try:
        await outage_run(cache, echo, stall, kill, serving_or_open)
    finally:
        kill() if any(locker.poll() is None for locker in lockers) else None
        await cache.async_disconnect()
