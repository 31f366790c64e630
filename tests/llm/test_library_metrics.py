"""A library cache's metrics: scraped by Prometheus, recorded by OpenTelemetry, named as the
proxy's."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aiocache_llm import Cache
from aiocache_llm.llm import metric_names as m
from aiocache_llm.proxy.metrics import ProxyMetrics

from ._support import ask


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``registry``: (name, sorted labels) -> value."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_cache_registered_in_one_line_is_scraped_with_hits_misses_and_latency(
    openai_client: AsyncOpenAI,
) -> None:
    cache = Cache(type="local", namespace="team-a")
    registry = CollectorRegistry()
    cache.register_metrics(registry)
    client = cache.wrap_openai(openai_client)
    first = await client.chat.completions.create(model="m", messages=ask())
    await client.chat.completions.create(model="m", messages=ask())
    samples = scrape(registry)
    acompletion = (("call_type", "acompletion"),)
    assert samples[("aiocache_llm_cache_hits_total", acompletion)] == 1
    assert samples[("aiocache_llm_cache_misses_total", acompletion)] == 1
    assert samples[("aiocache_llm_cache_stores_total", acompletion)] == 1
    hit_lookups = (("call_type", "acompletion"), ("result", "hit"))
    assert samples[("aiocache_llm_cache_lookup_seconds_count", hit_lookups)] == 1
    assert samples[("aiocache_llm_upstream_seconds_count", acompletion)] == 1
    prompt = (("kind", "prompt"), ("namespace", "team-a"))
    assert samples[("aiocache_llm_saved_tokens_total", prompt)] == first.usage.prompt_tokens
    assert not any("identity" in dict(labels) for _, labels in samples)


async def test_identity_labels_are_opt_in(openai_client: AsyncOpenAI) -> None:
    cache = Cache(type="local", identity=lambda kwargs: kwargs.get("user"))
    registry = CollectorRegistry()
    registry.register(cache.prometheus_collector(identity_labels=True))
    client = cache.wrap_openai(openai_client)
    for _ in range(2):
        await client.chat.completions.create(model="m", messages=ask(), user="alice")
    samples = scrape(registry)
    saved = [dict(labels) for name, labels in samples if name == "aiocache_llm_saved_tokens_total"]
    assert saved and all(labels["identity"] == "alice" for labels in saved)


async def test_skips_and_the_breaker_state_are_exported() -> None:
    cache = Cache(
        type="redis",
        host="127.0.0.1",
        port=1,  # nothing listens there: every operation fails
        backend_deadline=0.5,
        circuit_breaker={"failure_threshold": 1, "recovery_time": 60},
    )
    registry = CollectorRegistry()
    cache.register_metrics(registry)

    async def upstream(**kwargs: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "x"}}]}

    fn = cache.cached(upstream)
    try:
        for _ in range(3):
            await fn(model="m", messages=ask())
        samples = scrape(registry)
    finally:
        await cache.async_disconnect()
    backend = (("backend", cache.backend.backend_name),)
    assert samples[("aiocache_llm_circuit_breaker_open", backend)] == 1
    assert samples[("aiocache_llm_circuit_breaker_opened_total", backend)] == 1
    skipped = (("call_type", "acompletion"), ("reason", "circuit-open"))
    assert samples[("aiocache_llm_cache_skips_total", skipped)] >= 1
    assert sum(v for (name, _), v in samples.items() if name == "aiocache_llm_cache_errors_total")


async def test_opentelemetry_instruments_carry_the_same_names(
    openai_client: AsyncOpenAI,
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        cache = Cache(type="local")
        cache.enable_otel_metrics(provider)
        client = cache.wrap_openai(openai_client)
        for _ in range(2):
            await client.chat.completions.create(model="m", messages=ask())
        data = reader.get_metrics_data()
    finally:
        provider.shutdown()
    assert data is not None
    points = {
        metric.name: metric.data.data_points
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    (hits,) = points[m.HITS.name]
    assert hits.value == 1 and dict(hits.attributes or {}) == {"call_type": "acompletion"}
    lookups = points[m.LOOKUP_SECONDS.name]
    assert sum(p.count for p in lookups) == 2  # type: ignore[attr-defined]
    assert m.BACKEND_EVENTS.name in points


def test_the_proxy_exports_the_shared_metrics_by_the_same_names_and_labels() -> None:
    proxy = ProxyMetrics()
    described = {
        family.name: family for collector in [proxy.registry] for family in collector.collect()
    }
    for metric in (m.HITS, m.SEMANTIC_HITS, m.MISSES, m.STORES, m.ERRORS, m.LOOKUP_SECONDS):
        assert metric.name in described, metric.name
    cache_families = {
        family.name: family
        for family in Cache(type="local").prometheus_collector(identity_labels=True).describe()
    }
    for name in described:
        if name in cache_families:
            assert described[name].type == cache_families[name].type


@pytest.mark.parametrize("metric", m.LIBRARY_METRICS, ids=lambda d: d.name)
def test_metric_names_follow_prometheus_rules(metric: m.MetricDef) -> None:
    assert metric.name.startswith("aiocache_llm_")
    assert not metric.name.endswith("_total")  # the client adds it to counters
    assert metric.name == metric.name.lower()
    if metric.type == "histogram":
        assert metric.name.endswith("_seconds") and metric.unit == "s"
