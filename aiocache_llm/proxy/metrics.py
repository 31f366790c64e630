"""Prometheus metrics of the proxy, fed by cache events and by each request.

Labels are call types, endpoints, outcomes, HTTP statuses and skip reasons; namespaces and
identities only when ``identity_labels`` is on (their number is unbounded): never keys,
prompts or secrets. Saved tokens are counted once, by kind (``prompt`` / ``completion``); the
circuit breaker's state and the calls that skipped the cache are exported too.
The children of each label set are looked up once and kept, so an
event costs its increments and no label lookup. The store's own counters (the stack's one
stats sink: evictions, expirations, refused values, corrupt reads, errors) are read when
scraped, as ``aiocache_llm_backend_events_total{event=...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ..llm.events import CacheEvent


class BreakerView(Protocol):
    """What the metrics read of a circuit breaker."""

    @property
    def state(self) -> str: ...

    @property
    def times_opened(self) -> int: ...


__all__ = ["CONTENT_TYPE", "BreakerView", "ProxyMetrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_LOOKUP_BUCKETS: Final = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5)
_REQUEST_BUCKETS: Final = (1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True, slots=True)
class _CallTypeChildren:
    """The metric children of one call type."""

    hits: Counter
    semantic_hits: Counter
    misses: Counter
    stores: Counter
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
        return CounterMetricFamily(
            "aiocache_llm_backend_events",
            "What the cache's store handled without raising (evictions, expirations, refused"
            " values, corrupt reads, errors), as counted by the store and its middlewares.",
            labels=["event"],
        )


class _BreakerState(Collector):
    """The circuit breaker's state, read at each scrape (1 for the current state)."""

    def __init__(self, read: Callable[[], BreakerView | None]) -> None:
        self._read = read

    def describe(self) -> Iterator[Metric]:
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._read())

    @staticmethod
    def _families(breaker: BreakerView | None) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "aiocache_llm_cache_breaker_state",
            "The cache backend's circuit breaker: 1 for its current state (open: calls skip"
            " the cache).",
            labels=["state"],
        )
        opened = CounterMetricFamily(
            "aiocache_llm_cache_breaker_opened",
            "How many times the cache backend's circuit breaker opened.",
        )
        if breaker is not None:
            current = breaker.state
            for name in ("closed", "open", "half_open"):
                state.add_metric([name], 1.0 if name == current else 0.0)
            opened.add_metric([], breaker.times_opened)
        yield state
        yield opened


class ProxyMetrics:
    """The proxy's metrics in a registry of their own (one per app)."""

    def __init__(self, *, identity_labels: bool = False) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.identity_labels = identity_labels
        scope_labels = ("namespace", "identity") if identity_labels else ()

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def histogram(name: str, doc: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=r)

        call_type = "call_type"
        self.hits = counter(
            "aiocache_llm_cache_hits", "Requests answered from the cache.", call_type
        )
        self.semantic_hits = counter(
            "aiocache_llm_cache_semantic_hits",
            "Requests answered by a similar cached question.",
            call_type,
        )
        self.misses = counter("aiocache_llm_cache_misses", "Lookups that found nothing.", call_type)
        self.stores = counter(
            "aiocache_llm_cache_stores", "Answers written to the cache.", call_type
        )
        self.errors = counter(
            "aiocache_llm_cache_errors",
            "Cache operations that failed (the request went upstream).",
            call_type,
            "operation",
        )
        self.skips = counter(
            "aiocache_llm_cache_skips",
            "Calls that did not use the cache, by reason (circuit-open: the breaker was open).",
            call_type,
            "reason",
        )
        self.saved_tokens = counter(
            "aiocache_llm_saved_tokens",
            "Tokens of answers served from the cache, by kind (prompt, completion).",
            call_type,
            *scope_labels,
            "kind",
        )
        self.saved_cost = counter(
            "aiocache_llm_saved_cost_usd",
            "What answers served from the cache would have cost (priced models: litellm's"
            " cost map when litellm is installed, or cache_params.prices).",
            call_type,
            *scope_labels,
        )
        self.lookup_seconds = histogram(
            "aiocache_llm_cache_lookup_seconds",
            "Time spent looking up the cache.",
            _LOOKUP_BUCKETS,
            call_type,
            "result",
        )
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
        self._scopes: dict[tuple[str, ...], _ScopeChildren] = {}

    def _for_call_type(self, call_type: str) -> _CallTypeChildren:
        children = self._call_types.get(call_type)
        if children is None:
            children = self._call_types[call_type] = _CallTypeChildren(
                self.hits.labels(call_type),
                self.semantic_hits.labels(call_type),
                self.misses.labels(call_type),
                self.stores.labels(call_type),
                self.lookup_seconds.labels(call_type, "hit"),
                self.lookup_seconds.labels(call_type, "miss"),
            )
        return children

    def _for_scope(self, scope: tuple[str, ...]) -> _ScopeChildren:
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
        if kind == "skip":
            self.skips.labels(event.call_type, event.reason or "unknown").inc()
            return
        if kind not in ("hit", "miss", "store"):
            return
        children = self._call_types.get(event.call_type) or self._for_call_type(event.call_type)
        if kind == "hit":
            children.hits.inc()
            children.hit_seconds.observe(event.latency)
            if event.similarity is not None:
                children.semantic_hits.inc()
            saving = event.saving
            if saving is not None:
                labels: tuple[str, ...] = (event.call_type,)
                if self.identity_labels:
                    labels += (saving.namespace or "", saving.identity or "")
                scope = self._scopes.get(labels) or self._for_scope(labels)
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

    def watch_breaker(self, read: Callable[[], BreakerView | None]) -> None:
        """Expose the circuit breaker's state (``read()`` at each scrape)."""
        self.registry.register(_BreakerState(read))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
