"""Metrics of a library cache, in one line::

    import aiocache_llm.metrics
    aiocache_llm.metrics.register(cache)   # into prometheus_client's default registry

The metric names and labels are the proxy's (see :mod:`aiocache_llm.llm.metric_names`);
OpenTelemetry instruments of the same names: ``cache.enable_otel_metrics()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .llm.metric_names import LIBRARY_METRICS, MetricDef

if TYPE_CHECKING:
    from .facade.cache import Cache

__all__ = ["LIBRARY_METRICS", "MetricDef", "register"]


def register(cache: Cache, registry: Any = None, *, identity_labels: bool = False) -> Any:
    """Register ``cache``'s Prometheus collector in ``registry`` (default:
    ``prometheus_client.REGISTRY``) and return it (to unregister it later)."""
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    collector = cache.prometheus_collector(identity_labels=identity_labels)
    registry.register(collector)
    return collector
