"""The proxy's metrics count each event under its own labels (children kept per label set)."""

from __future__ import annotations

from aiocache_llm.llm.events import CacheEvent, Saving
from aiocache_llm.proxy.metrics import ProxyMetrics


def _hit(call_type: str, namespace: str | None, identity: str | None) -> CacheEvent:
    saving = Saving(namespace, identity, "gpt-test", 3, 5, 0.25)
    return CacheEvent("hit", "k", call_type, "memory", 0.001, 0.9, 8, saving=saving)


def test_events_count_under_their_own_call_type_and_scope() -> None:
    metrics = ProxyMetrics()
    for event in (
        _hit("acompletion", "team-a", "alice"),
        _hit("acompletion", "team-a", "alice"),
        _hit("aembedding", None, None),
        CacheEvent("miss", "k", "acompletion", "memory", 0.002),
        CacheEvent("store", "k", "aembedding", "memory"),
        CacheEvent("error", "k", "acompletion", "memory", reason="lookup"),
        CacheEvent("skip", None, "atext_completion", "memory", reason="disabled"),
    ):
        metrics.on_event(event)

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("aiocache_llm_cache_hits_total", call_type="acompletion") == 2
    assert value("aiocache_llm_cache_hits_total", call_type="aembedding") == 1
    assert value("aiocache_llm_cache_semantic_hits_total", call_type="acompletion") == 2
    assert value("aiocache_llm_tokens_saved_total", call_type="acompletion") == 16
    assert value("aiocache_llm_cache_misses_total", call_type="acompletion") == 1
    assert value("aiocache_llm_cache_stores_total", call_type="aembedding") == 1
    assert value("aiocache_llm_cache_stores_total", call_type="acompletion") == 0
    errors = value("aiocache_llm_cache_errors_total", call_type="acompletion", operation="lookup")
    assert errors == 1
    scope = {"namespace": "team-a", "identity": "alice"}
    assert value("aiocache_llm_saved_tokens_total", **scope, kind="prompt") == 6
    assert value("aiocache_llm_saved_tokens_total", **scope, kind="completion") == 10
    assert value("aiocache_llm_saved_cost_usd_total", **scope) == 0.5
    assert value("aiocache_llm_saved_tokens_total", namespace="", identity="", kind="prompt") == 3
    hit_count = value(
        "aiocache_llm_cache_lookup_seconds_count", call_type="acompletion", result="hit"
    )
    assert hit_count == 2
    assert value("aiocache_llm_cache_hits_total", call_type="atext_completion") is None


def test_the_stores_counters_are_read_at_each_scrape() -> None:
    counts = {"corrupt_reads": 0, "errors": 2}
    metrics = ProxyMetrics()
    metrics.watch_store(lambda: counts)
    counts["corrupt_reads"] = 3
    text = metrics.render().decode()
    assert 'aiocache_llm_backend_events_total{event="corrupt_reads"} 3.0' in text
    assert 'aiocache_llm_backend_events_total{event="errors"} 2.0' in text
