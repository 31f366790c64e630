"""OpenTelemetry instruments of one cache's metrics (through ``opentelemetry-api``).

The same names, labels (as attributes) and buckets as the Prometheus collector
(:mod:`.metric_names`): counters and histograms record each event; the breaker's state and the
store's counters are observed when the SDK collects. Without an SDK every instrument is the
API's no-op.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics as otel

from . import metric_names as m
from .events import CacheEvent
from .metrics import CacheState, labels_of_event

__all__ = ["OtelMetrics"]


class OtelMetrics:
    """Records a cache's events into OpenTelemetry instruments (register :meth:`on_event`
    as a callback)."""

    def __init__(
        self, state: CacheState, meter_provider: Any = None, *, identity_labels: bool = False
    ) -> None:
        provider = meter_provider if meter_provider is not None else otel.get_meter_provider()
        meter = provider.get_meter("aiocache_llm")
        self.state = state
        self.identity_labels = identity_labels
        self._counters: dict[m.MetricDef, Any] = {}
        self._histograms: dict[m.MetricDef, Any] = {}
        for metric in m.LIBRARY_METRICS:
            if metric.type == "histogram":
                self._histograms[metric] = meter.create_histogram(
                    metric.name,
                    unit=metric.unit,
                    description=metric.doc,
                    explicit_bucket_boundaries_advisory=list(metric.buckets),
                )
            elif metric is m.BREAKER_OPEN:
                meter.create_observable_gauge(
                    metric.name, [self._breaker_open], description=metric.doc
                )
            elif metric is m.BREAKER_OPENED:
                meter.create_observable_counter(
                    metric.name, [self._breaker_opened], description=metric.doc
                )
            elif metric is m.BACKEND_EVENTS:
                meter.create_observable_counter(
                    metric.name, [self._store_events], description=metric.doc
                )
            else:
                self._counters[metric] = meter.create_counter(
                    metric.name, unit=metric.unit, description=metric.doc
                )

    def _attributes(self, metric: m.MetricDef, values: tuple[str, ...]) -> dict[str, str]:
        return {
            name: value
            for name, value in zip(metric.labels, values, strict=True)
            if self.identity_labels or name != "identity"
        }

    def on_event(self, event: CacheEvent) -> None:
        """A cache event callback (``Cache.add_callback``)."""
        for metric, values, amount in labels_of_event(event):
            self._counters[metric].add(amount, self._attributes(metric, values))
        if event.kind in ("hit", "miss"):
            attributes = {"call_type": event.call_type, "result": event.kind}
            self._histograms[m.LOOKUP_SECONDS].record(event.latency, attributes)
        if event.upstream_latency is not None:
            self._histograms[m.UPSTREAM_SECONDS].record(
                event.upstream_latency, {"call_type": event.call_type}
            )

    def _breaker_open(self, options: Any) -> Iterable[otel.Observation]:
        breaker = self.state.breaker()
        if breaker is not None:
            value = 1 if breaker.get("state") == "open" else 0
            yield otel.Observation(value, {"backend": self.state.backend})

    def _breaker_opened(self, options: Any) -> Iterable[otel.Observation]:
        breaker = self.state.breaker()
        if breaker is not None:
            value = int(breaker.get("times_opened", 0))
            yield otel.Observation(value, {"backend": self.state.backend})

    def _store_events(self, options: Any) -> Iterable[otel.Observation]:
        for event, value in self.state.store().items():
            yield otel.Observation(value, {"event": event})
