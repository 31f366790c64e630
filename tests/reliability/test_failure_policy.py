"""The Cache facade puts every remote backend behind the guard: a declared failure policy, a
deadline per operation and a circuit breaker whose state callers can see."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.errors import BackendTimeout, BackendUnavailable, ConfigurationError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.middleware.builders import CircuitBreaker, GuardedCache
from aiocache_llm.storage.memory import InMemoryCache
from tests.harness.redis import RedisServer
from tests.timing import ManualClock, eventually

from .conftest import Echo, chat, text_of

BREAKER = {"failure_threshold": 3, "recovery_time": 0.5}


def frozen_breaker() -> CircuitBreaker:
    """A breaker whose clock never moves: once open it stays open, however slow the test."""
    return CircuitBreaker(failure_threshold=3, recovery_time=0.5, clock=ManualClock())


def redis_cache(server: RedisServer, **kwargs: Any) -> Cache:
    kwargs.setdefault("backend_deadline", 0.2)
    kwargs.setdefault("circuit_breaker", BREAKER)
    return Cache(type="redis", url=server.url, namespace=uuid.uuid4().hex[:8], **kwargs)


def test_remote_backends_are_guarded_and_the_in_memory_one_is_not(tmp_path: Path) -> None:
    assert isinstance(Cache(type="disk", disk_cache_dir=tmp_path).guarded, GuardedCache)
    local = Cache(type="local")
    assert isinstance(local.guarded, InMemoryCache)
    assert local.handler.guard is None


@pytest.mark.parametrize(
    "settings",
    [
        {"failure_policy": "fail_sometimes"},
        {"backend_deadline": 0},
        {"backend_deadline": "1s"},
        {"circuit_breaker": {"failure_threshold": 0}},
        {"circuit_breaker": {"threshold": 3}},
        {"circuit_breaker": 3},
        {"stale_if_error": -1},
    ],
)
def test_bad_guard_settings_are_refused(tmp_path: Path, settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Cache(type="disk", disk_cache_dir=tmp_path, **settings)


async def test_fail_closed_raises_the_typed_error_instead_of_calling_upstream(
    redis_down_and_up: RedisServer, echo: Echo
) -> None:
    cache = redis_cache(redis_down_and_up, failure_policy="fail_closed")
    llm = cache.cached(echo.acompletion)
    redis_down_and_up.process.pause()
    with pytest.raises(BackendTimeout):
        await llm(**chat("hello"))
    assert echo.calls == 0
    redis_down_and_up.process.resume()
    await cache.async_disconnect()


async def test_fail_closed_refuses_calls_while_the_breaker_is_open(
    redis_down_and_up: RedisServer, echo: Echo
) -> None:
    cache = redis_cache(
        redis_down_and_up, failure_policy="fail_closed", circuit_breaker=frozen_breaker()
    )
    llm = cache.cached(echo.acompletion)
    redis_down_and_up.process.pause()
    for _ in range(3):
        with pytest.raises(BackendTimeout):
            await llm(**chat("hello"))
    with pytest.raises(BackendUnavailable, match="circuit breaker is open"):
        await llm(**chat("hello"))
    assert echo.calls == 0
    redis_down_and_up.process.resume()
    await cache.async_disconnect()


async def test_an_open_breaker_shows_in_events_counters_and_test_connection(
    redis_down_and_up: RedisServer, echo: Echo
) -> None:
    cache = redis_cache(redis_down_and_up, circuit_breaker=frozen_breaker())
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    llm = cache.cached(echo.acompletion)
    redis_down_and_up.process.pause()
    for i in range(6):
        assert text_of(await llm(**chat(f"q{i}"))) == f"None asked: q{i}"
    assert events[0].kind == "error" and events[0].error == "BackendTimeout"
    assert [(e.kind, e.reason) for e in events[-3:]] == [("skip", "circuit-open")] * 3
    assert cache.events.counters["circuit_open"] == sum(e.kind == "skip" for e in events)
    report = await cache.async_test_connection()
    assert report["circuit_breaker"]["state"] == "open"
    assert report["status"] == "unhealthy" and report["policy"] == "fail_open"
    redis_down_and_up.process.resume()
    await cache.async_disconnect()


async def test_the_cache_resumes_by_itself_once_the_server_is_back(
    redis_down_and_up: RedisServer, echo: Echo
) -> None:
    cache = redis_cache(redis_down_and_up)
    llm = cache.cached(echo.acompletion)
    redis_down_and_up.process.pause()
    for i in range(4):
        await llm(**chat(f"q{i}"))
    assert cache.handler.guard is not None and cache.handler.guard.breaker.state == "open"
    redis_down_and_up.process.resume()

    async def closed_by_a_probe() -> bool:  # a probe slower than the deadline is retried
        await llm(**chat("again"))
        return cache.handler.guard.breaker.state == "closed"  # type: ignore[union-attr]

    async def served_from_the_cache() -> bool:  # a store slower than the deadline is skipped
        return cache_info(await llm(**chat("again")))["cache_hit"] is True

    await eventually(closed_by_a_probe, interval=0.2, what="the breaker closing")
    await eventually(served_from_the_cache, what="a hit after the outage")
    assert (await cache.async_test_connection())["circuit_breaker"]["state"] == "closed"
    await cache.async_disconnect()
