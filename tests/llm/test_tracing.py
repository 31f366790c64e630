"""Each cached call is one OpenTelemetry span, through the real SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiocache_llm import Cache, cache_info
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.tracing import Tracing

from ._support import ask


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def traced(provider: TracerProvider, openai_client: AsyncOpenAI) -> tuple[Cache, Any]:
    cache = Cache(type="local", tracer_provider=provider)
    return cache, cache.wrap_openai(openai_client)


def ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("aiocache_llm ")]


async def test_a_hit_is_one_span_with_its_attributes(
    traced: tuple[Cache, Any], exporter: InMemorySpanExporter
) -> None:
    _, client = traced
    first = await client.chat.completions.create(model="m", messages=ask())
    exporter.clear()
    await client.chat.completions.create(model="m", messages=ask())
    (span,) = ours(exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "aiocache_llm acompletion"
    assert attrs["aiocache_llm.hit"] is True
    assert attrs["aiocache_llm.hit_kind"] == "exact"
    assert attrs["aiocache_llm.call_type"] == "acompletion"
    assert attrs["aiocache_llm.backend"] == "memory"
    assert attrs["aiocache_llm.tokens_saved"] == first.usage.total_tokens
    digest = attrs["aiocache_llm.key_digest"]
    assert isinstance(digest, str) and len(digest) == 16
    assert digest == cache_info(first)["cache_key"].rpartition(":")[2][:16]


async def test_a_miss_is_one_span_around_the_upstream_call_with_the_store_as_an_event(
    traced: tuple[Cache, Any], exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    cache, _ = traced
    tracer = provider.get_tracer("test")
    seen: list[Any] = []

    async def upstream(**kwargs: Any) -> dict[str, Any]:
        from opentelemetry import trace

        seen.append(trace.get_current_span().get_span_context())
        return {
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "hi"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }

    fn = cache.cached(upstream)
    with tracer.start_as_current_span("request") as parent:
        await fn(model="m", messages=ask())
    (span,) = ours(exporter)
    attrs = dict(span.attributes or {})
    assert attrs["aiocache_llm.hit"] is False and "aiocache_llm.hit_kind" not in attrs
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert seen[0].span_id == span.context.span_id  # the upstream ran inside the span
    assert [e.name for e in span.events] == ["aiocache_llm.store"]
    assert span.events[0].attributes["aiocache_llm.upstream_seconds"] >= 0  # type: ignore[index]


async def test_a_semantic_hit_reports_its_similarity_and_kind(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    cache = Cache(type="local", tracer_provider=provider)
    tracing = cache.events.tracing
    tracer = tracing.tracer()
    event = CacheEvent("hit", "k", "acompletion", "redis-semantic", similarity=0.93)
    tracing.record(tracer, event, None)
    (span,) = ours(exporter)
    assert span.attributes["aiocache_llm.hit_kind"] == "semantic"  # type: ignore[index]
    assert span.attributes["aiocache_llm.similarity"] == 0.93  # type: ignore[index]


async def test_no_prompt_text_reaches_a_span(
    traced: tuple[Cache, Any], exporter: InMemorySpanExporter
) -> None:
    _, client = traced
    secret = "my secret question about the moon"
    await client.chat.completions.create(model="m", messages=ask(secret))
    await client.chat.completions.create(model="m", messages=ask(secret))
    for span in ours(exporter):
        values = [str(v) for v in (span.attributes or {}).values()]
        values += [str(v) for e in span.events for v in (e.attributes or {}).values()]
        assert not any("moon" in v for v in values)


async def test_a_skipped_call_is_a_span_saying_why(
    traced: tuple[Cache, Any], exporter: InMemorySpanExporter
) -> None:
    _, client = traced
    await client.chat.completions.create(
        model="m", messages=ask(), cache={"no-cache": True, "no-store": True}
    )
    (span,) = ours(exporter)
    assert span.attributes["aiocache_llm.result"] == "skip"  # type: ignore[index]
    assert span.attributes["aiocache_llm.reason"] == "no-cache, no-store"  # type: ignore[index]


async def test_tracing_off_makes_no_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, openai_client: AsyncOpenAI
) -> None:
    cache = Cache(type="local", tracer_provider=provider, tracing=False)
    client = cache.wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    assert ours(exporter) == []
    assert cache.events.counters["hit"] == 1


def test_without_a_provider_there_is_no_tracer() -> None:
    from opentelemetry import trace

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("a global tracer provider is set in this process")
    assert Tracing().tracer() is None
