"""stale-if-error and stale-while-revalidate: entries are kept a grace window past their ttl;
an expired entry is served, flagged stale, when the upstream fails, or at once while one
caller refreshes it in the background."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from aiocache_llm.errors import InvalidControlError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent

from .conftest import Echo, chat, text_of

TTL = 0.2


def hidden(answer: Any) -> dict[str, Any]:
    params = getattr(answer, "_hidden_params", None)
    return params if isinstance(params, dict) else {}


async def expire() -> None:
    await asyncio.sleep(TTL * 1.5)


async def test_stale_if_error_serves_the_expired_entry_when_the_upstream_fails(
    echo: Echo,
) -> None:
    cache = Cache(type="local", ttl=TTL, stale_if_error=30)
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.fail = True
    answer = await llm(**chat("q"))
    assert text_of(answer) == "None asked: q"
    assert hidden(answer)["stale"] is True and hidden(answer)["cache_hit"] is True
    assert (events[-1].kind, events[-1].reason) == ("hit", "stale-if-error")
    assert cache.events.counters["stale_hit"] == 1


async def test_an_expired_entry_is_a_miss_while_the_upstream_answers(echo: Echo) -> None:
    cache = Cache(type="local", ttl=TTL, stale_if_error=30)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.version = " v2"
    answer = await llm(**chat("q"))
    assert text_of(answer) == "None asked: q v2" and not hidden(answer).get("stale")


async def test_without_stale_if_error_an_upstream_failure_is_raised(echo: Echo) -> None:
    cache = Cache(type="local", ttl=TTL)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.fail = True
    with pytest.raises(RuntimeError, match="upstream unavailable"):
        await llm(**chat("q"))


async def test_past_the_grace_window_nothing_stale_is_served(echo: Echo) -> None:
    cache = Cache(type="local", ttl=TTL, stale_if_error=0.05)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.fail = True
    with pytest.raises(RuntimeError):
        await llm(**chat("q"))


async def test_stale_while_revalidate_answers_at_once_and_one_caller_refreshes() -> None:
    echo = Echo(latency=0.05)
    cache = Cache(type="local", ttl=TTL, stale_while_revalidate=30)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.version = " v2"
    answers = await asyncio.gather(*(llm(**chat("q")) for _ in range(20)))
    assert {text_of(a) for a in answers} == {"None asked: q"}
    assert all(hidden(a)["stale"] for a in answers)
    await cache.handler.drain()
    assert echo.calls == 2  # the first call and one background refresh
    fresh = await llm(**chat("q"))
    assert text_of(fresh) == "None asked: q v2" and not hidden(fresh).get("stale")


async def test_a_failed_background_refresh_keeps_serving_the_stale_answer(echo: Echo) -> None:
    cache = Cache(type="local", ttl=TTL, stale_while_revalidate=30)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.fail = True
    assert hidden(await llm(**chat("q")))["stale"] is True
    await cache.handler.drain()
    assert hidden(await llm(**chat("q")))["stale"] is True


async def test_a_stale_streamed_answer_is_replayed_as_a_stream(echo: Echo) -> None:
    cache = Cache(type="local", ttl=TTL, stale_while_revalidate=30)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    stream = await llm(**chat("q", stream=True))
    chunks = [chunk async for chunk in stream]
    assert chunks and stream._hidden_params["stale"] is True
    await cache.handler.drain()


async def test_the_controls_turn_it_on_per_call(echo: Echo) -> None:
    cache = Cache(type="local")
    llm = cache.cached(echo.acompletion)
    controls = {"ttl": TTL, "stale-if-error": 30}
    await llm(**chat("q"), cache=controls)
    await expire()
    echo.fail = True
    assert hidden(await llm(**chat("q"), cache=controls))["stale"] is True
    with pytest.raises(RuntimeError):  # and "0" turns it off for a call
        await llm(**chat("q"), cache={"stale-if-error": 0})


@pytest.mark.parametrize(
    "controls",
    [{"stale-if-error": -1}, {"stale-if-error": "1m"}, {"stale-while-revalidate": True}],
)
async def test_bad_stale_controls_are_refused_before_upstream(
    echo: Echo, controls: dict[str, Any]
) -> None:
    with pytest.raises(InvalidControlError):
        await Cache(type="local").cached(echo.acompletion)(**chat("q"), cache=controls)
    assert echo.calls == 0


async def test_redis_keeps_the_entry_for_the_grace_window(redis_url: str, echo: Echo) -> None:
    cache = Cache(
        type="redis",
        url=redis_url,
        namespace=uuid.uuid4().hex[:8],
        ttl=TTL,
        stale_if_error=30,
    )
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.fail = True
    assert hidden(await llm(**chat("q")))["stale"] is True
    await cache.async_disconnect()


async def test_a_disconnect_during_a_background_refresh_lets_it_end_first() -> None:
    echo = Echo(latency=0.3)
    cache = Cache(type="local", ttl=TTL, stale_while_revalidate=30)
    llm = cache.cached(echo.acompletion)
    await llm(**chat("q"))
    await expire()
    echo.version = " v2"
    assert hidden(await llm(**chat("q")))["stale"] is True  # a refresh is under way
    await cache.async_disconnect()
    assert not cache.handler._tasks  # nothing left to store (and reconnect) afterwards
    assert echo.calls == 2
    assert text_of(await llm(**chat("q"))) == "None asked: q v2"
