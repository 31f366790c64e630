"""Tenant isolation: a scripted set of near-identical requests from near-identical identities,
on every path (exact, semantic, per-input embeddings, streaming followers, single-flight
sharing, custom keys). Every answer names who caused it: zero may name someone else."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from aiocache_llm.errors import InvalidArgumentError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info

from .conftest import Echo, chat, text_of

#: Identities that differ by case, a space, a separator: each must stay apart.
IDENTITIES = ["alice", "Alice", "alice ", "bob", "tenant:1", "tenant:1:", "tenant:10"]
#: Questions that differ by case, punctuation, a space.
QUESTIONS = [
    "What is the capital of France?",
    "what is the capital of france?",
    "What is the capital of France? ",
    "What is the capital of France",
]


def by_user(kwargs: Mapping[str, Any]) -> str | None:
    user = kwargs.get("user")
    return user if isinstance(user, str) else None


def owner(answer_text: str) -> str:
    return answer_text.split(" asked: ", 1)[0]


async def exchange(cache: Cache, echo: Echo) -> tuple[int, int]:
    """Every identity asks every question twice, interleaved; (cross hits, own hits)."""
    llm = cache.cached(echo.acompletion)
    cross = own_hits = 0
    for _ in range(2):
        for question in QUESTIONS:
            for identity in IDENTITIES:
                answer = await llm(**chat(question, user=identity))
                cross += owner(text_of(answer)) != identity
                own_hits += bool(cache_info(answer).get("cache_hit"))
    return cross, own_hits


async def test_exact_keys_in_memory_never_cross_identities(echo: Echo) -> None:
    cross, hits = await exchange(Cache(type="local", identity=by_user), echo)
    assert (cross, hits) == (0, len(IDENTITIES) * len(QUESTIONS))


async def test_exact_keys_in_redis_never_cross_identities(redis_url: str, echo: Echo) -> None:
    cache = Cache(type="redis", url=redis_url, namespace=uuid.uuid4().hex[:8], identity=by_user)
    cross, hits = await exchange(cache, echo)
    await cache.async_disconnect()
    assert (cross, hits) == (0, len(IDENTITIES) * len(QUESTIONS))


async def test_a_custom_key_function_still_never_crosses_identities(echo: Echo) -> None:
    cache = Cache(type="local", identity=by_user, get_cache_key=lambda **kw: "one-key-for-all")
    cross, hits = await exchange(cache, echo)
    assert cross == 0  # one key for every question: all but each identity's first call hit
    assert hits == len(IDENTITIES) * (2 * len(QUESTIONS) - 1)


async def test_single_flight_never_shares_an_answer_across_identities() -> None:
    echo = Echo(latency=0.05)
    cache = Cache(type="local", identity=by_user)
    llm = cache.cached(echo.acompletion)
    askers = [identity for identity in IDENTITIES for _ in range(3)]
    answers = await asyncio.gather(*(llm(**chat(QUESTIONS[0], user=i)) for i in askers))
    assert [owner(text_of(a)) for a in answers] == askers
    assert echo.calls == len(IDENTITIES)  # shared within an identity, never across


async def test_streaming_followers_never_receive_another_identitys_stream() -> None:
    echo = Echo(latency=0.05)
    cache = Cache(type="local", identity=by_user)
    llm = cache.cached(echo.acompletion)

    async def read(identity: str) -> str:
        stream = await llm(**chat(QUESTIONS[0], user=identity, stream=True))
        return "".join([c["choices"][0]["delta"]["content"] async for c in stream]).strip()

    askers = [identity for identity in IDENTITIES for _ in range(3)]
    for _ in range(2):  # live (leaders and followers), then replayed from the cache
        texts = await asyncio.gather(*(read(i) for i in askers))
        assert [owner(t) for t in texts] == askers
    assert echo.calls == len(IDENTITIES)


async def test_per_input_embedding_entries_never_cross_identities(echo: Echo) -> None:
    cache = Cache(type="local", identity=by_user)
    embed = cache.cached(echo.aembedding)
    owners: list[tuple[str, str]] = []
    for _ in range(2):
        for identity in IDENTITIES:
            answer = await embed(model="e", input=["one", "two", identity], user=identity)
            owners += [(identity, item["owner"]) for item in answer["data"]]
    assert all(asker == got for asker, got in owners)
    assert echo.calls == len(IDENTITIES)


def _embed(texts: list[str]) -> list[list[float]]:
    """A deterministic bag-of-words embedding (identical texts: similarity 1)."""
    vectors = []
    for text in texts:
        vector = [0.0] * 64
        for word in text.lower().replace("?", " ").split():
            vector[hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
        vectors.append(vector)
    return vectors


async def test_semantic_search_never_crosses_identities(echo: Echo) -> None:
    pytest.importorskip("qdrant_client")
    from aiocache_llm.semantic.embedders import FunctionEmbedder
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache

    backend = QdrantSemanticCache(
        qdrant_collection_name=f"iso{uuid.uuid4().hex[:8]}",
        location=":memory:",
        embedder=FunctionEmbedder(_embed, dimension=64),
        precision_guard=False,
        similarity_threshold=0.8,
    )
    cache = Cache(backend=backend, identity=by_user)
    llm = cache.cached(echo.acompletion)
    cross = semantic_hits = 0
    for _ in range(2):
        for question in QUESTIONS:
            for identity in IDENTITIES:
                answer = await llm(**chat(question, user=identity))
                cross += owner(text_of(answer)) != identity
                semantic_hits += "similarity" in cache_info(answer)
    await cache.async_disconnect()
    assert cross == 0
    assert semantic_hits > 0  # similar questions of one identity do match each other


@pytest.mark.parametrize("bad", ["", 42, b"alice"])
async def test_an_identity_function_returning_a_non_str_fails_the_call(
    echo: Echo, bad: object
) -> None:
    cache = Cache(type="local", identity=lambda kwargs: bad)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidArgumentError):
        await cache.cached(echo.acompletion)(**chat("hi"))
    assert echo.calls == 0


@pytest.mark.parametrize("custom_key", [False, True])
async def test_an_identity_never_appears_in_the_key(echo: Echo, custom_key: bool) -> None:
    cache = Cache(
        type="local", identity=by_user, get_cache_key=(lambda **kw: "k") if custom_key else None
    )
    llm = cache.cached(echo.acompletion)
    await llm(**chat("hi", user="alice@example.com"))
    answer = await llm(**chat("hi", user="alice@example.com"))  # a hit carries its key
    assert cache_info(answer)["cache_hit"] is True
    assert "alice" not in cache_info(answer)["cache_key"]
