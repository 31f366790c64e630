"""Embeddings are cached per input item: a call sends only the items not cached yet."""

from __future__ import annotations

from typing import Any

from openai.types import CreateEmbeddingResponse

from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream


async def test_the_second_identical_embedding_call_is_a_hit(
    client: Any, llm_upstream: Upstream
) -> None:
    first = await client.embeddings.create(model="e", input=["a", "b"])
    second = await client.embeddings.create(model="e", input=["a", "b"])
    assert type(second) is CreateEmbeddingResponse
    assert [d.embedding for d in second.data] == [d.embedding for d in first.data]
    assert cache_info(second)["cache_hit"] is True
    assert llm_upstream.calls("embeddings") == 1


async def test_a_partial_hit_sends_only_the_missing_inputs(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.embeddings.create(model="e", input=["alpha", "gamma"])
    mixed = await client.embeddings.create(model="e", input=["alpha", "beta", "gamma", "delta"])
    assert llm_upstream.embedding_inputs() == ["alpha", "gamma", "beta", "delta"]
    assert [d.index for d in mixed.data] == [0, 1, 2, 3]
    assert cache_info(mixed)["cache_hit"] is True


async def test_a_partial_hit_returns_every_input_in_its_original_order(
    client: Any, openai_client: Any
) -> None:
    await client.embeddings.create(model="e", input=["gamma"])
    mixed = await client.embeddings.create(model="e", input=["alpha", "gamma", "beta"])
    direct = await openai_client.embeddings.create(model="e", input=["alpha", "gamma", "beta"])
    assert [d.embedding for d in mixed.data] == [d.embedding for d in direct.data]


async def test_usage_covers_every_input_served(client: Any) -> None:
    await client.embeddings.create(model="e", input=["one two"])
    mixed = await client.embeddings.create(model="e", input=["one two", "four five six"])
    assert mixed.usage.prompt_tokens == 2 + 3


async def test_a_single_string_input_is_one_entry(client: Any, llm_upstream: Upstream) -> None:
    await client.embeddings.create(model="e", input="solo")
    listed = await client.embeddings.create(model="e", input=["solo", "other"])
    assert llm_upstream.embedding_inputs() == ["solo", "other"]
    assert len(listed.data) == 2


async def test_inputs_for_another_model_are_not_shared(client: Any, llm_upstream: Upstream) -> None:
    await client.embeddings.create(model="e", input=["x"])
    await client.embeddings.create(model="e-large", input=["x"])
    assert llm_upstream.calls("embeddings") == 2


async def test_a_partial_hit_says_so(client: Any, llm_upstream: Upstream) -> None:
    await client.embeddings.create(model="e", input=["alpha"])
    mixed = await client.embeddings.create(model="e", input=["alpha", "beta"])
    assert cache_info(mixed)["cache_hit"] is True
    assert cache_info(mixed)["partial"] is True


async def test_a_full_hit_reports_the_tokens_of_its_inputs(client: Any) -> None:
    first = await client.embeddings.create(model="e", input=["one two", "three"])
    full_hit = await client.embeddings.create(model="e", input=["one two", "three"])
    assert full_hit.usage.prompt_tokens == first.usage.prompt_tokens == 3
    assert full_hit.usage.total_tokens == 3
    single = await client.embeddings.create(model="e", input="three")
    assert single.usage.prompt_tokens == 1
