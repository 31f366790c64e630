"""LiteLLM's names and meanings on the facade: ttl 0, timedelta, and litellm.Cache's methods."""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.errors import InvalidArgumentError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.keys import make_key
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import ask


async def test_a_ttl_of_zero_answers_without_storing(client: Any, llm_upstream: Upstream) -> None:
    answer = await client.chat.completions.create(model="m", messages=ask(), cache={"ttl": 0})
    assert answer.choices[0].message.content
    await client.chat.completions.create(model="m", messages=ask())
    assert llm_upstream.calls() == 2


async def test_a_timedelta_ttl_is_its_seconds(cache: Cache, client: Any) -> None:
    answer = await client.chat.completions.create(
        model="m", messages=ask(), cache={"ttl": datetime.timedelta(minutes=2)}
    )
    remaining = await cache.backend.async_get_ttl(cache_info(answer)["cache_key"])
    assert remaining is not None and 60 < remaining <= 120


def test_get_cache_key_is_the_key_a_call_is_stored_under() -> None:
    cache = Cache(namespace="team")
    kwargs = {"model": "m", "messages": ask(), "temperature": 0}
    assert cache.get_cache_key(**kwargs) == make_key("acompletion", kwargs, namespace="team")
    assert cache.get_cache_key(**kwargs, cache={"namespace": "other"}).startswith("other:")
    embedding = cache.get_cache_key(model="e", input="a")
    assert embedding == make_key("aembedding", {"model": "e", "input": "a"}, namespace="team")


def test_a_call_type_its_arguments_do_not_show_is_asked_for() -> None:
    with pytest.raises(InvalidArgumentError, match="call_type"):
        Cache().get_cache_key(model="m")
    assert Cache().get_cache_key(model="m", call_type="acompletion", messages=ask())


async def test_async_get_cache_returns_the_stored_answer_as_a_dict_or_none(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    kwargs = {"model": "m", "messages": ask()}
    deployed = {**kwargs, "api_base": llm_upstream.base_url}  # the client's, as LiteLLM says it
    assert await cache.async_get_cache(**deployed) is None
    answer = await client.chat.completions.create(**kwargs)
    found = await cache.async_get_cache(**deployed)
    assert type(found) is dict  # as litellm.Cache.async_get_cache returns it
    assert found["choices"][0]["message"]["content"] == answer.choices[0].message.content
    assert found["id"] == answer.id
    assert cache.get_cache(**deployed) == found
    assert llm_upstream.calls() == 1


async def test_add_cache_stores_an_answer_that_wrapped_calls_then_serve(
    cache: Cache, client: Any, llm_upstream: Upstream
) -> None:
    kwargs = {"model": "m", "messages": ask("Seeded?")}
    first = await client.chat.completions.create(**kwargs)
    other = Cache(backend=cache.backend)
    copy = {**kwargs, "messages": ask("Copied?"), "api_base": llm_upstream.base_url}
    await other.async_add_cache(first, **copy)
    copied = await client.chat.completions.create(model="m", messages=ask("Copied?"))
    assert copied.choices[0].message.content == first.choices[0].message.content
    assert cache_info(copied)["cache_hit"] is True
    assert llm_upstream.calls() == 1


def test_the_blocking_methods_store_and_find_answers() -> None:
    cache = Cache()
    kwargs = {"model": "m", "messages": ask()}
    message = {"role": "assistant", "content": "Paris."}
    answer = {"choices": [{"message": message, "finish_reason": "stop"}]}
    cache.add_cache(json.dumps(answer), **kwargs)  # LiteLLM also passes a response's JSON
    assert cache.get_cache(**kwargs)["choices"][0]["message"]["content"] == "Paris."
    assert cache.get_cache(model="m", messages=ask("Something else?")) is None


async def test_an_assigned_key_function_is_what_get_cache_key_returns() -> None:
    cache = Cache()
    cache.get_cache_key = lambda **kwargs: f"mine-{kwargs['model']}"
    assert cache.get_cache_key(model="m", messages=ask()) == "mine-m"
    await cache.async_add_cache({"answer": 1}, model="m", messages=ask())
    assert await cache.backend.async_get_cache("mine-m") is not None


async def test_an_assigned_storage_hook_is_what_get_cache_reads() -> None:
    cache = Cache()
    seen: list[str] = []

    async def read(**kwargs: Any) -> None:
        seen.append(kwargs["cache_key"])

    cache.get_cache = read
    assert await cache.async_get_cache(model="m", messages=ask()) is None
    assert seen == [cache.get_cache_key(model="m", messages=ask())]


async def test_concurrent_lookups_of_a_missing_answer_all_find_none() -> None:
    cache = Cache()
    found = await asyncio.gather(
        *(cache.async_get_cache(model="m", messages=ask()) for _ in range(5))
    )
    assert found == [None] * 5


def test_an_unreadable_audio_file_is_a_typed_error_from_key_building(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    with pytest.raises(InvalidArgumentError, match="cannot be read"):
        make_key("atranscription", {"model": "whisper-1", "file": missing})
    with pytest.raises(InvalidArgumentError, match="cannot be read"):
        make_key("atranscription", {"model": "whisper-1", "file": str(tmp_path)})  # a folder
