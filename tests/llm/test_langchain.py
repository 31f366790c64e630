"""LangChain's LLM cache on this library's backends, driven by the real langchain_core: its fake
LLMs answer from a list, so a cached call is seen by the answer that did not move on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.outputs import Generation

from aiocache_llm import Cache
from aiocache_llm.integrations.langchain import LangChainCache
from aiocache_llm.llm.events import CacheEvent

from ._support import WordsEmbedder


@pytest.fixture
def llm_cache() -> Iterator[LangChainCache]:
    cache = LangChainCache(Cache(type="local", namespace="lc"))
    previous = get_llm_cache()
    set_llm_cache(cache)
    try:
        yield cache
    finally:
        set_llm_cache(previous)


def test_a_repeated_sync_call_is_answered_from_the_cache(llm_cache: LangChainCache) -> None:
    llm = FakeListLLM(responses=["first", "second"])
    assert llm.invoke("What is 2+2?") == "first"
    assert llm.invoke("What is 2+2?") == "first"  # the list did not move on: a hit
    assert llm.invoke("What is 3+3?") == "second"
    assert llm_cache.cache.events.counters["hit"] == 1


async def test_a_repeated_async_call_is_answered_from_the_cache(
    llm_cache: LangChainCache,
) -> None:
    llm = FakeListLLM(responses=["first", "second"])
    assert await llm.ainvoke("What is 2+2?") == "first"
    assert await llm.ainvoke("What is 2+2?") == "first"
    assert llm_cache.cache.events.counters["hit"] == 1


async def test_chat_models_get_their_message_back(llm_cache: LangChainCache) -> None:
    chat = FakeListChatModel(responses=["Paris.", "Lyon."])
    first = await chat.ainvoke("Capital of France?")
    again = await chat.ainvoke("Capital of France?")
    assert first.content == again.content == "Paris."
    assert type(again) is type(first)
    assert chat.invoke("Capital of France?").content == "Paris."  # sync reads it too


def test_different_model_settings_do_not_share_answers(llm_cache: LangChainCache) -> None:
    one = FakeListLLM(responses=["a"], sleep=None)
    other = FakeListLLM(responses=["b"], sleep=0.0)
    assert one.invoke("same prompt") == "a"
    assert other.invoke("same prompt") == "b"


async def test_lookups_are_cache_events(llm_cache: LangChainCache) -> None:
    events: list[CacheEvent] = []
    llm_cache.cache.add_callback(events.append)
    llm = FakeListLLM(responses=["x", "y"])
    await llm.ainvoke("hello")
    await llm.ainvoke("hello")
    assert [(e.kind, e.call_type) for e in events] == [
        ("miss", "langchain"),
        ("store", "langchain"),
        ("hit", "langchain"),
    ]


async def test_clear_empties_the_cache(llm_cache: LangChainCache) -> None:
    llm = FakeListLLM(responses=["x", "y"])
    await llm.ainvoke("hello")
    await llm_cache.aclear()
    assert await llm.ainvoke("hello") == "y"
    llm_cache.clear()
    assert await llm_cache.alookup("hello", "anything") is None


def test_a_foreign_entry_is_a_miss(llm_cache: LangChainCache) -> None:
    key = llm_cache._key("p", "s")
    llm_cache.cache.backend.set_cache(key, {"format": "something else"})
    assert llm_cache.lookup("p", "s") is None
    llm_cache.update("p", "s", [Generation(text="ok")])
    assert llm_cache.lookup("p", "s") == [Generation(text="ok")]


def test_a_disk_backend_serves_another_instance(tmp_path: Path) -> None:
    first = LangChainCache(type="disk", disk_cache_dir=str(tmp_path))
    first.update("p", "s", [Generation(text="kept", generation_info={"n": 1})])
    second = LangChainCache(type="disk", disk_cache_dir=str(tmp_path))
    assert second.lookup("p", "s") == [Generation(text="kept", generation_info={"n": 1})]


@pytest.fixture
async def semantic() -> AsyncIterator[LangChainCache]:
    pytest.importorskip("qdrant_client")
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache

    backend = QdrantSemanticCache(
        location=":memory:", embedder=WordsEmbedder(), similarity_threshold=0.9
    )
    cache = Cache(backend=backend)
    try:
        yield LangChainCache(cache)
    finally:
        await cache.async_disconnect()


async def test_a_semantic_backend_answers_a_similar_prompt(semantic: LangChainCache) -> None:
    previous = get_llm_cache()
    set_llm_cache(semantic)
    try:
        llm = FakeListLLM(responses=["Paris", "wrong"])
        assert await llm.ainvoke("Capital of France?") == "Paris"
        assert await llm.ainvoke("capital of france") == "Paris"  # same words, other text
        assert await llm.ainvoke("Capital of Spain?") == "wrong"
    finally:
        set_llm_cache(previous)
    assert semantic.cache.events.counters["semantic_hit"] == 1
