"""A hit hands the caller its own object: mutating it never changes what the next caller gets."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.memory import InMemoryCache
from aiocache_llm.storage.redis import RedisCache

from ._support import ask, chat_answer

ANSWER = chat_answer("Paris.", provider_specific_fields={"citations": [{"url": "a"}]})


def dict_upstream() -> Any:
    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(ANSWER)

    return acompletion


@pytest.fixture(params=["local", "dual"])
async def shared_cache(request: pytest.FixtureRequest) -> Any:
    if request.param == "local":
        yield Cache(type="local")
        return
    server = request.getfixturevalue("redis_server")
    l2 = RedisCache(url=server.url, namespace=f"own-{uuid.uuid4().hex[:8]}", env={})
    cache = Cache(backend=DualCache(InMemoryCache(), l2, default_in_memory_ttl=60))
    try:
        yield cache
    finally:
        await l2.async_flush_cache()
        await cache.async_disconnect()


async def test_mutating_a_dict_hit_does_not_change_the_next_hit(shared_cache: Cache) -> None:
    llm = shared_cache.cached(dict_upstream())
    await llm(model="m", messages=ask())
    first = await llm(model="m", messages=ask())
    first["choices"][0]["message"]["content"] = "changed"
    first["choices"][0]["message"]["provider_specific_fields"]["citations"].append("x")
    second = await llm(model="m", messages=ask())
    assert cache_info(second)["cache_hit"] is True
    assert second["choices"][0]["message"]["content"] == "Paris."
    assert second["choices"][0]["message"]["provider_specific_fields"] == {
        "citations": [{"url": "a"}]
    }


async def test_mutating_the_miss_answer_does_not_change_the_stored_one(
    shared_cache: Cache,
) -> None:
    llm = shared_cache.cached(dict_upstream())
    miss = await llm(model="m", messages=ask())
    miss["choices"][0]["message"]["content"] = "changed"
    hit = await llm(model="m", messages=ask())
    assert hit["choices"][0]["message"]["content"] == "Paris."


async def test_mutating_a_nested_field_of_an_sdk_hit_does_not_change_the_next_hit(
    shared_cache: Cache,
) -> None:
    async def acompletion(**kwargs: Any) -> ChatCompletion:
        return ChatCompletion.model_validate(copy.deepcopy(ANSWER))

    llm = shared_cache.cached(acompletion)
    await llm(model="m", messages=ask())
    first = await llm(model="m", messages=ask())
    assert type(first) is ChatCompletion
    fields = first.choices[0].message.provider_specific_fields  # type: ignore[attr-defined]
    fields["citations"][0]["url"] = "changed"
    first.choices[0].message.content = "changed"
    second = await llm(model="m", messages=ask())
    assert cache_info(second)["cache_hit"] is True
    assert second.choices[0].message.content == "Paris."
    assert second.choices[0].message.provider_specific_fields == {  # type: ignore[attr-defined]
        "citations": [{"url": "a"}]
    }


async def test_coalesced_callers_get_objects_of_their_own() -> None:
    cache = Cache(type="local")

    async def slow(**kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return copy.deepcopy(ANSWER)

    llm = cache.cached(slow)
    answers = await asyncio.gather(*(llm(model="m", messages=ask()) for _ in range(3)))
    answers[1]["choices"][0]["message"]["content"] = "changed"
    assert answers[2]["choices"][0]["message"]["content"] == "Paris."
