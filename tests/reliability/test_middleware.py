"""The middleware chain: one signature, composed once in a stated order, one stats sink."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm import BackendTimeout, BackendUnavailable, DiskCache, InMemoryCache
from aiocache_llm.middleware import (
    Breaker,
    CallNext,
    CircuitBreaker,
    Deadline,
    Encryption,
    Middleware,
    Operation,
    compose,
)
from aiocache_llm.middleware.builders import EncryptedCache, GuardedCache, generate_key
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.backends.test_store import ClientDown, DictStore, InlineCache
from tests.harness.process import free_port
from tests.timing import ManualClock

pytest.importorskip("cryptography")


class Record(Middleware):
    """Writes down each operation on its way in and its answer on its way out."""

    def __init__(self, name: str, log: list[tuple[str, str, str]]) -> None:
        self.name, self.log = name, log

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        self.log.append((self.name, "in", op.method))
        answer = await call_next(op)
        self.log.append((self.name, "out", op.method))
        return answer


class Down(Middleware):
    """A backend that is down, as the innermost middleware: every operation raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        self.calls += 1
        raise BackendUnavailable("connection refused")


class Hang(Middleware):
    """An operation that never finishes (a paused server, inside the encryption)."""

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        await asyncio.Event().wait()


async def test_compose_runs_the_first_middleware_outermost() -> None:
    log: list[tuple[str, str, str]] = []
    cache = compose(InMemoryCache(), [Record("outer", log), Record("inner", log)])
    await cache.async_set_cache("k", "v")
    assert log == [
        ("outer", "in", "async_set_cache"),
        ("inner", "in", "async_set_cache"),
        ("inner", "out", "async_set_cache"),
        ("outer", "out", "async_set_cache"),
    ]


async def test_a_guarded_encrypted_cache_is_one_chain_breaker_then_deadline_then_encryption() -> (
    None
):
    backend = InMemoryCache()
    guarded = GuardedCache(EncryptedCache(backend, generate_key()))
    assert [type(m) for m in guarded.middlewares] == [Breaker, Deadline, Encryption]
    assert guarded.backend is backend
    assert isinstance(guarded.inner, EncryptedCache)


async def test_the_deadline_covers_what_runs_inside_it() -> None:
    stack = compose(InMemoryCache(), [Breaker(), Deadline(0.05), Hang()])
    assert await stack.async_get_cache("k") is None  # fail open: a miss
    breaker = stack.middlewares[0]
    assert isinstance(breaker, Breaker)
    assert breaker.guard_stats.failures == 1
    strict = compose(InMemoryCache(), [Breaker(policy="fail_closed"), Deadline(0.05), Hang()])
    with pytest.raises(BackendTimeout):
        await strict.async_get_cache("k")


async def test_every_layer_counts_into_the_backends_stats() -> None:
    backend = InMemoryCache()
    stack = compose(backend, [Breaker(), Encryption(generate_key())])
    await backend.async_set_cache("forged", b"not sealed")
    assert await stack.async_get_cache("forged") is None
    assert stack.stats is backend.stats
    assert backend.stats.corrupt_reads == 1
    down = compose(backend, [Breaker(), Down()])
    assert await down.async_get_cache("k") is None
    assert backend.stats.errors == 1
    report = await stack.async_test_connection()
    assert report["stats"]["corrupt_reads"] == 1 and report["stats"]["errors"] == 1


async def test_the_report_says_what_each_middleware_adds() -> None:
    stack = GuardedCache(EncryptedCache(InMemoryCache(), generate_key()), deadline=2.0)
    report = await stack.async_test_connection()
    assert report["status"] == "healthy"
    assert report["deadline"] == 2.0 and report["encrypted"] is True
    assert report["policy"] == "fail_open" and report["circuit_breaker"]["state"] == "closed"


async def test_a_failing_report_is_unhealthy_by_error_type_only() -> None:
    report = await compose(InMemoryCache(), [Down()]).async_test_connection()
    assert report["status"] == "unhealthy" and report["error"] == "BackendUnavailable"


async def test_batch_entries_come_back_decrypted(tmp_path: Path) -> None:
    stack = EncryptedCache(DiskCache(tmp_path / "disk"), generate_key())
    await stack.async_set_cache_pipeline([("a", {"answer": 1}), ("b", "text")], ttl=60)
    a, missing, b = await stack.async_batch_get_entries(["a", "missing", "b"])
    assert a is not None and b is not None
    assert (a.value, missing, b.value) == ({"answer": 1}, None, "text")
    assert b.expires_at is not None


class Publishing(InMemoryCache):
    """A backend with an extra coroutine method, as Redis has ``async_publish``."""

    async def async_announce(self, channel: str, message: str) -> int:
        return len(message)


async def test_a_backends_extra_async_methods_run_through_the_chain() -> None:
    log: list[tuple[str, str, str]] = []
    stack = compose(Publishing(), [Record("only", log)])
    assert await stack.async_announce("c", message="four") == 4
    assert log == [("only", "in", "async_announce"), ("only", "out", "async_announce")]
    assert stack.max_size_in_memory == 200  # anything else is the backend's own


async def test_the_strict_view_raises_and_shares_the_breaker_and_counters() -> None:
    clock = ManualClock()
    down = Down()
    guarded = GuardedCache(
        compose(InMemoryCache(), [down]),
        breaker=CircuitBreaker(failure_threshold=2, recovery_time=5, clock=clock),
    )
    strict = guarded.strict()
    assert await guarded.async_get_cache("k") is None
    with pytest.raises(BackendUnavailable):
        await strict.async_get_cache("k")
    assert guarded.breaker.state == "open" and strict.breaker is guarded.breaker
    assert await guarded.async_get_cache("k") is None  # skipped: the backend is not asked
    assert down.calls == 2 and guarded.guard_stats.skipped_open == 1
    assert guarded.policy == "fail_open" and strict.policy == "fail_closed"


async def test_a_failed_increment_raises_under_fail_open() -> None:
    stack = compose(InMemoryCache(), [Breaker(), Down()])
    with pytest.raises(BackendUnavailable):
        await stack.async_increment("n", 1)
    assert await stack.async_batch_get_cache(["a", "b"]) == [None, None]
    assert await stack.async_ping() is False


def test_the_blocking_api_runs_the_same_chain(tmp_path: Path) -> None:
    log: list[tuple[str, str, str]] = []
    stack = compose(DiskCache(tmp_path / "disk"), [Record("r", log), Encryption(generate_key())])
    stack.set_cache("k", {"v": 1})
    assert stack.get_cache("k") == {"v": 1}
    assert stack.increment_cache("n", 2, refresh_ttl=True) == 2
    assert [m for _, way, m in log if way == "in"] == [
        "async_set_cache",
        "async_get_cache",
        "async_increment",
    ]


def test_changing_the_default_ttl_anywhere_changes_the_backends() -> None:
    backend = InMemoryCache()
    stack = GuardedCache(EncryptedCache(backend, generate_key()))
    stack.default_ttl = 30
    assert backend.default_ttl == 30.0 and stack.default_ttl == 30.0


async def test_a_deadline_of_none_leaves_the_chain_but_still_reports() -> None:
    log: list[tuple[str, str, str]] = []
    stack = compose(InMemoryCache(), [Deadline(None), Record("r", log)])
    await stack.async_set_cache("k", "v")
    assert await stack.async_get_cache("k") == "v"
    assert len(log) == 4
    report = await stack.async_test_connection()
    assert report["deadline"] is None
    assert GuardedCache(InMemoryCache(), deadline=None).deadline is None


async def test_a_store_failure_under_the_breaker_is_counted_once() -> None:
    store = DictStore()
    backend = InlineCache(store)
    store.failure = ClientDown("refused")
    stack = compose(backend, [Breaker()])
    assert await stack.async_get_cache("k") is None
    assert await stack.async_get_cache("k") is None
    assert backend.stats.errors == 2


async def test_an_unreachable_redis_counts_each_failed_call_once_in_every_stack() -> None:
    redis = RedisCache(host="127.0.0.1", port=free_port(), socket_timeout=0.5, env={})
    assert await compose(redis, [Breaker()]).async_get_cache("k") is None
    assert redis.stats.errors == 1
    # not coherent: no subscription whose own (counted) failures would come at their own time
    dual = DualCache(InMemoryCache(), redis, coherent=False, fail_open=False)
    stack = compose(dual, [Breaker()])
    assert await stack.async_get_cache("k") is None  # the L2 read, raised to the breaker
    assert dual.stats.errors == 1
    assert await stack.async_get_cache("k") is None
    assert dual.stats.errors == 2
    await dual.async_disconnect()
