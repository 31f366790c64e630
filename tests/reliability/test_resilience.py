"""Deadlines, the circuit breaker and the failure policy, against a real redis-server that is
paused (SIGSTOP) and resumed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiocache_llm import BackendTimeout, BackendUnavailable
from aiocache_llm.middleware.builders import CircuitBreaker, GuardedCache, RateLimitedLog
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer, start_redis
from tests.timing import ManualClock, eventually, own_time


def test_the_breaker_opens_after_consecutive_failures_and_probes_once_when_half_open() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, recovery_time=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 10
    assert breaker.state == "half_open"
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # nobody else while it is out
    breaker.record_failure()
    assert breaker.state == "open" and breaker.times_opened == 2
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_failure_logs_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), interval=60)
    with caplog.at_level(logging.WARNING, logger="test.ratelimit"):
        for _ in range(100):
            log.warning("backend failed: %s", "BackendTimeout")
    assert len(caplog.records) == 1


@pytest.fixture
def paused_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.process.resume()
        server.stop()


@pytest.fixture
def clock() -> ManualClock:
    """The breaker's clock: recovery happens when the test moves it, however slow the machine."""
    return ManualClock()


@pytest.fixture
async def guarded(paused_server: RedisServer, clock: ManualClock) -> AsyncIterator[GuardedCache]:
    inner = RedisCache(url=paused_server.url, namespace=uuid.uuid4().hex[:8], env={})
    await inner.async_set_cache("k", "v")  # set up (and connected) outside the deadline
    cache = GuardedCache(
        inner,
        deadline=0.2,
        breaker=CircuitBreaker(failure_threshold=3, recovery_time=0.5, clock=clock),
    )
    yield cache
    paused_server.process.resume()
    await cache.async_disconnect()


async def test_with_the_server_paused_reads_miss_within_the_deadline_then_the_breaker_opens(
    guarded: GuardedCache, paused_server: RedisServer
) -> None:
    paused_server.process.pause()
    for _ in range(3):
        started = own_time()
        assert await guarded.async_get_cache("k") is None
        assert own_time() - started < 0.2 * 1.5
    assert guarded.breaker.state == "open"
    for _ in range(100):
        assert await guarded.async_get_cache("k") is None
    assert guarded.guard_stats.skipped_open == 100
    assert guarded.guard_stats.timeouts == 3
    report = await guarded.async_test_connection()
    assert report["circuit_breaker"]["state"] == "open"


async def test_after_the_server_resumes_a_probe_closes_the_breaker(
    guarded: GuardedCache, paused_server: RedisServer, clock: ManualClock
) -> None:
    paused_server.process.pause()
    for _ in range(3):
        await guarded.async_get_cache("k")
    assert guarded.breaker.state == "open"
    paused_server.process.resume()
    clock.now += 0.4  # before the recovery time: no probe, the backend is skipped
    assert await guarded.async_get_cache("k") is None
    assert guarded.guard_stats.skipped_open == 1 and guarded.breaker.state == "open"

    async def probed_and_closed() -> object:
        clock.now += 0.5  # the recovery time has passed: the next call is the probe
        value = await guarded.async_get_cache("k")  # a probe slower than the deadline on a
        return value if guarded.breaker.state == "closed" else None  # busy machine: again

    assert await eventually(probed_and_closed, what="a probe closing the breaker") == "v"


async def test_fail_closed_raises_the_typed_error(paused_server: RedisServer) -> None:
    inner = RedisCache(url=paused_server.url, namespace="closed", env={})
    cache = GuardedCache(inner, policy="fail_closed", deadline=0.2)
    paused_server.process.pause()
    with pytest.raises(BackendTimeout):
        await cache.async_get_cache("k")
    paused_server.process.resume()
    await cache.async_disconnect()


async def test_a_failed_increment_raises_even_when_failing_open(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "gone")
    inner = RedisCache(url=server.url, namespace="n", socket_timeout=0.3, env={})
    cache = GuardedCache(inner, deadline=0.5)
    server.stop()
    assert await cache.async_get_cache("k") is None  # a read fails open
    with pytest.raises(BackendUnavailable):
        await cache.async_increment("n", 1)
    await cache.async_disconnect()


async def test_the_breaker_opening_and_closing_are_one_line_each(
    guarded: GuardedCache,
    paused_server: RedisServer,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="aiocache_llm"):
        paused_server.process.pause()
        for _ in range(10):
            await guarded.async_get_cache("k")
        assert guarded.breaker.state == "open"
        paused_server.process.resume()

        async def closed() -> object:
            clock.now += 0.5
            await guarded.async_get_cache("k")
            return guarded.breaker.state == "closed" or None

        await eventually(closed, what="a probe closing the breaker")
    events = [getattr(r, "event", "?") for r in caplog.records]
    assert events.count("breaker_opened") == 1
    assert events.count("breaker_closed") == 1
    assert events.count("backend_failed") == 1  # ten failed reads: one line
