"""A cache's metrics for library users: running totals of its events, and what exports them.

:class:`CacheMetrics` is a callback on the cache's events (the shared event mechanism: the
same events callbacks and spans get) that keeps counters and latency histograms by the labels
of :mod:`.metric_names`; the Prometheus collector (:mod:`.prometheus`) reads them when scraped,
with the breaker's state and the store's own counters read at that moment. OpenTelemetry
instruments (:mod:`.otel_metrics`) record the same events under the same names.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import metric_names as m
from .events import CacheEvent
from .tracing import hit_kind

__all__ = ["CacheMetrics", "CacheState", "Histogram", "labels_of_event"]

#: Hit kinds with a counter of their own (besides the total of hits).
_KIND_METRICS = {
    "semantic": m.SEMANTIC_HITS,
    "coalesced": m.COALESCED_HITS,
    "stale": m.STALE_HITS,
}


@dataclass
class Histogram:
    """Counts per bucket (``le`` bounds, then +Inf), their sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count of values <= le)`` pairs, ending with ``+Inf``."""
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


@dataclass(frozen=True)
class CacheState:
    """What is read from the cache when metrics are exported (not from events)."""

    backend: str
    #: the breaker's snapshot (``state``, ``times_opened``, ...), ``None`` when unguarded
    breaker: Callable[[], Mapping[str, Any] | None]
    #: the store's own counters (event name -> count)
    store: Callable[[], Mapping[str, int]]


def labels_of_event(event: CacheEvent) -> list[tuple[m.MetricDef, tuple[str, ...], float]]:
    """The counter increments one event makes, as ``(metric, label values, amount)``, with
    the ``identity`` label of the saving metrics in place (exporters drop it unless asked)."""
    kind, call_type = event.kind, event.call_type
    if kind == "hit":
        out: list[tuple[m.MetricDef, tuple[str, ...], float]] = [(m.HITS, (call_type,), 1.0)]
        extra = _KIND_METRICS.get(hit_kind(event) or "")
        if extra is not None:
            out.append((extra, (call_type,), 1.0))
        saving = event.saving
        if saving is not None:
            scope = (saving.namespace or "", saving.identity or "")
            out.append((m.SAVED_TOKENS, (*scope, "prompt"), float(saving.prompt_tokens)))
            out.append((m.SAVED_TOKENS, (*scope, "completion"), float(saving.completion_tokens)))
            if saving.cost is not None:
                out.append((m.SAVED_COST, scope, saving.cost))
        return out
    if kind == "miss":
        return [(m.MISSES, (call_type,), 1.0)]
    if kind == "store":
        return [(m.STORES, (call_type,), 1.0)]
    if kind == "skip":
        return [(m.SKIPS, (call_type, event.reason or "unknown"), 1.0)]
    return [(m.ERRORS, (call_type, event.reason or "unknown"), 1.0)]


class CacheMetrics:
    """Counters and histograms of one cache's events (register :meth:`on_event` as a
    callback); ``identity_labels`` keeps the caller's identity as a label of the savings."""

    def __init__(self, state: CacheState, *, identity_labels: bool = False) -> None:
        self.state = state
        self.identity_labels = identity_labels
        self._lock = threading.Lock()
        self.counters: dict[m.MetricDef, dict[tuple[str, ...], float]] = {}
        self.histograms: dict[m.MetricDef, dict[tuple[str, ...], Histogram]] = {
            m.LOOKUP_SECONDS: {},
            m.UPSTREAM_SECONDS: {},
        }

    def on_event(self, event: CacheEvent) -> None:
        """A cache event callback (``Cache.add_callback``)."""
        increments = labels_of_event(event)
        with self._lock:
            counters = self.counters
            for metric, labels, amount in increments:
                if not self.identity_labels and "identity" in metric.labels:
                    labels = _without_identity(metric, labels)
                series = counters.get(metric)
                if series is None:
                    series = counters[metric] = {}
                series[labels] = series.get(labels, 0.0) + amount
            if event.kind in ("hit", "miss"):
                self._observe(m.LOOKUP_SECONDS, (event.call_type, event.kind), event.latency)
            if event.upstream_latency is not None:
                self._observe(m.UPSTREAM_SECONDS, (event.call_type,), event.upstream_latency)

    def _observe(self, metric: m.MetricDef, labels: tuple[str, ...], value: float) -> None:
        series = self.histograms[metric]
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = Histogram(metric.buckets)
        histogram.observe(value)

    def snapshot(
        self,
    ) -> tuple[
        dict[m.MetricDef, dict[tuple[str, ...], float]],
        dict[m.MetricDef, dict[tuple[str, ...], Histogram]],
    ]:
        """Copies of the counters and histograms, taken under the lock."""
        with self._lock:
            counters = {k: dict(v) for k, v in self.counters.items()}
            histograms = {
                k: {
                    labels: Histogram(h.bounds, list(h.counts), h.total, h.count)
                    for labels, h in v.items()
                }
                for k, v in self.histograms.items()
            }
        return counters, histograms

    def labels(self, metric: m.MetricDef) -> tuple[str, ...]:
        return metric.labels_for(self.identity_labels)


def _without_identity(metric: m.MetricDef, labels: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v for name, v in zip(metric.labels, labels, strict=True) if name != "identity")
