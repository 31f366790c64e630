"""What the LLM layer tells: one event per lookup, store, skip or error, and a rate-limited
log line for backend failures that says what happens next."""

from __future__ import annotations

import logging

from ..core.failures import describe_failure
from ..core.logs import RateLimitedLog
from ..errors import CacheError
from .events import CacheEvent, EventBus, EventKind, Saving, now

__all__ = ["Reporter"]

logger = logging.getLogger("aiocache_llm.llm.handler")

_ERROR_LOG_INTERVAL = 10.0


class Reporter:
    """Events and failure logs of one handler."""

    __slots__ = ("backend_name", "events", "fail_closed", "log")

    def __init__(self, events: EventBus, backend_name: str, fail_closed: bool) -> None:
        self.events = events
        self.backend_name = backend_name
        self.fail_closed = fail_closed
        self.log = RateLimitedLog(logger, _ERROR_LOG_INTERVAL)

    def event(
        self,
        kind: EventKind,
        key: str | None,
        call_type: str,
        start: float | None = None,
        similarity: float | None = None,
        tokens: int = 0,
        error: str | None = None,
        reason: str | None = None,
        saving: Saving | None = None,
        upstream: float | None = None,
    ) -> None:
        """Count one event, and build and deliver it when anyone listens or traces."""
        events = self.events
        tracer = None
        if not events.listening:
            events.count(kind, tokens, similarity is not None)
            tracer = events.tracing.tracer()
            if tracer is None:
                return
        latency = 0.0 if start is None else now() - start
        fields = (
            kind,
            key,
            call_type,
            self.backend_name,
            latency,
            similarity,
            tokens,
            error,
            reason,
            saving,
            upstream,
        )
        if events.listening:
            events.emit(CacheEvent(*fields), start)
            return
        try:  # a span, and no event built
            events.tracing.span(tracer, start, fields)
        except Exception:
            logger.exception("tracing a cache event failed; ignored")

    def backend_error(
        self, operation: str, key: str | None, call_type: str, exc: Exception
    ) -> None:
        """Report a failed backend operation; under ``fail_closed``, raise its typed error
        (a hook's own exception is reported, never raised)."""
        self.event("error", key, call_type, error=type(exc).__name__, reason=operation)
        closed = self.fail_closed and isinstance(exc, CacheError)
        outcome = "raising it (fail_closed)" if closed else "calling upstream without the cache"
        backend = self.backend_name
        self.log.warning(
            "cache %s failed on the %s backend (%s); %s",
            operation,
            backend,
            describe_failure(exc),
            outcome,
            extra={
                "event": "cache_failed",
                "backend": backend,
                "operation": operation,
                "call_type": call_type,
                "error": type(exc).__name__,
            },
        )
        if closed:
            raise exc

    def not_stored(self, key: str | None, call_type: str, reason: str) -> None:
        """Report an answer passed through but not kept (a ``skip`` event with the reason,
        counted as ``not_stored``)."""
        self.events.counters["not_stored"] += 1
        self.event("skip", key, call_type, reason=f"not stored: {reason}")

    def store_failed(self, key: str | None, call_type: str, exc: Exception) -> None:
        """Report an answer that could not be made into an entry: logged and counted
        (``store_failed``), never raised; the caller still gets its answer."""
        self.events.counters["store_failed"] += 1
        self.event("error", key, call_type, error=type(exc).__name__, reason="store")
        self.log.warning(
            "an answer could not be prepared for the cache (%s); it is passed on unstored",
            type(exc).__name__,
        )
