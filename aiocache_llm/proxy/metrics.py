"""Prometheus metrics of the proxy, fed by cache events and by each request.

Labels are call types, endpoints, outcomes, HTTP statuses, namespaces and identities: never
keys, prompts or secrets.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..events import CacheEvent

__all__ = ["CONTENT_TYPE", "ProxyMetrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
_LOOKUP_BUCKETS: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
)
_REQUEST_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)


class ProxyMetrics:
    """The proxy's metrics in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.hits = Counter(
            "aiocache_llm_cache_hits",
            "Requests answered from the cache.",
            ["call_type"],
            registry=r,
        )
        self.semantic_hits = Counter(
            "aiocache_llm_cache_semantic_hits",
            "Requests answered by a similar cached question.",
            ["call_type"],
            registry=r,
        )
        self.misses = Counter(
            "aiocache_llm_cache_misses", "Lookups that found nothing.", ["call_type"], registry=r
        )
        self.stores = Counter(
            "aiocache_llm_cache_stores", "Answers written to the cache.", ["call_type"], registry=r
        )
        self.errors = Counter(
            "aiocache_llm_cache_errors",
            "Cache operations that failed (the request went upstream).",
            ["call_type", "operation"],
            registry=r,
        )
        self.tokens_saved = Counter(
            "aiocache_llm_tokens_saved",
            "Tokens (usage.total_tokens) of answers served from the cache.",
            ["call_type"],
            registry=r,
        )
        self.saved_tokens = Counter(
            "aiocache_llm_saved_tokens",
            "Tokens of answers served from the cache, by namespace, identity and kind.",
            ["namespace", "identity", "kind"],
            registry=r,
        )
        self.saved_cost = Counter(
            "aiocache_llm_saved_cost_usd",
            "What answers served from the cache would have cost (priced models only).",
            ["namespace", "identity"],
            registry=r,
        )
        self.lookup_seconds = Histogram(
            "aiocache_llm_cache_lookup_seconds",
            "Time spent looking up the cache.",
            ["call_type", "result"],
            buckets=_LOOKUP_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "aiocache_llm_proxy_request_seconds",
            "Time to answer a proxied request (to the start of the body for streams).",
            ["endpoint", "cache"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.upstream_errors = Counter(
            "aiocache_llm_proxy_upstream_errors",
            "Upstream answers with an error status, or no answer (status 502/504).",
            ["endpoint", "status"],
            registry=r,
        )

    def on_event(self, event: CacheEvent) -> None:
        """A cache event callback (``Cache.add_callback``)."""
        kind, call_type = event.kind, event.call_type
        if kind == "hit":
            self.hits.labels(call_type).inc()
            self.lookup_seconds.labels(call_type, "hit").observe(event.latency)
            if event.similarity is not None:
                self.semantic_hits.labels(call_type).inc()
            if event.tokens_saved:
                self.tokens_saved.labels(call_type).inc(event.tokens_saved)
            saving = event.saving
            if saving is not None:
                scope = (saving.namespace or "", saving.identity or "")
                self.saved_tokens.labels(*scope, "prompt").inc(saving.prompt_tokens)
                self.saved_tokens.labels(*scope, "completion").inc(saving.completion_tokens)
                if saving.cost is not None:
                    self.saved_cost.labels(*scope).inc(saving.cost)
        elif kind == "miss":
            self.misses.labels(call_type).inc()
            self.lookup_seconds.labels(call_type, "miss").observe(event.latency)
        elif kind == "store":
            self.stores.labels(call_type).inc()
        elif kind == "error":
            self.errors.labels(call_type, event.reason or "unknown").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
