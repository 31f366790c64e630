"""The proxy caches OpenAI-compatible requests made with the real OpenAI SDK: hits are told by
the response headers and by the upstream's call counter."""

from __future__ import annotations

import asyncio
from typing import Any

from openai import AsyncOpenAI

from tests.harness.upstream import Upstream

from ._support import Proxy


def ask(text: str = "What is the capital of France?") -> list[Any]:
    return [{"role": "user", "content": text}]


async def chat(client: AsyncOpenAI, **kwargs: Any) -> Any:
    """A chat completion with its HTTP response (headers) kept."""
    kwargs.setdefault("model", "gpt-test")
    kwargs.setdefault("messages", ask())
    return await client.chat.completions.with_raw_response.create(**kwargs)


async def test_the_second_identical_request_is_answered_from_the_cache(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    first = await chat(client)
    second = await chat(client)
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.parse().choices[0].message.content == "echo: What is the capital of France?"
    assert llm_upstream.calls("chat") == 1


async def test_a_hit_and_its_miss_carry_the_same_cache_key(client: AsyncOpenAI) -> None:
    first = await chat(client)
    second = await chat(client)
    key = first.headers["x-aiocache-llm-cache-key"]
    assert key.startswith("llm:v1:")
    assert second.headers["x-aiocache-llm-cache-key"] == key


async def test_a_hit_is_the_same_answer_as_the_miss(client: AsyncOpenAI) -> None:
    first = (await chat(client)).parse()
    second = (await chat(client)).parse()
    assert second.model_dump() == first.model_dump()


async def test_a_different_request_is_a_miss(client: AsyncOpenAI, llm_upstream: Upstream) -> None:
    await chat(client)
    other = await chat(client, temperature=0)
    assert other.headers["x-aiocache-llm-cache-hit"] == "false"
    assert llm_upstream.calls("chat") == 2


async def test_the_upstream_gets_its_own_model_name(client: AsyncOpenAI) -> None:
    answer = (await chat(client)).parse()
    assert answer.model == "upstream-model"


async def test_routes_without_the_v1_prefix_share_the_cache(
    proxy: Proxy, client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    await chat(client)
    response = proxy.post("/chat/completions", {"model": "gpt-test", "messages": ask()})
    assert response.headers["x-aiocache-llm-cache-hit"] == "true"
    assert llm_upstream.calls("chat") == 1


async def test_text_completions_are_cached(client: AsyncOpenAI, llm_upstream: Upstream) -> None:
    await client.completions.create(model="gpt-test", prompt="Say hi")
    hit = await client.completions.with_raw_response.create(model="gpt-test", prompt="Say hi")
    assert hit.headers["x-aiocache-llm-cache-hit"] == "true"
    assert hit.parse().choices[0].text == "text: Say hi"
    assert llm_upstream.calls("completions") == 1


async def test_embeddings_are_cached_per_input(client: AsyncOpenAI, llm_upstream: Upstream) -> None:
    first = await client.embeddings.create(model="embed-test", input=["a", "b"])
    second = await client.embeddings.create(model="embed-test", input=["b", "c"])
    assert llm_upstream.embedding_inputs() == ["a", "b", "c"]
    assert second.data[0].embedding == first.data[1].embedding
    assert [item.index for item in second.data] == [0, 1]


async def test_a_fully_cached_embedding_request_is_a_hit(client: AsyncOpenAI) -> None:
    await client.embeddings.create(model="embed-test", input="hello")
    hit = await client.embeddings.with_raw_response.create(model="embed-test", input="hello")
    assert hit.headers["x-aiocache-llm-cache-hit"] == "true"
    assert len(hit.parse().data[0].embedding) == 8


async def test_an_unknown_model_is_an_openai_style_404(proxy: Proxy) -> None:
    response = proxy.post("/v1/chat/completions", {"model": "nope", "messages": ask()})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


def test_the_configured_models_are_listed(proxy: Proxy) -> None:
    ids = [model["id"] for model in proxy.get("/v1/models").json()["data"]]
    assert ids == ["gpt-test", "slow-test", "embed-test"]


async def test_concurrent_identical_requests_make_one_upstream_call(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=0.2)
    answers = await asyncio.gather(*(chat(client) for _ in range(5)))
    assert llm_upstream.calls("chat") == 1
    assert len({a.parse().choices[0].message.content for a in answers}) == 1


async def test_an_embedding_answer_lists_the_key_of_each_input(client: AsyncOpenAI) -> None:
    raw = await client.embeddings.with_raw_response.create(model="embed-test", input=["x", "y"])
    keys = raw.headers["x-aiocache-llm-cache-key"].split(",")
    assert len(keys) == 2
    assert all(key.startswith("llm:v1:") for key in keys)


async def test_a_large_embedding_batch_leaves_its_keys_out_of_the_headers(
    client: AsyncOpenAI,
) -> None:
    inputs = [f"item {i}" for i in range(100)]
    await client.embeddings.create(model="embed-test", input=inputs)
    raw = await client.embeddings.with_raw_response.create(model="embed-test", input=inputs)
    assert raw.headers["x-aiocache-llm-cache-hit"] == "true"
    assert "x-aiocache-llm-cache-key" not in raw.headers


async def test_the_beta_headers_passed_upstream_are_part_of_the_key(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    plain = await chat(client)
    beta = await chat(client, extra_headers={"OpenAI-Beta": "assistants=v2"})
    again = await chat(client, extra_headers={"OpenAI-Beta": "assistants=v2"})
    other = await chat(client, extra_headers={"anthropic-beta": "tools-1"})
    assert plain.headers["x-aiocache-llm-cache-hit"] == "false"
    assert beta.headers["x-aiocache-llm-cache-hit"] == "false"
    assert again.headers["x-aiocache-llm-cache-hit"] == "true"
    assert other.headers["x-aiocache-llm-cache-hit"] == "false"
    assert llm_upstream.calls("chat") == 3
