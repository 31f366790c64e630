"""Anthropic Messages through a wrapped ``AsyncAnthropic`` / ``Anthropic`` client: hits are the
SDK's ``Message``; a streamed hit replays the SDK's raw events event for event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import Message, RawMessageStopEvent

from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.responses import CachedDict, cache_info
from tests.harness.upstream import Upstream

TOOLS: list[dict[str, Any]] = [
    {
        "name": "lookup",
        "description": "Look something up.",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]


def ask(text: str = "What is the capital of France?") -> dict[str, Any]:
    return {
        "model": "claude-test",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
    }


@pytest.fixture
async def anthropic_client(llm_upstream: Upstream) -> AsyncIterator[Any]:
    """An uncached ``AsyncAnthropic`` client talking to the stand-in upstream."""
    async with anthropic.AsyncAnthropic(
        base_url=llm_upstream.url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def blocking_anthropic_client(llm_upstream: Upstream) -> Iterator[Any]:
    with anthropic.Anthropic(base_url=llm_upstream.url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def claude(cache: Cache, anthropic_client: Any) -> Any:
    return cache.wrap_anthropic(anthropic_client)


async def _events(stream: Any) -> list[Any]:
    return [event async for event in stream]


def _same_events(miss: list[Any], hit: list[Any]) -> None:
    assert [type(e) for e in hit] == [type(e) for e in miss]
    assert [e.model_dump() for e in hit] == [e.model_dump() for e in miss]


async def test_a_repeated_message_is_a_hit_of_the_sdks_type(
    claude: Any, llm_upstream: Upstream
) -> None:
    first = await claude.messages.create(**ask())
    hit = await claude.messages.create(**ask())
    assert type(hit) is Message
    assert hit.model_dump() == first.model_dump()
    assert hit.content[0].text == "echo: What is the capital of France?"
    assert cache_info(first)["cache_hit"] is False
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls("messages") == 1


async def test_a_streamed_message_replays_event_for_event(
    claude: Any, llm_upstream: Upstream
) -> None:
    miss = await _events(await claude.messages.create(**ask(), stream=True))
    hit = await _events(await claude.messages.create(**ask(), stream=True))
    _same_events(miss, hit)
    assert hit[0].type == "message_start"
    assert isinstance(hit[-1], RawMessageStopEvent)
    assert llm_upstream.calls("messages") == 1


async def test_a_streamed_tool_use_replays_and_serves_a_plain_call(
    claude: Any, llm_upstream: Upstream
) -> None:
    miss = await _events(await claude.messages.create(**ask("cats"), tools=TOOLS, stream=True))
    hit = await _events(await claude.messages.create(**ask("cats"), tools=TOOLS, stream=True))
    _same_events(miss, hit)
    plain = await claude.messages.create(**ask("cats"), tools=TOOLS)
    assert type(plain) is Message
    assert plain.stop_reason == "tool_use"
    assert plain.content[0].input == {"query": "cats"}
    assert plain.usage.output_tokens == miss[-2].usage.output_tokens
    assert llm_upstream.calls("messages") == 1


async def test_a_plain_message_serves_a_stream_that_folds_back_into_it(
    claude: Any, llm_upstream: Upstream
) -> None:
    plain = await claude.messages.create(**ask())
    events = await _events(await claude.messages.create(**ask(), stream=True))
    assert llm_upstream.calls("messages") == 1
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == plain.content[0].text
    assert events[-2].delta.stop_reason == plain.stop_reason


async def test_spellings_and_defaults_share_one_entry_and_limits_do_not(
    claude: Any, llm_upstream: Upstream
) -> None:
    await claude.messages.create(**ask(), system="Be brief.")
    same = [
        {"system": [{"type": "text", "text": "Be brief."}]},
        {"system": "Be brief.", "temperature": 1.0, "metadata": {"user_id": "u-1"}},
    ]
    for kwargs in same:
        assert cache_info(await claude.messages.create(**ask(), **kwargs))["cache_hit"] is True
    block = [
        {"role": "user", "content": [{"type": "text", "text": ask()["messages"][0]["content"]}]}
    ]
    as_blocks = {**ask(), "messages": block}
    assert cache_info(await claude.messages.create(**as_blocks, system="Be brief."))["cache_hit"]
    shorter = await claude.messages.create(**{**ask(), "max_tokens": 8}, system="Be brief.")
    assert cache_info(shorter)["cache_hit"] is False
    assert llm_upstream.calls("messages") == 2


async def test_message_events_name_their_call_type_and_tokens(cache: Cache, claude: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    first = await claude.messages.create(**ask())
    await claude.messages.create(**ask())
    assert [(e.kind, e.call_type) for e in events] == [
        ("miss", "aanthropic_messages"),
        ("store", "aanthropic_messages"),
        ("hit", "aanthropic_messages"),
    ]
    assert events[-1].tokens_saved == first.usage.input_tokens + first.usage.output_tokens


async def test_a_streamed_hit_reports_input_and_output_tokens(cache: Cache, claude: Any) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    miss = await _events(await claude.messages.create(**ask(), stream=True))
    await _events(await claude.messages.create(**ask(), stream=True))
    used = miss[0].message.usage.input_tokens + miss[-2].usage.output_tokens
    assert events[-1].kind == "hit"
    assert events[-1].tokens_saved == used > 0


def test_the_blocking_client_caches_messages_and_streams(
    blocking_anthropic_client: Any, llm_upstream: Upstream
) -> None:
    claude = Cache().wrap_anthropic(blocking_anthropic_client)
    miss = list(claude.messages.create(**ask(), stream=True))
    hit = list(claude.messages.create(**ask(), stream=True))
    _same_events(miss, hit)
    assert type(claude.messages.create(**ask())) is Message
    assert llm_upstream.calls("messages") == 1


async def test_the_stream_helper_passes_through_and_says_why(
    cache: Cache, claude: Any, llm_upstream: Upstream
) -> None:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    async with claude.messages.stream(**ask()) as stream:
        text = await stream.get_final_text()
    assert text == "echo: What is the capital of France?"
    assert [(e.kind, e.call_type) for e in events] == [("skip", "aanthropic_messages")]
    assert "create(stream=True)" in (events[0].reason or "")
    assert llm_upstream.calls("messages") == 1


async def test_everything_else_is_the_clients_own(claude: Any, anthropic_client: Any) -> None:
    assert claude.models is anthropic_client.models
    assert claude.messages.count_tokens == anthropic_client.messages.count_tokens


def sse_client(upstream: Upstream) -> Any:
    """``anthropic_messages(**kwargs)`` as LiteLLM's: a plain call answers the message as a
    dict, a streamed one yields the raw SSE frames (bytes) as they arrive."""

    async def anthropic_messages(**kwargs: Any) -> Any:
        url = upstream.url + "/v1/messages"
        if not kwargs.get("stream"):
            async with httpx.AsyncClient() as http:
                return (await http.post(url, json=kwargs)).json()

        async def frames() -> AsyncIterator[bytes]:
            async with httpx.AsyncClient() as http, http.stream("POST", url, json=kwargs) as r:
                frame: list[str] = []
                async for line in r.aiter_lines():
                    if line:
                        frame.append(line)
                    elif frame:
                        yield ("\n".join(frame) + "\n\n").encode()
                        frame = []

        return frames()

    return anthropic_messages


async def test_a_stream_of_raw_sse_frames_replays_byte_for_byte(llm_upstream: Upstream) -> None:
    messages = cached(sse_client(llm_upstream), cache=Cache(), call_type="aanthropic_messages")
    miss = await _events(await messages(**ask(), stream=True))
    hit = await _events(await messages(**ask(), stream=True))
    assert all(type(frame) is bytes for frame in hit)
    assert hit == miss and miss[0].startswith(b"event: message_start")
    assert llm_upstream.calls("messages") == 1
    plain = await messages(**ask())
    assert type(plain) is CachedDict and cache_info(plain)["cache_hit"] is True
    assert llm_upstream.calls("messages") == 1
    async with httpx.AsyncClient() as http:
        upstream_answer = (await http.post(llm_upstream.url + "/v1/messages", json=ask())).json()
    del plain["id"], upstream_answer["id"]  # the stand-in's ids differ for a streamed request
    assert plain == upstream_answer
