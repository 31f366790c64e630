"""DualSemanticCache: identical requests are answered from memory before any embedding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.semantic.dual import DualSemanticCache
from aiocache_llm.semantic.embedders import FunctionEmbedder, LocalEmbedder

from .conftest import chat, query, unique_name

SCOPE = {"namespace": "app"}


class Counting:
    """The local model, counting the texts it is asked to embed."""

    def __init__(self, model: LocalEmbedder) -> None:
        self.model = model
        self.texts: list[str] = []

    async def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return await self.model.aembed(texts)


@pytest.fixture
def counting(local_embedder: LocalEmbedder) -> Counting:
    return Counting(local_embedder)


def dual(counting: Counting, **kwargs: Any) -> DualSemanticCache:
    embedder = FunctionEmbedder(counting, name="counting", dimension=384)
    return DualSemanticCache(
        semantic_type="qdrant-semantic",
        location=":memory:",
        qdrant_collection_name=unique_name("dual"),
        embedder=embedder,
        **kwargs,
    )


async def test_an_identical_request_is_answered_without_embedding(counting: Counting) -> None:
    cache = dual(counting)
    request = chat("What is the capital of France?")
    await cache.async_semantic_store(
        "acompletion", query("acompletion", request, SCOPE), SCOPE, "Paris"
    )
    embedded = len(counting.texts)
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", request, SCOPE), SCOPE
    )
    assert hit is not None and hit.value == "Paris" and hit.similarity == 1.0
    assert len(counting.texts) == embedded


async def test_a_paraphrase_goes_to_the_semantic_cache(counting: Counting) -> None:
    cache = dual(counting)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
    )
    assert hit is not None and hit.similarity < 1.0
    assert "France's capital city?" in counting.texts


async def test_a_repeated_paraphrase_is_embedded_once(counting: Counting) -> None:
    cache = dual(counting)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    for _ in range(3):
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
        )
    assert counting.texts.count("France's capital city?") == 1


async def test_the_memory_level_keeps_scopes_apart(counting: Counting) -> None:
    cache = dual(counting)
    request = chat("What is the capital of France?")
    await cache.async_semantic_store(
        "acompletion", query("acompletion", request, SCOPE), SCOPE, "Paris"
    )
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", request, {"namespace": "x"}), {"namespace": "x"}
        )
        is None
    )
    other_model = chat("What is the capital of France?", model="gpt-4o")
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", other_model, SCOPE), SCOPE
        )
        is None
    )


async def test_exact_reads_are_served_from_memory_after_the_first(counting: Counting) -> None:
    cache = dual(counting)
    await cache.semantic.async_set_cache("k", "v")
    assert await cache.async_get_cache("k") == "v"
    await cache.semantic.async_delete_cache("k")  # behind the dual cache's back
    assert await cache.async_get_cache("k") == "v"


def test_an_unknown_semantic_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        DualSemanticCache(semantic_type="sqlite-semantic")
