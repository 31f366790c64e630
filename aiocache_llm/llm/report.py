"""What the LLM layer tells: one event per lookup, store, skip or error, and a rate-limited
log line for backend failures that says what happens next."""

from __future__ import annotations

import logging

from ..errors import CacheError
from ..middleware.builders import RateLimitedLog
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
    ) -> None:
        """Count one event, and build and deliver it when anyone listens."""
        events = self.events
        if not events.listening:
            events.count(kind, tokens, similarity is not None)
            return
        latency = 0.0 if start is None else now() - start
        backend = self.backend_name
        events.emit(
            CacheEvent(
                kind, key, call_type, backend, latency, similarity, tokens, error, reason, saving
            )
        )

    def backend_error(
        self, operation: str, key: str | None, call_type: str, exc: Exception
    ) -> None:
        """Report a failed backend operation; under ``fail_closed``, raise its typed error
        (a hook's own exception is reported, never raised)."""
        self.event("error", key, call_type, error=type(exc).__name__, reason=operation)
        closed = self.fail_closed and isinstance(exc, CacheError)
        outcome = "raising it (fail_closed)" if closed else "calling upstream without the cache"
        self.log.warning(
            "cache %s failed on the %s backend (%s); %s",
            operation,
            self.backend_name,
            type(exc).__name__,
            outcome,
        )
        if closed:
            raise exc
