"""The library's logs: one line per failure kind per interval, one per state change, and a
structured (JSON lines) form with the facts as fields."""

from __future__ import annotations

import io
import logging
from typing import Any

import orjson
import pytest

from aiocache_llm import Cache, InMemoryCache
from aiocache_llm.core.logs import JsonFormatter, RateLimitedLog, use_json_logs
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.timing import ManualClock


async def answer(**kwargs: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "x"}}]}


def events_of(records: list[logging.LogRecord]) -> list[str]:
    return [getattr(r, "event", "?") for r in records if r.name.startswith("aiocache_llm")]


async def test_ten_calls_with_redis_down_log_each_kind_of_news_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = Cache(type="redis", host="127.0.0.1", port=1, backend_deadline=0.5)
    fn = cache.cached(answer)
    try:
        with caplog.at_level(logging.WARNING, logger="aiocache_llm"):
            for i in range(10):
                await fn(model="m", messages=[{"role": "user", "content": str(i % 2)}])
    finally:
        await cache.async_disconnect()
    events = events_of(caplog.records)
    assert events.count("cache_failed") == 1  # the first failure: one line, from one place
    assert len(events) == len(set(events)), events  # nothing said twice
    assert set(events) <= {"cache_failed", "breaker_opened", "subscription_lost"}
    first = next(r for r in caplog.records if getattr(r, "event", None) == "cache_failed")
    assert first.operation == "lookup" and first.backend == "redis"  # type: ignore[attr-defined]


def test_a_rate_limited_line_says_how_many_were_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    log = RateLimitedLog(logging.getLogger("aiocache_llm.test"), interval=60)
    log_time = "aiocache_llm.core.logs.time.monotonic"
    with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.WARNING):
        patch.setattr(log_time, clock)
        for _ in range(5):
            log.warning("it failed", extra={"event": "x"})
        clock.now += 61
        log.warning("it failed", extra={"event": "x"})
    first, second = caplog.records
    assert first.suppressed == 0 and second.suppressed == 4  # type: ignore[attr-defined]
    assert second.getMessage() == "it failed (and 4 more like it)"


def test_json_lines_carry_the_extra_fields() -> None:
    stream = io.StringIO()
    handler = use_json_logs(stream=stream)
    try:
        logging.getLogger("aiocache_llm.test").warning(
            "the %s backend failed", "redis", extra={"event": "cache_failed", "backend": "redis"}
        )
    finally:
        logging.getLogger("aiocache_llm").removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    record = orjson.loads(line)
    assert record["message"] == "the redis backend failed"
    assert record["level"] == "warning" and record["logger"] == "aiocache_llm.test"
    assert record["event"] == "cache_failed" and record["backend"] == "redis"
    assert record["time"].endswith("Z")


def test_an_exception_is_one_json_field() -> None:
    record = logging.LogRecord("aiocache_llm.x", logging.ERROR, __file__, 1, "boom", (), None)
    try:
        raise ValueError("inner")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: inner" in line["exception"]


async def test_a_redis_read_failure_is_worded_by_the_store_not_by_its_layer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A user who asked for Redis reads "Redis read failed", never "L2 read failed"."""
    l2 = RedisCache(host="127.0.0.1", port=1, socket_timeout=0.5, env={})
    cache = DualCache(InMemoryCache(), l2)
    try:
        with caplog.at_level(logging.WARNING, logger="aiocache_llm"):
            assert await cache.async_get_cache("k") is None  # failed open: a miss
    finally:
        await cache.async_disconnect()
    lines = [r for r in caplog.records if r.name.startswith("aiocache_llm")]
    assert not [r.getMessage() for r in lines if "L2" in r.getMessage()]
    (read,) = [r for r in lines if getattr(r, "event", None) == "l2_failed"]
    assert read.getMessage().startswith("Redis read failed (")
    assert read.operation == "read" and read.error == "BackendUnavailable"  # type: ignore[attr-defined]
