"""``litellm.Cache``'s ``cache_key=`` on a Cache, and patching its methods as LiteLLM users do.

``add_cache(result, cache_key=cache.get_cache_key(**call))`` stores an answer that
``get_cache(**call)`` then finds; ``get_cache(cache_key=...)`` reads under a named key. Answers
come from litellm itself (its offline ``mock_response``); entries live in a real Redis.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import pytest

from aiocache_llm.errors import InvalidArgumentError
from aiocache_llm.facade import Cache
from tests.harness.redis import RedisServer

from ._support import ask

litellm = pytest.importorskip("litellm")


@pytest.fixture
async def redis_cache(redis_server: RedisServer) -> AsyncIterator[Cache]:
    cache = Cache(
        type="redis",
        host=redis_server.host,
        port=redis_server.port,
        namespace=f"named-{uuid.uuid4().hex[:8]}",
    )
    yield cache
    await cache.async_flush()
    await cache.async_disconnect()


def _answer(text: str, **kwargs: Any) -> Any:
    return litellm.completion(model="gpt-4o-mini", messages=ask(), mock_response=text, **kwargs)


async def test_an_answer_added_under_get_cache_key_is_found_by_the_calls_arguments(
    redis_cache: Cache,
) -> None:
    call = {"model": "gpt-4o-mini", "messages": ask(f"Poem {uuid.uuid4()}?")}
    answer = _answer("A short poem.")
    key = redis_cache.get_cache_key(**call)
    await redis_cache.async_add_cache(result=answer, cache_key=key)
    found = await redis_cache.async_get_cache(**call)
    assert found is not None and found["id"] == answer.id
    assert found["choices"][0]["message"]["content"] == "A short poem."


def test_the_blocking_methods_store_and_read_under_a_named_key(redis_cache: Cache) -> None:
    answer = _answer("Blocking.")
    key = redis_cache.get_cache_key(model="gpt-4o-mini", messages=ask("Blocking?"))
    redis_cache.add_cache(answer, cache_key=key)
    assert redis_cache.get_cache(cache_key=key)["id"] == answer.id
    assert redis_cache.get_cache(cache_key=key + "-other") is None


async def test_a_key_of_another_shape_is_stored_and_read_as_litellm_does(
    redis_cache: Cache,
) -> None:
    answer = _answer("LiteLLM's way.")
    await redis_cache.async_add_cache(answer, cache_key="mine")
    assert (await redis_cache.async_get_cache(cache_key="mine"))["id"] == answer.id
    assert await redis_cache.async_get_cache(model="gpt-4o-mini", messages=ask()) is None


async def test_no_store_and_no_cache_hold_for_a_named_key(redis_cache: Cache) -> None:
    answer = _answer("Not kept.")
    key = redis_cache.get_cache_key(model="gpt-4o-mini", messages=ask("Kept?"))
    await redis_cache.async_add_cache(answer, cache_key=key, cache={"no-store": True})
    assert await redis_cache.async_get_cache(cache_key=key) is None
    await redis_cache.async_add_cache(answer, cache_key=key)
    assert await redis_cache.async_get_cache(cache_key=key, cache={"no-cache": True}) is None
    assert await redis_cache.async_get_cache(cache_key=key) is not None


async def test_an_answer_cut_short_is_not_stored_under_a_named_key(redis_cache: Cache) -> None:
    answer = _answer("Cut short.")
    cut = answer.model_dump()
    cut["choices"][0]["finish_reason"] = None
    key = redis_cache.get_cache_key(model="gpt-4o-mini", messages=ask("Cut?"))
    await redis_cache.async_add_cache(cut, cache_key=key)
    assert await redis_cache.async_get_cache(cache_key=key) is None


async def test_a_cache_with_an_identity_refuses_a_named_key() -> None:
    key = Cache().get_cache_key(model="gpt-4o-mini", messages=ask("Whose?"))
    cache = Cache(identity=lambda kwargs: kwargs.get("user"))
    with pytest.raises(InvalidArgumentError, match="identity"):
        await cache.async_add_cache(_answer("Whose?"), cache_key=key)
    with pytest.raises(InvalidArgumentError, match="identity"):
        await cache.async_get_cache(cache_key=key)


def test_patching_add_cache_sees_litellms_store_and_leaves_the_method_in_place(
    redis_cache: Cache,
) -> None:
    litellm.cache = redis_cache
    try:
        with patch.object(redis_cache, "add_cache") as add_cache:
            stream = litellm.completion(
                model="gpt-4o-mini", messages=ask("Patched?"), mock_response="hi", stream=True
            )
            for _ in stream:
                pass
            for _ in range(400):  # LiteLLM may store from a thread of its own
                if add_cache.called:
                    break
                time.sleep(0.025)
            add_cache.assert_called_once()
            assert add_cache.call_args.args[0].choices[0].message.content == "hi"
    finally:
        litellm.cache = None
    assert redis_cache.custom_add_cache is None
    assert redis_cache.add_cache.__func__ is type(redis_cache).add_cache
