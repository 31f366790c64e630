"""A cache failure never fails the call: it is logged, counted, and the call goes upstream."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.errors import BackendUnavailable, InvalidControlError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.storage.base import USE_DEFAULT, BaseCache, TTLArg
from aiocache_llm.storage.memory import InMemoryCache
from tests.harness.redis import start_redis
from tests.harness.upstream import Upstream

from ._support import ask

HAS_REDIS_BACKEND = importlib.util.find_spec("aiocache_llm.storage.redis") is not None


class RefusingCache(BaseCache):
    """A backend whose every operation fails the way an unreachable server does (a fault
    injector for stores a real server cannot be made to refuse on demand)."""

    backend_name = "refusing"

    async def async_get_cache(self, key: str) -> Any:
        raise BackendUnavailable("connection refused")

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        raise BackendUnavailable("connection refused")

    async def async_batch_get_cache(self, keys: Any) -> list[Any]:
        raise BackendUnavailable("connection refused")

    async def async_increment(self, key: str, value: float, ttl: TTLArg = USE_DEFAULT) -> float:
        raise BackendUnavailable("connection refused")

    async def async_delete_cache(self, key: str) -> None:
        raise BackendUnavailable("connection refused")

    async def async_flush_cache(self) -> None:
        raise BackendUnavailable("connection refused")

    async def async_get_ttl(self, key: str) -> float | None:
        raise BackendUnavailable("connection refused")


@pytest.fixture
async def dead_redis_cache(tmp_path: Path) -> AsyncIterator[Cache]:
    """A Redis-backed cache whose server has been stopped."""
    if not HAS_REDIS_BACKEND:
        pytest.skip("the redis backend is not part of this version")
    server = start_redis(tmp_path / "redis")
    port = server.port
    server.stop()
    cache = Cache(type="redis", host="127.0.0.1", port=port, socket_timeout=0.5)
    try:
        yield cache
    finally:
        await cache.async_disconnect()


async def test_a_stopped_redis_server_does_not_fail_the_call(
    dead_redis_cache: Cache, openai_client: Any, llm_upstream: Upstream
) -> None:
    client = dead_redis_cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(model="m", messages=ask())
    second = await client.chat.completions.create(model="m", messages=ask())
    assert first.choices[0].message.content == second.choices[0].message.content
    assert cache_info(second)["cache_hit"] is False
    assert llm_upstream.calls() == 2
    assert dead_redis_cache.events.counters["error"] >= 2


async def test_a_failing_backend_is_counted_and_logged_without_prompt_text(
    openai_client: Any, llm_upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(backend=RefusingCache())
    client = cache.wrap_openai(openai_client)
    caplog.set_level(logging.DEBUG, logger="aiocache_llm")
    answer = await client.chat.completions.create(model="m", messages=ask("my secret plan"))
    assert answer.choices[0].message.content == "echo: my secret plan"
    assert cache.events.counters["error"] == 2  # the lookup and the store
    assert any("BackendUnavailable" in r.getMessage() for r in caplog.records)
    assert not any("secret" in r.getMessage() for r in caplog.records)


async def test_a_failing_backend_does_not_fail_a_stream(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    client = Cache(backend=RefusingCache()).wrap_openai(openai_client)
    stream = await client.chat.completions.create(model="m", messages=ask(), stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: What is the capital of France?"


async def test_a_failing_backend_does_not_fail_embeddings(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    client = Cache(backend=RefusingCache()).wrap_openai(openai_client)
    answer = await client.embeddings.create(model="e", input=["a", "b"])
    assert len(answer.data) == 2


async def test_bad_controls_still_raise_when_the_backend_is_down(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    client = Cache(backend=RefusingCache()).wrap_openai(openai_client)
    with pytest.raises(InvalidControlError):
        await client.chat.completions.create(model="m", messages=ask(), cache={"ttl": "soon"})
    assert llm_upstream.calls() == 0


async def test_a_foreign_value_under_the_key_is_a_miss(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    first = await client.chat.completions.create(model="m", messages=ask())
    await cache.backend.async_set_cache(cache_info(first)["cache_key"], {"not": "an entry"})
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is False
    assert again.choices[0].message.content == first.choices[0].message.content
    assert llm_upstream.calls() == 2


class LaggingCache(RefusingCache):
    """An in-memory store whose lookups and stores answer ``lag`` seconds late, as over a
    congested network (a fault injector: a real server cannot be made to answer late on
    demand)."""

    backend_name = "lagging"

    def __init__(self, lag: float) -> None:
        super().__init__()
        self.lag = lag
        self.store = InMemoryCache()
        self.operations: list[str] = []

    async def async_get_cache(self, key: str) -> Any:
        self.operations.append("get")
        await asyncio.sleep(self.lag)
        return await self.store.async_get_cache(key)

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        self.operations.append("set")
        await asyncio.sleep(self.lag)
        await self.store.async_set_cache(key, value, ttl)


async def test_a_miss_spends_one_deadline_on_the_cache_not_one_per_operation() -> None:
    backend = LaggingCache(lag=0.2)
    cache = Cache(backend=backend, backend_deadline=0.3)
    events: list[Any] = []
    cache.add_callback(events.append)

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"content": "fresh"}, "finish_reason": "stop"}]}

    answer = await cache.cached(acompletion)(model="m", messages=ask())
    assert answer["choices"][0]["message"]["content"] == "fresh"
    # the lookup spent 0.2 s of the 0.3 s budget: the store gets the 0.1 s left and gives up
    assert [(e.kind, e.reason) for e in events if e.kind in ("store", "error")] == [
        ("error", "store")
    ]
    assert await backend.store.async_get_cache(cache_info(answer)["cache_key"]) is None


async def test_fail_closed_never_logs_that_it_calls_upstream(
    openai_client: Any, llm_upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(backend=RefusingCache(), failure_policy="fail_closed")
    client = cache.wrap_openai(openai_client)
    caplog.set_level(logging.DEBUG, logger="aiocache_llm")
    with pytest.raises(BackendUnavailable):
        await client.chat.completions.create(model="m", messages=ask())
    assert llm_upstream.calls() == 0
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("aiocache_llm")]
    assert messages and not any("calling upstream" in m for m in messages)
    assert any("raising" in m for m in messages)
