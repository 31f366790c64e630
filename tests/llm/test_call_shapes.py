"""Each call shape gets its own result type from one stored entry."""

from __future__ import annotations

from typing import Any

from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import CachedDict, cache_info
from tests.harness.upstream import Upstream

from ._support import ask, chat_answer


async def test_a_dict_function_gets_dicts_from_an_entry_an_sdk_client_stored(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    cache = Cache()
    client = cache.wrap_openai(openai_client)

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the answer is cached")

    stored = await client.chat.completions.create(model="m", messages=ask())
    # the client's deployment is part of its key: the function names the same one
    answer = await cache.cached(acompletion)(
        model="m", messages=ask(), api_base=llm_upstream.base_url
    )
    assert type(answer) is CachedDict
    assert answer["choices"][0]["message"]["content"] == stored.choices[0].message.content


async def test_an_sdk_client_gets_its_types_from_an_entry_a_dict_function_stored(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    cache = Cache()
    client = cache.wrap_openai(openai_client)

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        return chat_answer("from a dict")

    await cache.cached(acompletion)(model="m", messages=ask(), api_base=llm_upstream.base_url)
    answer = await client.chat.completions.create(model="m", messages=ask())
    assert type(answer) is ChatCompletion
    assert cache_info(answer)["cache_hit"] is True
    chunks = [c async for c in await client.chat.completions.create(
        model="m", messages=ask(), stream=True
    )]  # fmt: skip
    assert chunks and all(type(c) is ChatCompletionChunk for c in chunks)
    assert llm_upstream.calls() == 0


async def test_a_dict_embedding_function_gets_dicts_from_sdk_entries(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    cache = Cache()
    client = cache.wrap_openai(openai_client)
    stored = await client.embeddings.create(model="e", input=["a"])
    assert type(stored) is CreateEmbeddingResponse

    async def aembedding(**kwargs: Any) -> dict[str, Any]:
        raise AssertionError("the answer is cached")

    answer = await cache.cached(aembedding)(model="e", input=["a"], api_base=llm_upstream.base_url)
    assert type(answer) is CachedDict
    assert answer["data"][0]["embedding"] == stored.data[0].embedding
