"""A semantic backend: exact lookup first, then a similar stored question; the similarity is
reported on the answer and in the event."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from aiocache_llm.facade import Cache
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import WordsEmbedder, ask

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("qdrant_client") is None
    or importlib.util.find_spec("aiocache_llm.semantic.qdrant") is None,
    reason="the qdrant semantic backend is not available",
)


@pytest.fixture
async def semantic_cache() -> AsyncIterator[Cache]:
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache

    backend = QdrantSemanticCache(
        location=":memory:", embedder=WordsEmbedder(), similarity_threshold=0.9
    )
    cache = Cache(backend=backend)
    try:
        yield cache
    finally:
        await cache.async_disconnect()


async def test_a_similar_question_is_served_with_its_similarity(
    semantic_cache: Cache, openai_client: Any, llm_upstream: Upstream
) -> None:
    events: list[CacheEvent] = []
    semantic_cache.add_callback(events.append)
    client = semantic_cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(
        model="m", messages=ask("What is the capital of France?")
    )
    similar = await client.chat.completions.create(
        model="m", messages=ask("what is the capital of france")
    )
    assert llm_upstream.calls() == 1
    assert similar.choices[0].message.content == first.choices[0].message.content
    info = cache_info(similar)
    assert info["cache_hit"] is True and info["similarity"] >= 0.9
    hit = events[-1]
    assert hit.kind == "hit" and hit.similarity == info["similarity"]
    assert semantic_cache.events.counters["semantic_hit"] == 1


async def test_an_exact_repeat_is_an_exact_hit(
    semantic_cache: Cache, openai_client: Any, llm_upstream: Upstream
) -> None:
    client = semantic_cache.wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask())
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again) == {"cache_hit": True, "cache_key": cache_info(again)["cache_key"]}
    assert llm_upstream.calls() == 1


async def test_another_model_is_never_a_semantic_candidate(
    semantic_cache: Cache, openai_client: Any, llm_upstream: Upstream
) -> None:
    client = semantic_cache.wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask("What is the capital of France?"))
    other = await client.chat.completions.create(
        model="m2", messages=ask("what is the capital of france")
    )
    assert cache_info(other)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_deleting_an_entry_by_key_removes_it_from_the_index_too(
    semantic_cache: Cache, openai_client: Any, llm_upstream: Upstream
) -> None:
    client = semantic_cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(model="m", messages=ask("Capital of France?"))
    await semantic_cache.backend.async_delete_cache(cache_info(first)["cache_key"])
    again = await client.chat.completions.create(model="m", messages=ask("capital of france"))
    assert cache_info(again)["cache_hit"] is False
    assert llm_upstream.calls() == 2


class SlowLoadingEmbedder(WordsEmbedder):
    """An embedder whose model takes longer to load than a lookup's deadline (as a cold
    all-MiniLM-L6-v2 load on a busy machine does)."""

    def __init__(self, load_time: float) -> None:
        self.load_time = load_time
        self.loaded = False

    async def warm(self) -> None:
        if not self.loaded:
            await asyncio.sleep(self.load_time)
            self.loaded = True

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        await self.warm()
        return await super().aembed(texts)


async def test_loading_the_model_never_counts_against_a_lookups_deadline(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache

    backend = QdrantSemanticCache(
        location=":memory:", embedder=SlowLoadingEmbedder(0.6), similarity_threshold=0.9
    )
    cache = Cache(backend=backend, backend_deadline=0.4)
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    try:
        client = cache.wrap_openai(openai_client)
        await client.chat.completions.create(model="m", messages=ask("Capital of France?"))
        similar = await client.chat.completions.create(model="m", messages=ask("capital of france"))
    finally:
        await cache.async_disconnect()
    assert [e for e in events if e.kind == "error"] == []
    kinds = [(e.kind, getattr(e, "reason", None)) for e in events]
    assert cache_info(similar)["cache_hit"] is True, kinds
    assert llm_upstream.calls() == 1
