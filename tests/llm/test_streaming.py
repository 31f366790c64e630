"""Streaming: chunks pass through, complete streams are stored and replayed chunk by chunk."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openai import InternalServerError, OpenAI
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import TOOLS, ask


async def collect(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]


def dumps(chunks: list[Any]) -> list[dict[str, Any]]:
    return [chunk.model_dump() for chunk in chunks]


async def test_a_replayed_stream_equals_the_original_chunk_by_chunk(
    client: Any, llm_upstream: Upstream
) -> None:
    original = await collect(
        await client.chat.completions.create(model="m", messages=ask(), stream=True)
    )
    replay_stream = await client.chat.completions.create(model="m", messages=ask(), stream=True)
    replayed = await collect(replay_stream)
    assert llm_upstream.calls() == 1
    assert len(replayed) == len(original) > 3
    assert all(type(chunk) is ChatCompletionChunk for chunk in replayed)
    assert dumps(replayed) == dumps(original)
    assert cache_info(replay_stream)["cache_hit"] is True


async def test_tool_call_deltas_are_replayed_as_deltas(client: Any) -> None:
    original = await collect(
        await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS, stream=True)
    )
    replayed = await collect(
        await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS, stream=True)
    )
    deltas = [c.choices[0].delta.tool_calls for c in replayed if c.choices]
    assert sum(1 for d in deltas if d) > 2
    assert dumps(replayed) == dumps(original)


async def test_a_usage_chunk_is_replayed_too(client: Any) -> None:
    options = {"include_usage": True}
    original = await collect(
        await client.chat.completions.create(
            model="m", messages=ask(), stream=True, stream_options=options
        )
    )
    replayed = await collect(
        await client.chat.completions.create(
            model="m", messages=ask(), stream=True, stream_options=options
        )
    )
    assert replayed[-1].usage is not None
    assert dumps(replayed) == dumps(original)


async def test_a_stream_is_served_from_a_stored_plain_answer(
    client: Any, llm_upstream: Upstream
) -> None:
    plain = await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS)
    chunks = await collect(
        await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS, stream=True)
    )
    assert llm_upstream.calls() == 1
    assert all(type(chunk) is ChatCompletionChunk for chunk in chunks)
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
    expected = plain.choices[0].message.tool_calls[0]
    assert calls[0].id == expected.id
    assert calls[0].function.arguments == expected.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_a_plain_call_is_served_from_a_stored_stream(
    client: Any, llm_upstream: Upstream
) -> None:
    await collect(await client.chat.completions.create(model="m", messages=ask(), stream=True))
    await collect(
        await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS, stream=True)
    )
    plain = await client.chat.completions.create(model="m", messages=ask())
    tool_answer = await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS)
    assert llm_upstream.calls() == 2
    assert type(plain) is ChatCompletion
    assert plain.choices[0].message.content == "echo: What is the capital of France?"
    call = tool_answer.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup"
    assert call.function.arguments == '{"query": "What is the capital of France?"}'


async def test_a_stream_left_unfinished_is_not_stored(client: Any, llm_upstream: Upstream) -> None:
    llm_upstream.configure(chunk_delay=0.05)
    stream = await client.chat.completions.create(model="m", messages=ask(), stream=True)
    async for _ in stream:
        break
    await stream.aclose()
    llm_upstream.configure(chunk_delay=0)
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_a_stream_that_fails_to_start_is_not_stored(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(fail=1)
    with pytest.raises(InternalServerError):
        await client.chat.completions.create(model="m", messages=ask(), stream=True)
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is False


async def test_a_stream_cut_off_midway_raises_and_is_not_stored(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(break_stream_after=2)
    stream = await client.chat.completions.create(model="m", messages=ask(), stream=True)
    received = []
    with pytest.raises(Exception) as caught:
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    assert "aiocache_llm" not in type(caught.value).__module__
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_concurrent_identical_streams_share_one_upstream_stream(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(chunk_delay=0.02)

    async def one() -> list[Any]:
        return await collect(
            await client.chat.completions.create(model="m", messages=ask(), stream=True)
        )

    results = await asyncio.gather(*(one() for _ in range(5)))
    assert llm_upstream.calls() == 1
    assert all(dumps(r) == dumps(results[0]) for r in results)
    assert len(results[0]) > 3


async def test_text_completion_streams_are_replayed(client: Any, llm_upstream: Upstream) -> None:
    original = await collect(
        await client.completions.create(model="m", prompt="a b c", stream=True)
    )
    replayed = await collect(
        await client.completions.create(model="m", prompt="a b c", stream=True)
    )
    assert all(type(chunk) is Completion for chunk in replayed)
    assert dumps(replayed) == dumps(original)
    plain = await client.completions.create(model="m", prompt="a b c")
    assert plain.choices[0].text == "text: a b c"
    assert llm_upstream.calls("completions") == 1


def test_a_blocking_client_streams_and_replays(
    blocking_openai_client: OpenAI, llm_upstream: Upstream
) -> None:
    client = Cache().wrap_openai(blocking_openai_client)
    original = list(client.chat.completions.create(model="m", messages=ask(), stream=True))
    with client.chat.completions.create(model="m", messages=ask(), stream=True) as stream:
        replayed = list(stream)
    assert dumps(replayed) == dumps(original)
    assert llm_upstream.calls() == 1


async def test_a_plain_call_served_from_a_stored_stream_has_usage(
    client: Any, llm_upstream: Upstream
) -> None:
    await collect(await client.chat.completions.create(model="m", messages=ask(), stream=True))
    plain = await client.chat.completions.create(model="m", messages=ask())
    direct = await client.chat.completions.create(
        model="m", messages=ask(), cache={"no-cache": True, "no-store": True}
    )
    assert cache_info(plain)["cache_hit"] is True
    assert plain.usage is not None and plain.usage == direct.usage


async def test_a_stream_that_did_not_ask_for_usage_gets_no_usage_chunk(client: Any) -> None:
    live = await collect(
        await client.chat.completions.create(model="m", messages=ask(), stream=True)
    )
    replayed = await collect(
        await client.chat.completions.create(model="m", messages=ask(), stream=True)
    )
    for chunks in (live, replayed):
        assert all(chunk.usage is None for chunk in chunks)
        assert all(chunk.choices for chunk in chunks)


async def test_a_stream_asking_for_usage_gets_it_from_a_stored_plain_answer(
    client: Any, llm_upstream: Upstream
) -> None:
    plain = await client.chat.completions.create(model="m", messages=ask())
    chunks = await collect(
        await client.chat.completions.create(
            model="m", messages=ask(), stream=True, stream_options={"include_usage": True}
        )
    )
    assert llm_upstream.calls() == 1
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert all(chunk.usage is None for chunk in chunks[:-1])
