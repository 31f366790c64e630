"""A Prometheus collector of one cache's metrics (needs ``prometheus-client``).

Register it once: ``prometheus_client.REGISTRY.register(cache.prometheus_collector())`` or
``cache.register_metrics()``. Every metric of
:data:`~aiocache_llm.llm.metric_names.LIBRARY_METRICS` is exposed, by the names and labels
the proxy uses.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from . import metric_names as m
from .metrics import CacheMetrics

__all__ = ["CacheCollector"]


class CacheCollector(Collector):
    """Reads a :class:`CacheMetrics` (and the cache's breaker and store) at each scrape."""

    def __init__(self, metrics: CacheMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        for metric in m.LIBRARY_METRICS:
            yield self._family(metric)

    def _family(self, metric: m.MetricDef) -> Metric:
        labels = self.metrics.labels(metric)
        if metric.type == "histogram":
            return HistogramMetricFamily(metric.name, metric.doc, labels=labels)
        if metric.type == "gauge":
            return GaugeMetricFamily(metric.name, metric.doc, labels=labels)
        return CounterMetricFamily(metric.name, metric.doc, labels=labels)

    def collect(self) -> Iterator[Metric]:
        counters, histograms = self.metrics.snapshot()
        state = self.metrics.state
        breaker = state.breaker()
        store = state.store()
        for metric in m.LIBRARY_METRICS:
            family = self._family(metric)
            if metric in histograms:
                for labels, h in sorted(histograms[metric].items()):
                    family.add_metric(list(labels), h.cumulative(), h.total)  # type: ignore[attr-defined]
            elif metric is m.BREAKER_OPEN:
                if breaker is not None:
                    open_ = 1.0 if breaker.get("state") == "open" else 0.0
                    family.add_metric([state.backend], open_)  # type: ignore[attr-defined]
            elif metric is m.BREAKER_OPENED:
                if breaker is not None:
                    opened = float(breaker.get("times_opened", 0))
                    family.add_metric([state.backend], opened)  # type: ignore[attr-defined]
            elif metric is m.BACKEND_EVENTS:
                for event, count in sorted(store.items()):
                    family.add_metric([event], count)  # type: ignore[attr-defined]
            else:
                for labels, value in sorted(counters.get(metric, {}).items()):
                    family.add_metric(list(labels), value)  # type: ignore[attr-defined]
            yield family
