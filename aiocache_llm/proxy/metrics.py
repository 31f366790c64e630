"""Prometheus metrics of the proxy, fed by cache events and by each request.

Labels are call types, endpoints, outcomes, HTTP statuses, namespaces and identities: never
keys, prompts or secrets. The children of each label set are looked up once and kept, so an
event costs its increments and no label lookup. The store's own counters (the stack's one
stats sink: evictions, expirations, refused values, corrupt reads, errors) are read when
scraped, as ``aiocache_llm_backend_events_total{event=...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ..llm import metric_names as m
from ..llm.events import CacheEvent

__all__ = ["CONTENT_TYPE", "ProxyMetrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_REQUEST_BUCKETS: Final = (1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True, slots=True)
class _CallTypeChildren:
    """The metric children of one call type."""

    hits: Counter
    semantic_hits: Counter
    misses: Counter
    stores: Counter
    tokens_saved: Counter
    hit_seconds: Histogram
    miss_seconds: Histogram


@dataclass(frozen=True, slots=True)
class _ScopeChildren:
    """The savings children of one (namespace, identity)."""

    prompt_tokens: Counter
    completion_tokens: Counter
    cost: Counter


class _StoreCounters(Collector):
    """The store's counters, read at each scrape."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for event, value in self._read().items():
            family.add_metric([event], value)
        yield family

    @staticmethod
    def _family() -> CounterMetricFamily:
        d = m.BACKEND_EVENTS
        return CounterMetricFamily(d.name, d.doc, labels=d.labels)


class ProxyMetrics:
    """The proxy's metrics in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def shared(d: m.MetricDef) -> Any:  # one of the library's metrics (metric_names)
            if d.type == "histogram":
                return Histogram(d.name, d.doc, d.labels, buckets=d.buckets, registry=r)
            return Counter(d.name, d.doc, d.labels, registry=r)

        def histogram(name: str, doc: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=r)

        call_type = "call_type"
        self.hits = shared(m.HITS)
        self.semantic_hits = shared(m.SEMANTIC_HITS)
        self.misses = shared(m.MISSES)
        self.stores = shared(m.STORES)
        self.errors = shared(m.ERRORS)
        self.tokens_saved = counter(
            "aiocache_llm_tokens_saved",
            "Tokens (usage.total_tokens) of answers served from the cache.",
            call_type,
        )
        self.saved_tokens = shared(m.SAVED_TOKENS)
        self.saved_cost = shared(m.SAVED_COST)
        self.lookup_seconds = shared(m.LOOKUP_SECONDS)
        self.request_seconds = histogram(
            "aiocache_llm_proxy_request_seconds",
            "Time to answer a proxied request (to the start of the body for streams).",
            _REQUEST_BUCKETS,
            "endpoint",
            "cache",
        )
        self.upstream_errors = counter(
            "aiocache_llm_proxy_upstream_errors",
            "Upstream answers with an error status, or no answer (status 502/504).",
            "endpoint",
            "status",
        )
        self._call_types: dict[str, _CallTypeChildren] = {}
        self._scopes: dict[tuple[str, str], _ScopeChildren] = {}

    def _for_call_type(self, call_type: str) -> _CallTypeChildren:
        children = self._call_types.get(call_type)
        if children is None:
            children = self._call_types[call_type] = _CallTypeChildren(
                self.hits.labels(call_type),
                self.semantic_hits.labels(call_type),
                self.misses.labels(call_type),
                self.stores.labels(call_type),
                self.tokens_saved.labels(call_type),
                self.lookup_seconds.labels(call_type, "hit"),
                self.lookup_seconds.labels(call_type, "miss"),
            )
        return children

    def _for_scope(self, scope: tuple[str, str]) -> _ScopeChildren:
        children = self._scopes.get(scope)
        if children is None:
            children = self._scopes[scope] = _ScopeChildren(
                self.saved_tokens.labels(*scope, "prompt"),
                self.saved_tokens.labels(*scope, "completion"),
                self.saved_cost.labels(*scope),
            )
        return children

    def on_event(self, event: CacheEvent) -> None:
        """A cache event callback (``Cache.add_callback``)."""
        kind = event.kind
        if kind == "error":
            self.errors.labels(event.call_type, event.reason or "unknown").inc()
            return
        if kind not in ("hit", "miss", "store"):
            return
        children = self._call_types.get(event.call_type) or self._for_call_type(event.call_type)
        if kind == "hit":
            children.hits.inc()
            children.hit_seconds.observe(event.latency)
            if event.similarity is not None:
                children.semantic_hits.inc()
            if event.tokens_saved:
                children.tokens_saved.inc(event.tokens_saved)
            saving = event.saving
            if saving is not None:
                scope = self._for_scope((saving.namespace or "", saving.identity or ""))
                scope.prompt_tokens.inc(saving.prompt_tokens)
                scope.completion_tokens.inc(saving.completion_tokens)
                if saving.cost is not None:
                    scope.cost.inc(saving.cost)
        elif kind == "miss":
            children.misses.inc()
            children.miss_seconds.observe(event.latency)
        else:
            children.stores.inc()

    def watch_store(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Expose the store's counters (``read()`` at each scrape: event name -> count)."""
        self.registry.register(_StoreCounters(read))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
