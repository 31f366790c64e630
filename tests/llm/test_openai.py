"""The OpenAI SDK clients, wrapped: hits come back as the SDK's own types, marked as hits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openai import OpenAI
from openai.types import Completion
from openai.types.audio import Transcription
from openai.types.chat import ChatCompletion

from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import TOOLS, ask


async def test_the_second_identical_call_is_a_hit(client: Any, llm_upstream: Upstream) -> None:
    first = await client.chat.completions.create(model="m", messages=ask())
    second = await client.chat.completions.create(model="m", messages=ask())
    assert llm_upstream.calls() == 1
    assert second.model_dump() == first.model_dump()


async def test_a_hit_is_the_sdks_own_type_and_says_it_is_a_hit(client: Any) -> None:
    first = await client.chat.completions.create(model="m", messages=ask())
    second = await client.chat.completions.create(model="m", messages=ask())
    assert type(second) is ChatCompletion
    assert cache_info(first) == {"cache_hit": False, "cache_key": cache_info(second)["cache_key"]}
    assert cache_info(second)["cache_hit"] is True
    assert second._hidden_params["cache_key"].startswith("llm:v1:")


async def test_a_different_request_is_a_miss(client: Any, llm_upstream: Upstream) -> None:
    await client.chat.completions.create(model="m", messages=ask())
    other = await client.chat.completions.create(model="m", messages=ask(), temperature=0)
    assert cache_info(other)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_tool_calls_survive_the_cache(client: Any) -> None:
    first = await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS)
    second = await client.chat.completions.create(model="m", messages=ask(), tools=TOOLS)
    assert second.choices[0].message.tool_calls == first.choices[0].message.tool_calls


async def test_text_completions_are_cached_as_completions(
    client: Any, llm_upstream: Upstream
) -> None:
    await client.completions.create(model="m", prompt="Say hi")
    hit = await client.completions.create(model="m", prompt="Say hi")
    assert type(hit) is Completion
    assert hit.choices[0].text == "text: Say hi"
    assert llm_upstream.calls("completions") == 1


async def test_transcriptions_are_cached_by_the_file_bytes(
    client: Any, llm_upstream: Upstream, tmp_path: Path
) -> None:
    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"RIFF fake audio bytes")
    first = await client.audio.transcriptions.create(model="whisper-1", file=audio)
    second = await client.audio.transcriptions.create(model="whisper-1", file=audio.read_bytes())
    assert type(second) is Transcription
    assert second.text == first.text
    assert llm_upstream.calls("transcriptions") == 1


def test_the_blocking_client_is_cached_too(
    blocking_openai_client: OpenAI, llm_upstream: Upstream
) -> None:
    client = Cache().wrap_openai(blocking_openai_client)
    client.chat.completions.create(model="m", messages=ask())
    hit = client.chat.completions.create(model="m", messages=ask())
    assert type(hit) is ChatCompletion
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls() == 1


async def test_async_and_blocking_clients_share_entries(
    cache: Cache, client: Any, blocking_openai_client: OpenAI, llm_upstream: Upstream
) -> None:
    await client.chat.completions.create(model="m", messages=ask())
    blocking = cache.wrap_openai(blocking_openai_client)
    hit = blocking.chat.completions.create(model="m", messages=ask())
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls() == 1


async def test_everything_else_is_the_clients_own(client: Any, openai_client: Any) -> None:
    assert client.models is openai_client.models
    assert client.base_url == openai_client.base_url


async def test_a_custom_get_cache_key_replaces_the_key(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    def by_model(**kwargs: Any) -> str:
        return f"model-{kwargs['model']}"

    client = Cache(get_cache_key=by_model, namespace="ns").wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask("one"))
    hit = await client.chat.completions.create(model="m", messages=ask("two"))
    assert cache_info(hit) == {"cache_hit": True, "cache_key": "ns:model-m"}
    assert llm_upstream.calls() == 1


async def test_custom_add_cache_and_get_cache_replace_the_storage(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    store: dict[str, Any] = {}

    def add_cache(entry: Any, **kwargs: Any) -> None:
        store[kwargs["cache_key"]] = entry

    async def get_cache(**kwargs: Any) -> Any:
        return store.get(kwargs["cache_key"])

    cache = Cache()
    cache.add_cache = add_cache
    cache.get_cache = get_cache
    client = cache.wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask())
    hit = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(hit)["cache_key"] in store
    assert cache_info(hit)["cache_hit"] is True
    assert len(cache.backend) == 0  # type: ignore[arg-type]
    assert llm_upstream.calls() == 1


async def test_an_identity_keeps_tenants_apart(openai_client: Any, llm_upstream: Upstream) -> None:
    cache = Cache(identity=lambda kwargs: kwargs.get("user"))
    client = cache.wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask(), user="alice")
    bob = await client.chat.completions.create(model="m", messages=ask(), user="bob")
    alice = await client.chat.completions.create(model="m", messages=ask(), user="alice")
    assert cache_info(bob)["cache_hit"] is False
    assert cache_info(alice)["cache_hit"] is True
    assert llm_upstream.calls() == 2


async def test_cached_over_an_sdk_method_is_async_and_hits(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    from aiocache_llm import cached

    create = cached(openai_client.chat.completions.create, cache=Cache())
    first = await create(model="m", messages=ask())
    second = await create(model="m", messages=ask())
    assert type(second) is ChatCompletion
    assert cache_info(second)["cache_hit"] is True
    assert second.model_dump() == first.model_dump()
    assert llm_upstream.calls() == 1
