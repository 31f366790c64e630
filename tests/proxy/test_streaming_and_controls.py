"""Streams pass through as server-sent events and are replayed on a hit; the per-request
``cache`` object in the body controls the cache."""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI

from tests.harness.upstream import Upstream

from ._support import Proxy


def ask(text: str = "Tell me a story") -> list[Any]:
    return [{"role": "user", "content": text}]


async def stream_text(client: AsyncOpenAI, **kwargs: Any) -> tuple[str, dict[str, str]]:
    """The streamed reply's text and the response headers."""
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=ask(), stream=True, **kwargs
    )
    text = ""
    async for chunk in raw.parse():
        for choice in chunk.choices:
            text += choice.delta.content or ""
    return text, dict(raw.headers)


async def test_a_stream_is_passed_through_chunk_by_chunk(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    stream = await client.chat.completions.create(model="gpt-test", messages=ask(), stream=True)
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert len(pieces) > 3
    assert "".join(p or "" for p in pieces) == "echo: Tell me a story"


async def test_a_stream_is_replayed_from_the_cache(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    first, first_headers = await stream_text(client)
    second, second_headers = await stream_text(client)
    assert second == first == "echo: Tell me a story"
    assert (
        first_headers["x-aiocache-llm-cache-hit"],
        second_headers["x-aiocache-llm-cache-hit"],
    ) == (
        "false",
        "true",
    )
    assert llm_upstream.calls("chat") == 1


async def test_a_plain_answer_serves_a_later_stream(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="gpt-test", messages=ask())
    text, headers = await stream_text(client)
    assert text == "echo: Tell me a story"
    assert headers["x-aiocache-llm-cache-hit"] == "true"
    assert llm_upstream.calls("chat") == 1


async def test_a_stream_ends_with_done(proxy: Proxy) -> None:
    body = {"model": "gpt-test", "messages": ask(), "stream": True}
    response = proxy.post("/v1/chat/completions", body)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.rstrip().endswith("data: [DONE]")


async def test_no_cache_goes_upstream_and_refreshes_the_entry(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="gpt-test", messages=ask())
    fresh = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=ask(), extra_body={"cache": {"no-cache": True}}
    )
    assert fresh.headers["x-aiocache-llm-cache-hit"] == "false"
    assert llm_upstream.calls("chat") == 2


async def test_no_store_leaves_nothing_behind(client: AsyncOpenAI, llm_upstream: Upstream) -> None:
    no_store = {"cache": {"no-store": True}}
    await client.chat.completions.create(model="gpt-test", messages=ask(), extra_body=no_store)
    await client.chat.completions.create(model="gpt-test", messages=ask())
    assert llm_upstream.calls("chat") == 2


async def test_a_namespace_keeps_entries_apart(client: AsyncOpenAI, llm_upstream: Upstream) -> None:
    await client.chat.completions.create(model="gpt-test", messages=ask())
    other = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=ask(), extra_body={"cache": {"namespace": "team-b"}}
    )
    assert other.headers["x-aiocache-llm-cache-key"].startswith("team-b:")
    assert other.headers["x-aiocache-llm-cache-hit"] == "false"


async def test_s_maxage_zero_refuses_a_cached_answer(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="gpt-test", messages=ask())
    await client.chat.completions.create(
        model="gpt-test", messages=ask(), extra_body={"cache": {"s-maxage": 0}}
    )
    assert llm_upstream.calls("chat") == 2


async def test_use_cache_false_bypasses_the_cache(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="gpt-test", messages=ask())
    bypass = await client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=ask(), extra_body={"cache": {"use-cache": False}}
    )
    assert "x-aiocache-llm-cache-hit" not in bypass.headers
    assert llm_upstream.calls("chat") == 2


async def test_a_ttl_control_still_stores_the_answer(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    with_ttl = {"cache": {"ttl": 60}}
    await client.chat.completions.create(model="gpt-test", messages=ask(), extra_body=with_ttl)
    hit = await client.chat.completions.with_raw_response.create(model="gpt-test", messages=ask())
    assert hit.headers["x-aiocache-llm-cache-hit"] == "true"


def test_a_bad_control_is_an_openai_style_400(proxy: Proxy, llm_upstream: Upstream) -> None:
    body = {"model": "gpt-test", "messages": ask(), "cache": {"ttl": "soon"}}
    response = proxy.post("/v1/chat/completions", body)
    assert response.status_code == 400
    assert "ttl" in response.json()["error"]["message"]
    assert llm_upstream.calls("chat") == 0
