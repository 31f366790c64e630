"""The OpenAI Responses API through a wrapped client: plain and streamed calls are cached, a
streamed hit replays the SDK's own event types event for event."""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI, OpenAI
from openai.types.responses import Response, ResponseCompletedEvent

from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]


async def _events(stream: Any) -> list[Any]:
    return [event async for event in stream]


def _same_events(miss: list[Any], hit: list[Any]) -> None:
    assert [type(e) for e in hit] == [type(e) for e in miss]
    assert [e.model_dump() for e in hit] == [e.model_dump() for e in miss]


async def test_a_repeated_response_is_a_hit_of_the_sdks_type(
    client: Any, llm_upstream: Upstream
) -> None:
    first = await client.responses.create(model="m", input="What is the capital of France?")
    hit = await client.responses.create(model="m", input="What is the capital of France?")
    assert type(hit) is Response
    assert hit.output_text == first.output_text == "echo: What is the capital of France?"
    assert hit.model_dump() == first.model_dump()
    assert cache_info(first)["cache_hit"] is False
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls("responses") == 1


async def test_a_streamed_response_replays_event_for_event(
    client: Any, llm_upstream: Upstream
) -> None:
    miss = await _events(await client.responses.create(model="m", input="hi there", stream=True))
    hit = await _events(await client.responses.create(model="m", input="hi there", stream=True))
    _same_events(miss, hit)
    assert [e.type for e in hit][:2] == ["response.created", "response.in_progress"]
    assert "".join(e.delta for e in hit if e.type == "response.output_text.delta") == (
        "echo: hi there"
    )
    assert llm_upstream.calls("responses") == 1


async def test_a_streamed_function_call_replays_event_for_event(
    client: Any, llm_upstream: Upstream
) -> None:
    kwargs: dict[str, Any] = {"model": "m", "input": "find cats", "tools": TOOLS, "stream": True}
    miss = await _events(await client.responses.create(**kwargs))
    hit = await _events(await client.responses.create(**kwargs))
    _same_events(miss, hit)
    assert "response.function_call_arguments.delta" in [e.type for e in hit]
    assert llm_upstream.calls("responses") == 1


async def test_a_stream_serves_a_plain_call_with_its_final_response(
    client: Any, llm_upstream: Upstream
) -> None:
    events = await _events(await client.responses.create(model="m", input="hi", stream=True))
    plain = await client.responses.create(model="m", input="hi")
    assert type(plain) is Response
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert plain.model_dump() == events[-1].response.model_dump()
    assert llm_upstream.calls("responses") == 1


async def test_a_plain_response_serves_a_stream_of_sdk_events(
    client: Any, llm_upstream: Upstream
) -> None:
    plain = await client.responses.create(model="m", input="hi", tools=TOOLS)
    replayed = await _events(await client.responses.create(model="m", input="hi", stream=True))
    assert llm_upstream.calls("responses") == 2  # tools change the answer: a miss
    streamed = await _events(
        await client.responses.create(model="m", input="hi", tools=TOOLS, stream=True)
    )
    assert llm_upstream.calls("responses") == 2
    assert isinstance(streamed[-1], ResponseCompletedEvent)
    assert streamed[-1].response.model_dump() == plain.model_dump()
    arguments = "".join(e.delta for e in streamed if e.type.endswith("arguments.delta"))
    assert arguments == plain.output[0].arguments
    assert [e.sequence_number for e in streamed] == list(range(len(streamed)))
    assert replayed[-1].response.output_text == "echo: hi"


async def test_input_spellings_and_defaults_share_one_entry(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.responses.create(model="m", input="hello")
    same = [
        {"input": [{"role": "user", "content": "hello"}]},
        {"input": [{"type": "message", "role": "user", "content": "hello"}]},
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}]},
        {"input": "hello", "temperature": 1.0, "truncation": "disabled", "store": False},
        {"input": "hello", "metadata": {"trace": "abc"}, "user": "u-1"},
    ]
    for kwargs in same:
        assert cache_info(await client.responses.create(model="m", **kwargs))["cache_hit"]
    other = await client.responses.create(model="m", input="hello", temperature=0)
    assert cache_info(other)["cache_hit"] is False
    instructed = await client.responses.create(model="m", input="hello", instructions="Be brief.")
    assert cache_info(instructed)["cache_hit"] is False
    assert llm_upstream.calls("responses") == 3


async def test_responses_events_name_their_call_type(cache: Cache, client: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    first = await client.responses.create(model="m", input="hi")
    await client.responses.create(model="m", input="hi")
    assert [(e.kind, e.call_type) for e in events] == [
        ("miss", "aresponses"),
        ("store", "aresponses"),
        ("hit", "aresponses"),
    ]
    assert events[-1].tokens_saved == first.usage.total_tokens > 0


def test_the_blocking_client_caches_responses_and_streams(
    blocking_openai_client: OpenAI, llm_upstream: Upstream
) -> None:
    client = Cache().wrap_openai(blocking_openai_client)
    miss = list(client.responses.create(model="m", input="hi", stream=True))
    hit = list(client.responses.create(model="m", input="hi", stream=True))
    _same_events(miss, hit)
    plain = client.responses.create(model="m", input="hi")
    assert type(plain) is Response and cache_info(plain)["cache_hit"] is True
    assert llm_upstream.calls("responses") == 1


async def test_cached_with_the_aresponses_call_type_uses_the_cache(
    cache: Cache, openai_client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    create = cached(openai_client.responses.create, cache=cache, call_type="aresponses")
    await create(model="m", input="hi")
    hit = await create(model="m", input="hi")
    assert cache_info(hit)["cache_hit"] is True
    assert "skip" not in [e.kind for e in events]
    assert llm_upstream.calls("responses") == 1


async def test_responses_can_be_left_out_of_the_supported_call_types(
    openai_client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    cache = Cache(supported_call_types=["acompletion"])
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    client = cache.wrap_openai(openai_client)
    await client.responses.create(model="m", input="hi")
    await client.responses.create(model="m", input="hi")
    assert [(e.kind, e.reason) for e in events] == [("skip", "unsupported")] * 2
    assert llm_upstream.calls("responses") == 2


async def test_background_and_conversation_responses_pass_through_and_say_why(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    for _ in range(2):
        await client.responses.create(model="m", input="hi", background=True)
        await client.responses.create(model="m", input="hi", conversation="conv_1")
    assert [e.kind for e in events] == ["skip"] * 4
    assert "background" in (events[0].reason or "")
    assert "conversation" in (events[1].reason or "")
    assert llm_upstream.calls("responses") == 4
    await client.responses.create(model="m", input="hi", background=False)
    assert [e.kind for e in events[4:]] == ["miss", "store"]


async def test_concurrent_identical_streams_share_one_upstream_call(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(chunk_delay=0.02)  # the followers join while the leader streams

    async def streamed() -> list[Any]:
        return await _events(await client.responses.create(model="m", input="hi", stream=True))

    leader, *followers = await asyncio.gather(*(streamed() for _ in range(3)))
    for events in followers:
        _same_events(leader, events)
    plain = await client.responses.create(model="m", input="hi")
    assert plain.model_dump() == leader[-1].response.model_dump()
    assert llm_upstream.calls("responses") == 1
