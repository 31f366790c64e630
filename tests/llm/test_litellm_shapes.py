"""LiteLLM's other call shapes wrapped with cached(): litellm.aresponses (plain and streamed),
litellm.anthropic_messages and litellm.asearch, against the stand-in upstream."""

from __future__ import annotations

import os
from typing import Any

import pytest

from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.responses import cache_info
from tests.harness.upstream import Upstream

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")

#: LiteLLM's own types trip pydantic warnings when first built; they are LiteLLM's, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Items? .* `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]


def _recorded() -> tuple[Cache, list[CacheEvent]]:
    cache = Cache()
    events: list[CacheEvent] = []
    cache.add_callback(events.append)
    return cache, events


def _responses_kwargs(upstream: Upstream, **extra: Any) -> dict[str, Any]:
    return {
        "model": "openai/m",
        "input": "hi there",
        "api_base": upstream.base_url,
        "api_key": "sk-test",
        **extra,
    }


async def test_aresponses_is_cached_as_litellms_response(llm_upstream: Upstream) -> None:
    cache, events = _recorded()
    aresponses = cached(litellm.aresponses, cache=cache)
    first = await aresponses(**_responses_kwargs(llm_upstream))
    hit = await aresponses(**_responses_kwargs(llm_upstream, api_key="sk-other"))
    assert type(hit) is type(first)
    assert hit.output[0].content[0].text == "echo: hi there"
    assert cache_info(hit)["cache_hit"] is True
    assert [e.kind for e in events] == ["miss", "store", "hit"]
    assert llm_upstream.calls("responses") == 1


async def test_the_aresponses_call_type_no_longer_skips_the_cache(llm_upstream: Upstream) -> None:
    cache, events = _recorded()

    async def proxy_to_litellm(**kwargs: Any) -> Any:
        return await litellm.aresponses(**kwargs)

    aresponses = cached(proxy_to_litellm, cache=cache, call_type="aresponses")
    await aresponses(**_responses_kwargs(llm_upstream))
    await aresponses(**_responses_kwargs(llm_upstream))
    assert "skip" not in [e.kind for e in events]
    assert llm_upstream.calls("responses") == 1


async def test_a_streamed_aresponses_replays_litellms_events(llm_upstream: Upstream) -> None:
    aresponses = cached(litellm.aresponses, cache=Cache())
    kwargs = _responses_kwargs(llm_upstream, stream=True)
    miss = [event async for event in await aresponses(**kwargs)]
    hit = [event async for event in await aresponses(**kwargs)]
    assert [type(e) for e in hit] == [type(e) for e in miss]
    assert [e.model_dump() for e in hit] == [e.model_dump() for e in miss]
    assert str(getattr(hit[-1].type, "value", hit[-1].type)) == "response.completed"
    assert llm_upstream.calls("responses") == 1


async def test_anthropic_messages_is_cached(llm_upstream: Upstream) -> None:
    messages = cached(litellm.anthropic_messages, cache=Cache())
    kwargs: dict[str, Any] = {
        "model": "anthropic/claude-test",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "hello"}],
        "api_base": llm_upstream.url,
        "api_key": "sk-test",
    }
    first = await messages(**kwargs)
    hit = await messages(**{**kwargs, "system": None})
    assert hit == first
    assert hit["content"][0]["text"] == "echo: hello"
    assert cache_info(hit)["cache_hit"] is True
    assert llm_upstream.calls("messages") == 1


def test_search_call_types_are_accepted() -> None:
    cache = Cache(supported_call_types=["search", "asearch"])
    assert cache.supported_call_types == ("search", "asearch")


async def test_asearch_is_cached_and_the_domain_filter_is_a_set(llm_upstream: Upstream) -> None:
    cache, events = _recorded()
    asearch = cached(litellm.asearch, cache=cache)
    kwargs: dict[str, Any] = {
        "query": "cats",
        "search_provider": "perplexity",
        "max_results": 2,
        "api_base": llm_upstream.url,
        "api_key": "sk-test",
    }
    first = await asearch(**kwargs, search_domain_filter=["a.example", "b.example"])
    hit = await asearch(**kwargs, search_domain_filter=["b.example", "a.example"])
    assert type(hit) is type(first)
    assert [r.title for r in hit.results] == ["cats #1", "cats #2"]
    assert cache_info(hit)["cache_hit"] is True
    other = await asearch(**{**kwargs, "max_results": 3})
    assert len(other.results) == 3
    assert [(e.kind, e.call_type) for e in events if e.kind != "store"] == [
        ("miss", "asearch"),
        ("hit", "asearch"),
        ("miss", "asearch"),
    ]
    assert llm_upstream.calls("search") == 2
