"""litellm.acompletion as the wrapped function: hits come back as LiteLLM's own types."""

from __future__ import annotations

import os
from typing import Any

import pytest

from aiocache_llm.facade import Cache
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

from ._support import ask

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")


async def test_a_mock_response_is_cached_as_a_model_response() -> None:
    acompletion = Cache().cached(litellm.acompletion)
    first = await acompletion(model="gpt-4o-mini", messages=ask(), mock_response="Paris.")
    hit = await acompletion(model="gpt-4o-mini", messages=ask(), mock_response="Paris.")
    assert type(hit) is type(first) is litellm.ModelResponse
    assert hit.choices[0].message.content == "Paris."
    assert cache_info(hit)["cache_hit"] is True


async def test_litellm_streams_are_replayed_as_its_chunk_type() -> None:
    acompletion = Cache().cached(litellm.acompletion)
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": ask(),
        "mock_response": "The capital is Paris.",
        "stream": True,
    }
    original = [c async for c in await acompletion(**kwargs)]
    replayed = [c async for c in await acompletion(**kwargs)]
    assert [type(c) for c in replayed] == [type(c) for c in original]
    assert [c.choices[0].delta.content for c in replayed] == [
        c.choices[0].delta.content for c in original
    ]


def upstream_call(upstream: Upstream, model: str = "openai/m") -> dict[str, Any]:
    """``acompletion`` arguments that reach the stand-in upstream."""
    return {"model": model, "messages": ask(), "api_base": upstream.base_url, "api_key": "sk-test"}


async def test_litellm_against_the_upstream_makes_one_request(llm_upstream: Upstream) -> None:
    acompletion = Cache().cached(litellm.acompletion)
    first = await acompletion(**upstream_call(llm_upstream))
    hit = await acompletion(**upstream_call(llm_upstream))
    assert hit.choices[0].message.content == first.choices[0].message.content
    assert llm_upstream.calls() == 1


async def test_a_hit_through_cached_acompletion_costs_nothing_where_litellm_reads_it(
    llm_upstream: Upstream,
) -> None:
    acompletion = Cache().cached(litellm.acompletion)
    first = await acompletion(**upstream_call(llm_upstream, "openai/gpt-4o-mini"))
    hit = await acompletion(**upstream_call(llm_upstream, "openai/gpt-4o-mini"))
    assert litellm.completion_cost(first) > 0
    assert litellm.completion_cost(hit) == 0.0
    assert hit._hidden_params["response_cost"] == 0.0
    assert hit._hidden_params["cache_hit"] is True
    assert hit.usage.total_tokens == first.usage.total_tokens  # what the hit saved stays readable
