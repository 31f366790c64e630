"""The cache's metrics, defined once: names, help, labels and buckets.

Both the library's exporters (:mod:`aiocache_llm.llm.metrics`: a Prometheus collector and
OpenTelemetry instruments) and the proxy's ``/metrics`` build their metrics from these
definitions, so a dashboard reads the same series from either. Names follow Prometheus's rules:
``aiocache_llm_`` prefix, base units (seconds), counters exposed with ``_total``. Labels are
call types, operations, reasons, results, namespaces and events: never keys, prompts or
secrets. ``identity`` (one series per caller) is opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "BACKEND_EVENTS",
    "BREAKER_OPEN",
    "BREAKER_OPENED",
    "COALESCED_HITS",
    "ERRORS",
    "HITS",
    "LIBRARY_METRICS",
    "LOOKUP_BUCKETS",
    "LOOKUP_SECONDS",
    "MISSES",
    "MetricDef",
    "SAVED_COST",
    "SAVED_TOKENS",
    "SEMANTIC_HITS",
    "SKIPS",
    "STALE_HITS",
    "STORES",
    "UPSTREAM_BUCKETS",
    "UPSTREAM_SECONDS",
]

LOOKUP_BUCKETS: Final = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5)
UPSTREAM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric: its Prometheus name (without ``_total``), help, labels and type."""

    name: str
    doc: str
    labels: tuple[str, ...]
    type: Literal["counter", "histogram", "gauge"] = "counter"
    buckets: tuple[float, ...] = ()
    unit: str = ""

    def labels_for(self, identity: bool) -> tuple[str, ...]:
        """The labels, without ``identity`` unless ``identity`` is asked for."""
        return self.labels if identity else tuple(x for x in self.labels if x != "identity")


def _defs(*rows: tuple[str, str, str, str]) -> dict[str, MetricDef]:
    """``(name, type, labels, help)`` rows as definitions (histograms are in seconds)."""
    out = {}
    for name, kind, labels, doc in rows:
        histogram = kind == "histogram"
        buckets = (LOOKUP_BUCKETS if "lookup" in name else UPSTREAM_BUCKETS) if histogram else ()
        out[name] = MetricDef(
            "aiocache_llm_" + name,
            doc,
            tuple(labels.split()),
            kind,  # type: ignore[arg-type]
            buckets,
            "s" if histogram else "",
        )
    return out


_DEFS: Final = _defs(
    ("cache_hits", "counter", "call_type", "Requests answered from the cache."),
    (
        "cache_semantic_hits",
        "counter",
        "call_type",
        "Requests answered by a similar cached question.",
    ),
    (
        "cache_coalesced_hits",
        "counter",
        "call_type",
        "Requests answered by an identical request in flight (one upstream call for both).",
    ),
    (
        "cache_stale_hits",
        "counter",
        "call_type",
        "Requests answered by an expired entry (stale-if-error, stale-while-revalidate).",
    ),
    ("cache_misses", "counter", "call_type", "Lookups that found nothing."),
    ("cache_stores", "counter", "call_type", "Answers written to the cache."),
    (
        "cache_errors",
        "counter",
        "call_type operation",
        "Cache operations that failed (the request went upstream).",
    ),
    (
        "cache_skips",
        "counter",
        "call_type reason",
        "Requests that went upstream past the cache, by reason (disabled, circuit-open, ...).",
    ),
    (
        "saved_tokens",
        "counter",
        "namespace identity kind",
        "Tokens of answers served from the cache, by namespace, identity and kind.",
    ),
    (
        "saved_cost_usd",
        "counter",
        "namespace identity",
        "What answers served from the cache would have cost (priced models only).",
    ),
    ("cache_lookup_seconds", "histogram", "call_type result", "Time spent looking up the cache."),
    (
        "upstream_seconds",
        "histogram",
        "call_type",
        "Time the upstream took to answer a cache miss (to the end of a stream).",
    ),
    (
        "circuit_breaker_open",
        "gauge",
        "backend",
        "1 while the backend's circuit breaker is open (calls skip the cache), else 0.",
    ),
    ("circuit_breaker_opened", "counter", "backend", "Times the backend's circuit breaker opened."),
    (
        "backend_events",
        "counter",
        "event",
        "What the cache's store handled without raising (evictions, expirations, refused"
        " values, corrupt reads, errors), as counted by the store and its middlewares.",
    ),
)

HITS: Final = _DEFS["cache_hits"]
SEMANTIC_HITS: Final = _DEFS["cache_semantic_hits"]
COALESCED_HITS: Final = _DEFS["cache_coalesced_hits"]
STALE_HITS: Final = _DEFS["cache_stale_hits"]
MISSES: Final = _DEFS["cache_misses"]
STORES: Final = _DEFS["cache_stores"]
ERRORS: Final = _DEFS["cache_errors"]
SKIPS: Final = _DEFS["cache_skips"]
SAVED_TOKENS: Final = _DEFS["saved_tokens"]
SAVED_COST: Final = _DEFS["saved_cost_usd"]
LOOKUP_SECONDS: Final = _DEFS["cache_lookup_seconds"]
UPSTREAM_SECONDS: Final = _DEFS["upstream_seconds"]
BREAKER_OPEN: Final = _DEFS["circuit_breaker_open"]
BREAKER_OPENED: Final = _DEFS["circuit_breaker_opened"]
BACKEND_EVENTS: Final = _DEFS["backend_events"]

#: Every metric a library cache exports, in exposition order.
LIBRARY_METRICS: Final = tuple(_DEFS.values())
