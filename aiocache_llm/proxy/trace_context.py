"""The caller's trace, continued: a request's ``traceparent`` (W3C Trace Context) becomes the
parent of the cache's span, and the trace goes on to the upstream.

With ``opentelemetry-api`` installed, the application's propagators read and write the
headers (the upstream's parent is then the cache call's span when an SDK records spans, or
the caller's own span when none does). Without it, ``traceparent`` and ``tracestate`` are
passed on as they came.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

_propagate: Any
try:
    from opentelemetry import context as _context
    from opentelemetry import propagate as _propagate
except ImportError:  # the otel extra is not installed: headers pass through as they are
    _propagate = None

__all__ = ["continue_trace", "end_trace", "trace_headers"]

_HEADERS: Final = ("traceparent", "tracestate")


def continue_trace(headers: Mapping[str, str]) -> Any:
    """Make the trace ``headers`` carry the current one; returns what :func:`end_trace`
    takes (``None`` when there is nothing to continue)."""
    if _propagate is None or "traceparent" not in headers:
        return None
    return _context.attach(_propagate.extract(headers))


def end_trace(token: Any) -> None:
    if token is not None:
        _context.detach(token)


def trace_headers(incoming: Mapping[str, str]) -> dict[str, str]:
    """The headers that carry the current trace to the upstream."""
    if _propagate is None:
        return {name: incoming[name] for name in _HEADERS if name in incoming}
    out: dict[str, str] = {}
    _propagate.inject(out)
    return out
