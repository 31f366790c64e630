"""OpenTelemetry spans of cached calls, through ``opentelemetry-api`` only (the ``otel`` extra).

One span per cached call, named ``aiocache_llm <call type>``, child of the caller's current
span. A hit is one span, made when the hit is reported (started at the lookup's start, so it
covers the lookup); a miss opens its span before the upstream call and makes it current, so
the upstream call (and any instrumented HTTP client, or the proxy's ``traceparent``) is its
child, and its store is an event of that span. Attributes (never the prompt, never the key
itself):

==================================  ===============================================================
``aiocache_llm.hit``                whether the cache answered (hit and miss spans)
``aiocache_llm.hit_kind``           a hit's kind: ``exact``, ``semantic``, ``coalesced``,
                                    ``stale`` or ``partial`` (embeddings)
``aiocache_llm.result``             what a span that is no lookup is: ``skip``, ``store`` or
                                    ``error`` (also the name of an event on a miss's span)
``aiocache_llm.call_type``          ``acompletion``, ``aembedding``, ...
``aiocache_llm.backend``            the backend's name (``memory``, ``redis``, ...)
``aiocache_llm.key_digest``         16 hex digits of the key's digest
``aiocache_llm.similarity``         a semantic hit's similarity
``aiocache_llm.tokens_saved``       the stored answer's tokens, on a hit
``aiocache_llm.cost_saved_usd``     what the hit saved, when its model is priced
``aiocache_llm.reason``             why a call was skipped or missed
``aiocache_llm.lookup_seconds``     a miss's lookup (a hit's span is its lookup)
``aiocache_llm.upstream_seconds``   on a store event: how long the upstream took
``aiocache_llm.error``              a failed operation's exception type
==================================  ===============================================================

Without an SDK (no tracer provider set, or ``opentelemetry-api`` not installed) a hit pays one
check: whether a provider is set.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .events import CacheEvent, Saving

try:
    from opentelemetry import trace as _otel
except ImportError:  # the otel extra is not installed: tracing is off
    _otel = None  # type: ignore[assignment]

__all__ = ["Tracing", "call_span", "hit_kind", "key_digest"]

_NAME: Final = "aiocache_llm"
_NAMES: dict[str, str] = {}
#: The span of the cached call in progress (opened for a miss), which later events annotate.
_CALL_SPAN: ContextVar[Any] = ContextVar("aiocache_llm_call_span", default=None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aiocache-llm")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


class Tracing:
    """Where a cache's spans go: ``provider`` (an OpenTelemetry ``TracerProvider``), or the
    global one once the application sets it; ``enabled=False`` turns spans off."""

    __slots__ = ("_provider", "_tracer", "enabled")

    def __init__(self, provider: Any = None, enabled: bool = True) -> None:
        self._provider = provider
        self._tracer: Any = None
        self.enabled = enabled and _otel is not None

    def tracer(self) -> Any:
        """The tracer to make spans with, or ``None`` when no SDK is configured."""
        tracer = self._tracer
        if tracer is not None or not self.enabled:
            return tracer
        provider = self._provider
        if provider is None:
            # get_tracer_provider() reads the environment on every call while no provider is
            # set (about 2 us): the module's global is checked instead (a missing attribute,
            # in some other API version, falls back to asking).
            if getattr(_otel, "_TRACER_PROVIDER", True) is None:
                return None
            provider = _otel.get_tracer_provider()
            if isinstance(provider, _otel.ProxyTracerProvider):
                return None
        self._tracer = tracer = provider.get_tracer(_NAME, _version())
        return tracer

    def record(self, tracer: Any, event: CacheEvent, start: float | None) -> None:
        """Put ``event`` on the span of the call in progress, or make it one span of its own
        (``start``: the ``perf_counter`` time the step began)."""
        self.span(tracer, start, tuple(getattr(event, name) for name in _FIELDS))

    def span(self, tracer: Any, start: float | None, fields: tuple[Any, ...]) -> None:
        """:meth:`record` of an event given as its fields, in :class:`CacheEvent`'s order
        (no event built)."""
        kind, call_type, upstream = fields[0], fields[2], fields[10]
        attrs = attributes(*fields[:10])
        if upstream is not None:
            attrs["aiocache_llm.upstream_seconds"] = upstream
        span = _CALL_SPAN.get()
        if span is not None and span.is_recording():
            if kind == "hit" or kind == "miss":
                span.set_attributes(attrs)
            else:
                span.add_event(f"{_NAME}.{kind}", attrs)
            return
        end = time.time_ns()
        begun = end if start is None else end - int((time.perf_counter() - start) * 1e9)
        name = _NAMES.get(call_type) or _span_name(call_type)
        tracer.start_span(name, start_time=begun, attributes=attrs).end(end)

    @contextmanager
    def call_span(self, tracer: Any, call_type: str, start: float) -> Iterator[None]:
        """The span of a miss, current while the upstream is called and the answer stored;
        it started when the lookup did (``start``, a ``perf_counter`` time)."""
        begun = time.time_ns() - int((time.perf_counter() - start) * 1e9)
        name = _NAMES.get(call_type) or _span_name(call_type)
        span = tracer.start_span(name, start_time=begun)
        token = _CALL_SPAN.set(span)
        try:
            with _otel.use_span(span, end_on_exit=True):
                yield
        finally:
            _CALL_SPAN.reset(token)


def call_span(tracing: Tracing, call_type: str, start: float) -> Any:
    """:meth:`Tracing.call_span` when an SDK is configured, else ``None``."""
    tracer = tracing.tracer()
    return None if tracer is None else tracing.call_span(tracer, call_type, start)


def _span_name(call_type: str) -> str:
    name = _NAMES[call_type] = f"{_NAME} {call_type}"
    return name


def hit_kind(event: CacheEvent) -> str | None:
    """What kind of hit ``event`` is (``None`` for other events)."""
    if event.kind != "hit":
        return None
    return _hit_kind(event.similarity, event.reason)


def _hit_kind(similarity: float | None, reason: str | None) -> str:
    if similarity is not None:
        return "semantic"
    if reason is None:
        return "exact"
    if reason.startswith("stale"):
        return "stale"
    return reason  # "coalesced", "partial"


def key_digest(key: str) -> str:
    """16 hex digits that name ``key`` without showing it (a custom key could hold text)."""
    tail = key.rpartition(":")[2]
    if len(tail) == 64:  # the key's own sha256
        return tail[:16]
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


#: The event's fields, in the order :meth:`Tracing.span` takes them.
_FIELDS: Final = (
    "kind",
    "key",
    "call_type",
    "backend",
    "latency",
    "similarity",
    "tokens_saved",
    "error",
    "reason",
    "saving",
    "upstream_latency",
)


def attributes(
    kind: str,
    key: str | None,
    call_type: str,
    backend: str,
    latency: float,
    similarity: float | None,
    tokens: int,
    error: str | None,
    reason: str | None,
    saving: Saving | None,
) -> dict[str, Any]:
    """The span attributes of an event."""
    # Each attribute costs the SDK about 0.7 us: a hit carries only what it needs.
    if kind == "hit":  # the span is the lookup: its duration is the lookup's
        out: dict[str, Any] = {
            "aiocache_llm.hit": True,
            "aiocache_llm.hit_kind": _hit_kind(similarity, reason),
        }
    elif kind == "miss":
        out = {"aiocache_llm.hit": False, "aiocache_llm.lookup_seconds": latency}
    else:
        out = {"aiocache_llm.result": kind}
    out["aiocache_llm.call_type"] = call_type
    out["aiocache_llm.backend"] = backend
    if key is not None:
        out["aiocache_llm.key_digest"] = key_digest(key)
    if similarity is not None:
        out["aiocache_llm.similarity"] = similarity
    if tokens:
        out["aiocache_llm.tokens_saved"] = tokens
    if saving is not None and saving.cost is not None:
        out["aiocache_llm.cost_saved_usd"] = saving.cost
    if reason is not None and kind != "hit":  # a hit's reason is its kind
        out["aiocache_llm.reason"] = reason
    if error is not None:
        out["aiocache_llm.error"] = error
    return out
