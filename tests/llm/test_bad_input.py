"""Bad call arguments are refused with a typed error before anything is sent upstream, for
every call shape, through the wrapped SDKs and ``cached(litellm...)``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic
import pytest
from openai import AsyncOpenAI

from aiocache_llm.errors import InvalidArgumentError, InvalidControlError, InvalidRequestError
from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import ask

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BAD_MESSAGES = [5, "What is the capital of France?", {"role": "user"}, [5], ["hi"]]
BAD_EMBEDDING_INPUTS = [5, True, 1.5, [], [1.5], {"text": "hi"}, ["a", 5]]


@pytest.fixture
async def anthropic_client(llm_upstream: Upstream) -> AsyncIterator[Any]:
    async with anthropic.AsyncAnthropic(
        base_url=llm_upstream.url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


async def _refused(call: Callable[[], Awaitable[Any]], upstream: Upstream) -> None:
    with pytest.raises(InvalidRequestError):
        await call()
    assert upstream.stats()["counts"] == {}


@pytest.mark.parametrize("messages", BAD_MESSAGES)
async def test_chat_messages_that_are_not_a_list_of_messages_are_refused(
    client: Any, llm_upstream: Upstream, messages: Any
) -> None:
    await _refused(
        lambda: client.chat.completions.create(model="m", messages=messages), llm_upstream
    )


@pytest.mark.parametrize("value", BAD_EMBEDDING_INPUTS)
async def test_embedding_inputs_that_are_not_text_or_tokens_are_refused(
    client: Any, llm_upstream: Upstream, value: Any
) -> None:
    await _refused(lambda: client.embeddings.create(model="e", input=value), llm_upstream)


@pytest.mark.parametrize("value", [5, True, {"role": "user"}, [5]])
async def test_responses_inputs_of_the_wrong_shape_are_refused(
    client: Any, llm_upstream: Upstream, value: Any
) -> None:
    await _refused(lambda: client.responses.create(model="m", input=value), llm_upstream)


@pytest.mark.parametrize("messages", BAD_MESSAGES)
async def test_anthropic_messages_of_the_wrong_shape_are_refused(
    cache: Cache, anthropic_client: Any, llm_upstream: Upstream, messages: Any
) -> None:
    claude = cache.wrap_anthropic(anthropic_client)
    await _refused(
        lambda: claude.messages.create(model="c", max_tokens=8, messages=messages), llm_upstream
    )


async def test_the_typed_error_is_also_a_type_error_and_an_invalid_argument(
    client: Any, llm_upstream: Upstream
) -> None:
    with pytest.raises(TypeError):
        await client.chat.completions.create(model="m", messages=5)
    with pytest.raises(InvalidArgumentError):
        await client.embeddings.create(model="e", input=True)


async def test_a_namespace_with_a_lone_surrogate_is_refused_up_front(
    client: Any, llm_upstream: Upstream
) -> None:
    with pytest.raises(InvalidControlError):
        await client.chat.completions.create(
            model="m", messages=ask(), cache={"namespace": "tenant-\ud800"}
        )
    assert llm_upstream.stats()["counts"] == {}


async def test_a_namespace_beyond_latin_1_is_used_as_given(
    client: Any, llm_upstream: Upstream
) -> None:
    controls = {"namespace": "客户-ключ"}
    await client.chat.completions.create(model="m", messages=ask(), cache=controls)
    hit = await client.chat.completions.create(model="m", messages=ask(), cache=controls)
    other = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(hit)["cache_hit"] is True
    assert cache_info(other)["cache_hit"] is False
    assert llm_upstream.calls() == 2


# -- LiteLLM's functions, cached ---------------------------------------------------------------


@pytest.fixture
def litellm() -> Any:
    return pytest.importorskip("litellm")


async def test_cached_acompletion_refuses_bad_messages(
    cache: Cache, litellm: Any, llm_upstream: Upstream
) -> None:
    acompletion = cached(litellm.acompletion, cache=cache)
    for messages in (5, "hi", [5]):
        await _refused(
            lambda m=messages: acompletion(
                model="openai/m", messages=m, api_base=llm_upstream.base_url, api_key="sk-test"
            ),
            llm_upstream,
        )


async def test_cached_aembedding_refuses_numbers_and_booleans(
    cache: Cache, litellm: Any, llm_upstream: Upstream
) -> None:
    aembedding = cached(litellm.aembedding, cache=cache)
    for value in (5, True):
        await _refused(
            lambda v=value: aembedding(
                model="openai/e", input=v, api_base=llm_upstream.base_url, api_key="sk-test"
            ),
            llm_upstream,
        )


async def test_cached_anthropic_messages_refuses_bad_messages(
    cache: Cache, litellm: Any, llm_upstream: Upstream
) -> None:
    messages = cached(litellm.anthropic_messages, cache=cache)
    await _refused(
        lambda: messages(
            model="anthropic/c", max_tokens=8, messages=5, api_base=llm_upstream.url, api_key="k"
        ),
        llm_upstream,
    )


async def test_cached_aresponses_refuses_a_number_as_input(
    cache: Cache, litellm: Any, llm_upstream: Upstream
) -> None:
    aresponses = cached(litellm.aresponses, cache=cache)
    await _refused(
        lambda: aresponses(
            model="openai/m", input=5, api_base=llm_upstream.base_url, api_key="sk-test"
        ),
        llm_upstream,
    )


async def test_bad_input_is_refused_even_with_the_cache_turned_off_for_the_call(
    openai_client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    client = Cache(type="local").wrap_openai(openai_client)
    await _refused(
        lambda: client.chat.completions.create(model="m", messages=5, cache={"no-cache": True}),
        llm_upstream,
    )


async def test_tuples_are_sequences_like_lists(client: Any, llm_upstream: Upstream) -> None:
    texts = await client.embeddings.create(model="e", input=("a", "b"))
    tokens = await client.embeddings.create(model="e", input=(1, 2, 3))
    assert len(texts.data) == 2 and len(tokens.data) == 1
    chat = await client.chat.completions.create(model="m", messages=tuple(ask()))
    assert chat.choices[0].finish_reason == "stop"
