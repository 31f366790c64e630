"""Single-flight (moved to :mod:`aiocache_llm.llm.singleflight`; this path keeps working)."""

from .llm.singleflight import Flight, SingleFlight

__all__ = ["Flight", "SingleFlight"]
