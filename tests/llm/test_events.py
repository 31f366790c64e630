"""Every lookup emits an event to callbacks and counters; a hit says so on the answer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent
from tests.harness.upstream import Upstream

from ._support import ask


async def test_a_miss_then_a_hit_emit_miss_store_and_hit(cache: Cache, client: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    assert [e.kind for e in events] == ["miss", "store", "hit"]
    assert len({e.key for e in events}) == 1
    assert all(e.call_type == "acompletion" and e.backend == "memory" for e in events)
    assert all(e.latency >= 0 for e in events)


async def test_a_hit_reports_the_tokens_it_saved(cache: Cache, client: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    first = await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    assert events[-1].tokens_saved == first.usage.total_tokens > 0
    assert cache.events.counters["tokens_saved"] == first.usage.total_tokens


async def test_async_callbacks_receive_events(cache: Cache, client: Any) -> None:
    seen: list[str] = []

    async def record(event: CacheEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.kind)

    cache.add_callback(record)
    await client.chat.completions.create(model="m", messages=ask())
    await cache.events.drain()
    assert seen == ["miss", "store"]


async def test_counters_count_without_any_callback(cache: Cache, client: Any) -> None:
    for _ in range(3):
        await client.chat.completions.create(model="m", messages=ask())
    counters = cache.events.counters
    assert (counters["miss"], counters["store"], counters["hit"]) == (1, 1, 2)


async def test_a_skipped_call_emits_skip(cache: Cache, client: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    await client.chat.completions.create(model="m", messages=ask(), caching=False)
    assert [(e.kind, e.reason) for e in events] == [("skip", "disabled")]


async def test_a_callback_that_raises_does_not_fail_the_call(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    def broken(event: CacheEvent) -> None:
        raise RuntimeError("callback bug")

    cache.add_callback(broken)
    answer = await client.chat.completions.create(model="m", messages=ask())
    assert answer.choices[0].message.content
    cache.events.remove_callback(broken)
    assert cache.events.listening is False


async def test_an_embedding_partial_hit_is_a_hit_with_a_reason(cache: Cache, client: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    await client.embeddings.create(model="e", input=["a"])
    await client.embeddings.create(model="e", input=["a", "b"])
    assert [(e.kind, e.reason) for e in events if e.kind != "store"] == [
        ("miss", None),
        ("hit", "partial"),
    ]
