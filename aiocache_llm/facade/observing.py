"""What a ``Cache`` shows of itself: its metrics, for Prometheus and OpenTelemetry, made from
its events (the same names and labels as the proxy's, see :mod:`aiocache_llm.llm.metric_names`)."""

from __future__ import annotations

from typing import Any

from ..llm.events import EventBus
from ..llm.metrics import CacheMetrics, CacheState
from ..middleware.builders import GuardedCache
from ..storage.base import BaseCache

__all__ = ["Observable"]


class Observable:
    """The metrics methods of :class:`~aiocache_llm.facade.Cache`."""

    events: EventBus
    backend: BaseCache
    guarded: BaseCache

    def metrics(self, *, identity_labels: bool = False) -> CacheMetrics:
        """This cache's metrics (counters and latency histograms of its events), subscribed
        to its events on first use; ``identity_labels`` (fixed by the first call) keeps the
        caller's identity as a label of the savings metrics."""
        recorder: CacheMetrics | None = self.__dict__.get("_metrics")
        if recorder is None:
            recorder = CacheMetrics(self._metric_state(), identity_labels=identity_labels)
            object.__setattr__(self, "_metrics", recorder)
            self.events.add_callback(recorder.on_event)
        return recorder

    def prometheus_collector(self, *, identity_labels: bool = False) -> Any:
        """A Prometheus collector of this cache's metrics, to register once::

            prometheus_client.REGISTRY.register(cache.prometheus_collector())

        (``prometheus-client`` is needed; see :mod:`aiocache_llm.llm.metric_names`)."""
        from ..llm.prometheus import CacheCollector

        return CacheCollector(self.metrics(identity_labels=identity_labels))

    def register_metrics(self, registry: Any = None, *, identity_labels: bool = False) -> Any:
        """Register :meth:`prometheus_collector` in ``registry`` (default:
        ``prometheus_client.REGISTRY``), in one line: ``cache.register_metrics()``; returns
        the collector (to unregister it)."""
        if registry is None:
            from prometheus_client import REGISTRY

            registry = REGISTRY
        collector = self.prometheus_collector(identity_labels=identity_labels)
        registry.register(collector)
        return collector

    def enable_otel_metrics(
        self, meter_provider: Any = None, *, identity_labels: bool = False
    ) -> Any:
        """Record this cache's metrics into OpenTelemetry instruments of ``meter_provider``
        (default: the global one), by the same names as the Prometheus collector."""
        from ..llm.otel_metrics import OtelMetrics

        recorder = OtelMetrics(
            self._metric_state(), meter_provider, identity_labels=identity_labels
        )
        self.events.add_callback(recorder.on_event)
        return recorder

    def _metric_state(self) -> CacheState:
        def breaker() -> dict[str, Any] | None:
            guarded = self.guarded
            return guarded.breaker.snapshot() if isinstance(guarded, GuardedCache) else None

        return CacheState(self.backend.backend_name, breaker, lambda: self.backend.stats.as_dict())
