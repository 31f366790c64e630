"""RedisSemanticCache: the vector index, native expiry, restarts and misconfiguration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.semantic.embedders import FunctionEmbedder, LocalEmbedder
from aiocache_llm.semantic.redis import RedisSemanticCache
from tests.timing import eventually

from .conftest import chat, query, unique_name

pytestmark = pytest.mark.redis

SCOPE = {"namespace": "app"}
Make = Callable[..., RedisSemanticCache]


@pytest.fixture
async def make_redis(redis_server: Any, local_embedder: LocalEmbedder) -> AsyncIterator[Make]:
    made: list[RedisSemanticCache] = []

    def make(**kwargs: Any) -> RedisSemanticCache:
        kwargs.setdefault("embedder", local_embedder)
        cache = RedisSemanticCache(url=redis_server.url, env={}, **kwargs)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.async_disconnect()


async def _index_info(cache: RedisSemanticCache) -> Any:
    return await cache._call("FT.INFO", cache.index_name)


async def test_the_index_is_created_on_first_use(make_redis: Make) -> None:
    cache = make_redis(redis_semantic_cache_index_name=unique_name("idx"))
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    info = str(await _index_info(cache))
    assert "HNSW" in info and "COSINE" in info and "FLOAT32" in info and "384" in info
    await cache.async_flush_cache()


async def test_a_new_cache_object_reuses_the_index_and_its_entries(make_redis: Make) -> None:
    name = unique_name("idx")
    first = make_redis(redis_semantic_cache_index_name=name)
    await first.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await first.async_disconnect()
    second = make_redis(redis_semantic_cache_index_name=name)
    hit = await second.async_semantic_lookup(
        "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == 1
    await second.async_flush_cache()


async def test_an_index_of_another_dimension_is_a_clear_error(make_redis: Make) -> None:
    name = unique_name("idx")
    await make_redis(redis_semantic_cache_index_name=name).async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )

    async def small(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]

    other = make_redis(
        redis_semantic_cache_index_name=name, embedder=FunctionEmbedder(small, dimension=3)
    )
    with pytest.raises(ConfigurationError, match="dimension 384"):
        await other.async_semantic_store(
            "acompletion", query("acompletion", chat("Hello?"), SCOPE), SCOPE, 1
        )
    await other.async_flush_cache()


async def test_an_index_of_another_namespace_is_a_clear_error(make_redis: Make) -> None:
    name = unique_name("idx")
    first = make_redis(redis_semantic_cache_index_name=name, namespace="one")
    await first.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    other = make_redis(redis_semantic_cache_index_name=name, namespace="two")
    with pytest.raises(ConfigurationError, match="indexes keys under"):
        await other.async_semantic_lookup(
            "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
        )
    await first.async_flush_cache()


async def test_semantic_entries_carry_a_native_redis_ttl(make_redis: Make) -> None:
    cache = make_redis(redis_semantic_cache_index_name=unique_name("idx"))
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("What is the capital of France?"), SCOPE),
        SCOPE,
        1,
        ttl=100,
    )
    _cursor, names = await cache._call("SCAN", 0, "MATCH", cache.entry_prefix + "*", "COUNT", 100)
    assert len(names) == 1
    milliseconds = int(await cache._call("PTTL", names[0]))
    assert 99_000 < milliseconds <= 100_000
    await cache.async_flush_cache()


async def test_flush_removes_semantic_entries(make_redis: Make) -> None:
    cache = make_redis(redis_semantic_cache_index_name=unique_name("idx"))
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await cache.async_flush_cache()
    assert (
        await cache.async_semantic_lookup(
            "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
        )
        is None
    )


async def test_entries_hold_no_secrets_in_their_keys(make_redis: Make) -> None:
    cache = make_redis(redis_semantic_cache_index_name=unique_name("idx"))
    question = "What is the capital of France?"
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat(question, api_key="sk-secret"), SCOPE), SCOPE, 1
    )
    _cursor, names = await cache._call("SCAN", 0, "MATCH", cache.entry_prefix + "*", "COUNT", 100)
    assert all(b"France" not in name and b"sk-secret" not in name for name in names)
    await cache.async_flush_cache()


def test_an_index_name_with_query_syntax_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RedisSemanticCache(
            url="redis://127.0.0.1:1/0", redis_semantic_cache_index_name="a b*", env={}
        )


def test_a_model_name_selects_an_openai_compatible_embedder() -> None:
    cache = RedisSemanticCache(
        url="redis://127.0.0.1:1/0",
        redis_semantic_cache_embedding_model="text-embedding-3-small",
        env={},
    )
    assert cache.embedder.name == "openai:text-embedding-3-small"


def test_a_document_that_expires_during_a_search_is_skipped() -> None:
    from aiocache_llm.semantic.redis_index import search_rows

    # RESP2 FT.SEARCH reply in which the first document expired between match and load
    reply = [2, b"sem:a", None, b"sem:b", [b"q", b"question", b"dist", b"0.1"]]
    assert search_rows(reply) == [{}, {"q": b"question", "dist": b"0.1"}]


async def test_an_index_dropped_behind_the_cache_is_recreated(make_redis: Make) -> None:
    cache = make_redis(redis_semantic_cache_index_name=unique_name("idx"))
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await cache._call("FT.DROPINDEX", cache.index_name)
    asked = chat("France's capital city?")
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", asked, SCOPE), SCOPE
    )  # recreates, no error

    async def found() -> Any:  # the new index takes in the existing entries in the background
        return hit or await cache.async_semantic_lookup(
            "acompletion", query("acompletion", asked, SCOPE), SCOPE
        )

    hit = await eventually(found, what="the recreated index finding the entry")
    assert hit.value == 1
    await cache.async_flush_cache()


async def test_flushing_leaves_an_index_of_another_namespace_alone(make_redis: Make) -> None:
    name = unique_name("idx")
    first = make_redis(redis_semantic_cache_index_name=name, namespace="one")
    await first.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await make_redis(redis_semantic_cache_index_name=name, namespace="two").async_flush_cache()
    hit = await first.async_semantic_lookup(
        "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == 1
    await first.async_flush_cache()
    assert await first.async_semantic_lookup(
        "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
    ) is None  # fmt: skip


async def test_dropping_the_index_keeps_the_entries_for_the_next_index(make_redis: Make) -> None:
    cache = make_redis(redis_semantic_cache_index_name=unique_name("idx"))
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await cache.async_drop_index()
    _cursor, names = await cache._call("SCAN", 0, "MATCH", cache.entry_prefix + "*", "COUNT", 100)
    assert len(names) == 1
    await cache.async_flush_cache()
