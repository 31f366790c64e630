"""The proxy's metrics count each event under its own labels (children kept per label set)."""

from __future__ import annotations

from aiocache_llm.llm.events import CacheEvent, Saving
from aiocache_llm.middleware.builders import CircuitBreaker
from aiocache_llm.proxy.metrics import ProxyMetrics


def _hit(call_type: str, namespace: str | None, identity: str | None) -> CacheEvent:
    saving = Saving(namespace, identity, "gpt-test", 3, 5, 0.25)
    return CacheEvent("hit", "k", call_type, "memory", 0.001, 0.9, 8, saving=saving)


def test_events_count_under_their_own_call_type_and_scope() -> None:
    metrics = ProxyMetrics(identity_labels=True)
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
    assert value("aiocache_llm_cache_misses_total", call_type="acompletion") == 1
    assert value("aiocache_llm_cache_stores_total", call_type="aembedding") == 1
    assert value("aiocache_llm_cache_stores_total", call_type="acompletion") == 0
    errors = value("aiocache_llm_cache_errors_total", call_type="acompletion", operation="lookup")
    assert errors == 1
    scope = {"namespace": "team-a", "identity": "alice"}
    assert value("aiocache_llm_saved_tokens_total", **scope, kind="prompt") == 6
    assert value("aiocache_llm_saved_tokens_total", **scope, kind="completion") == 10
    assert value("aiocache_llm_saved_cost_usd_total", **scope) == 0.5
    anonymous = {"namespace": "", "identity": ""}
    assert value("aiocache_llm_saved_tokens_total", **anonymous, kind="prompt") == 3
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


def test_saved_tokens_are_one_metric_without_identity_labels_by_default() -> None:
    metrics = ProxyMetrics()
    metrics.on_event(_hit("acompletion", "team-a", "alice"))
    metrics.on_event(CacheEvent("skip", None, "acompletion", "memory", reason="circuit-open"))
    text = metrics.render().decode()
    assert "alice" not in text and "team-a" not in text
    assert "aiocache_llm_tokens_saved" not in text
    saved = 'aiocache_llm_saved_tokens_total{identity="",kind="prompt",namespace=""} 3.0'
    assert saved in text
    skips = 'aiocache_llm_cache_skips_total{call_type="acompletion",reason="circuit-open"} 1.0'
    assert skips in text


def test_the_breaker_state_is_read_at_each_scrape() -> None:
    breaker = CircuitBreaker(failure_threshold=1, recovery_time=60)
    metrics = ProxyMetrics()
    metrics.watch_breaker(lambda: breaker, "redis")
    closed = metrics.render().decode()
    breaker.record_failure()
    opened = metrics.render().decode()
    assert 'aiocache_llm_circuit_breaker_open{backend="redis"} 0.0' in closed
    assert 'aiocache_llm_circuit_breaker_open{backend="redis"} 1.0' in opened
    assert 'aiocache_llm_circuit_breaker_opened_total{backend="redis"} 1.0' in opened
