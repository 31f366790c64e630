"""The variants of a wrapped OpenAI client: with_options and parse are cached; raw-response
views and the stream helper pass through with a ``skip`` event that says why; the blocking twin
of an async client works inside a running event loop."""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletion, ParsedChatCompletion
from pydantic import BaseModel

from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import ask


class Capital(BaseModel):
    city: str


def _record(cache: Cache) -> list[CacheEvent]:
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    return events


async def test_with_options_returns_a_wrapped_client(client: Any, llm_upstream: Upstream) -> None:
    await client.chat.completions.create(model="m", messages=ask())
    tuned = client.with_options(timeout=30, max_retries=1)
    hit = await tuned.chat.completions.create(model="m", messages=ask())
    again = await tuned.with_options(timeout=10).responses.create(model="m", input="hi")
    assert cache_info(hit)["cache_hit"] is True
    assert cache_info(again)["cache_hit"] is False
    assert tuned.timeout == 30
    assert llm_upstream.calls() == 1


async def test_with_raw_response_passes_through_and_says_why(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    events = _record(cache)
    await client.chat.completions.create(model="m", messages=ask())
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=ask())
    top = await client.with_raw_response.chat.completions.create(model="m", messages=ask())
    parsed = await client.with_raw_response.chat.completions.parse(
        model="m", messages=ask(), response_format=Capital
    )
    assert parsed.parse().choices[0].message.parsed == Capital(city="echo: " + ask()[0]["content"])
    assert raw.headers["content-type"].startswith("application/json")
    assert type(top.parse()) is ChatCompletion
    skips = [e for e in events if e.kind == "skip"]
    assert [e.call_type for e in skips] == ["acompletion"] * 3
    assert all("with_raw_response" in (e.reason or "") for e in skips)
    assert llm_upstream.calls() == 4


async def test_with_streaming_response_passes_through_and_says_why(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    events = _record(cache)
    async with client.responses.with_streaming_response.create(model="m", input="hi") as raw:
        body = await raw.parse()
    assert body.output_text == "echo: hi"
    assert [(e.kind, e.call_type) for e in events] == [("skip", "aresponses")]
    assert "with_streaming_response" in (events[0].reason or "")
    assert llm_upstream.calls("responses") == 1


async def test_parse_is_cached_and_a_hit_is_parsed(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    first = await client.chat.completions.parse(
        model="m", messages=ask("capital?"), response_format=Capital
    )
    hit = await client.chat.completions.parse(
        model="m", messages=ask("capital?"), response_format=Capital
    )
    assert isinstance(hit, ParsedChatCompletion)
    assert hit.choices[0].message.parsed == first.choices[0].message.parsed
    assert hit.choices[0].message.parsed == Capital(city="echo: capital?")
    assert cache_info(first)["cache_hit"] is False
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls() == 1


async def test_parse_with_another_schema_is_a_miss(client: Any, llm_upstream: Upstream) -> None:
    class Country(BaseModel):
        country: str

    await client.chat.completions.parse(model="m", messages=ask(), response_format=Capital)
    other = await client.chat.completions.parse(model="m", messages=ask(), response_format=Country)
    assert other.choices[0].message.parsed == Country(country="echo: " + ask()[0]["content"])
    assert llm_upstream.calls() == 2


async def test_the_stream_helper_passes_through_and_says_why(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    events = _record(cache)
    async with client.chat.completions.stream(model="m", messages=ask()) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "echo: " + ask()[0]["content"]
    assert [(e.kind, e.call_type) for e in events] == [("skip", "acompletion")]
    assert "create(stream=True)" in (events[0].reason or "")


def _blocking_helper(client: Any, text: str) -> Any:
    """A sync helper, as code called from inside ``async def`` would be."""
    return client.chat.completions.create.blocking(model="m", messages=ask(text))


async def test_the_blocking_twin_works_after_the_client_ran_on_this_loop(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="m", messages=ask("first"))
    fresh = _blocking_helper(client, "second")
    hit = _blocking_helper(client, "first")
    assert fresh.choices[0].message.content == "echo: second"
    assert cache_info(hit)["cache_hit"] is True
    streamed = client.chat.completions.create.blocking(
        model="m", messages=ask("third"), stream=True
    )
    words = [c.choices[0].delta.content for c in streamed if c.choices]
    assert "".join(w for w in words if w) == "echo: third"
    again = await client.chat.completions.create(model="m", messages=ask("third"))
    assert cache_info(again)["cache_hit"] is True
    assert llm_upstream.calls() == 3


async def test_the_blocking_twin_of_parse_and_responses_share_the_cache(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.responses.create(model="m", input="hi")
    hit = client.responses.create.blocking(model="m", input="hi")
    parsed = client.chat.completions.parse.blocking(
        model="m", messages=ask(), response_format=Capital
    )
    assert cache_info(hit)["cache_hit"] is True
    assert isinstance(parsed.choices[0].message.parsed, Capital)
    assert llm_upstream.calls("responses") == 1
