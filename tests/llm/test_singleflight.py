"""Single-flight: concurrent identical misses make one upstream call."""

from __future__ import annotations

import asyncio
from typing import Any

from openai import InternalServerError

from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream
from tests.timing import eventually

from ._support import ask


async def test_fifty_concurrent_identical_misses_make_one_upstream_call(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=0.2)
    answers = await asyncio.gather(
        *(client.chat.completions.create(model="m", messages=ask()) for _ in range(50))
    )
    assert llm_upstream.calls() == 1
    assert len({a.choices[0].message.content for a in answers}) == 1


async def test_waiters_get_their_own_copy_of_the_answer(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=0.1)
    first, second = await asyncio.gather(
        *(client.chat.completions.create(model="m", messages=ask()) for _ in range(2))
    )
    assert first is not second
    assert first.model_dump() == second.model_dump()


async def test_every_waiter_gets_the_error_and_nothing_is_cached(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=0.1, fail=1)
    results = await asyncio.gather(
        *(client.chat.completions.create(model="m", messages=ask()) for _ in range(10)),
        return_exceptions=True,
    )
    assert all(isinstance(r, InternalServerError) for r in results)
    assert llm_upstream.calls() == 1
    answer = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(answer)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_different_requests_are_not_coalesced(client: Any, llm_upstream: Upstream) -> None:
    llm_upstream.configure(latency=0.1)
    await asyncio.gather(
        *(client.chat.completions.create(model="m", messages=ask(f"q{i}")) for i in range(5))
    )
    assert llm_upstream.calls() == 5


async def test_a_plain_call_waits_for_an_identical_stream_in_flight(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(chunk_delay=0.02)

    async def streamed() -> str:
        stream = await client.chat.completions.create(model="m", messages=ask(), stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    text, plain = await asyncio.gather(
        streamed(), client.chat.completions.create(model="m", messages=ask())
    )
    assert plain.choices[0].message.content == text
    assert llm_upstream.calls() == 1


async def test_a_cancelled_leader_lets_waiters_call_upstream_themselves(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=3)  # the leader is still waiting when it is cancelled
    leader = asyncio.create_task(client.chat.completions.create(model="m", messages=ask()))

    async def leader_called() -> bool:
        return await asyncio.to_thread(llm_upstream.calls) == 1

    await eventually(leader_called, what="the leader's request reaching the upstream")
    waiters = [
        asyncio.create_task(client.chat.completions.create(model="m", messages=ask()))
        for _ in range(3)
    ]
    for _ in range(20):  # each waiter runs up to its wait on the flight (no I/O on the way)
        await asyncio.sleep(0)
    await asyncio.to_thread(llm_upstream.configure, latency=0)
    leader.cancel()
    answers = await asyncio.gather(*waiters)
    assert leader.cancelled()
    assert all(a.choices[0].message.content for a in answers)
    assert 2 <= await asyncio.to_thread(llm_upstream.calls) <= 4  # the waiters went themselves


async def test_coalesced_followers_are_hits_in_events_and_metrics(
    cache: Any, client: Any, llm_upstream: Upstream
) -> None:
    events: list[Any] = []
    cache.add_callback(events.append)
    llm_upstream.configure(latency=0.2)
    await asyncio.gather(
        *(client.chat.completions.create(model="m", messages=ask()) for _ in range(100))
    )
    assert llm_upstream.calls() == 1
    lookups = [(e.kind, e.reason) for e in events if e.kind in ("hit", "miss")]
    assert sorted(lookups, key=str) == [("hit", "coalesced")] * 99 + [("miss", None)]
    assert cache.events.counters["miss"] == 1
    assert cache.events.counters["hit"] == 99
    assert cache.events.counters["coalesced_hit"] == 99


async def test_a_coalesced_follower_says_it_was_served_by_the_cache(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=0.1)
    first, second = await asyncio.gather(
        *(client.chat.completions.create(model="m", messages=ask()) for _ in range(2))
    )
    assert cache_info(first)["cache_hit"] is False
    assert cache_info(second)["cache_hit"] is True
