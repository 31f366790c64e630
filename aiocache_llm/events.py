"""Cache events: who is told what happened to each cached call.

Every lookup ends in one :class:`CacheEvent` — ``hit``, ``miss``, ``store``, ``skip`` or
``error`` — delivered to the callbacks registered on an :class:`EventBus` (plain functions run
inline, coroutine functions are scheduled on the running loop) and counted in
:attr:`EventBus.counters`, which a metrics exporter can read at any time. Events carry the key,
never the prompt. A callback that raises is logged and never fails the call.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

__all__ = ["CacheEvent", "EventBus", "EventCallback", "EventKind"]

logger = logging.getLogger("aiocache_llm.events")

EventKind: TypeAlias = Literal["hit", "miss", "store", "skip", "error"]
EventCallback: TypeAlias = "Callable[[CacheEvent], Awaitable[None] | None]"

KINDS: Final[tuple[EventKind, ...]] = ("hit", "miss", "store", "skip", "error")


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """What happened to one cached call.

    ``latency`` is the seconds the cache step took (the lookup for hit/miss, the write for
    store). ``similarity`` is set for semantic hits, ``tokens_saved`` for hits whose answer
    carries usage. ``error`` names the exception type of an ``error`` event (never its text,
    which could quote a value); ``reason`` says why a call was skipped or missed.
    """

    kind: EventKind
    key: str | None
    call_type: str
    backend: str
    latency: float = 0.0
    similarity: float | None = None
    tokens_saved: int = 0
    error: str | None = None
    reason: str | None = None


class EventBus:
    """Callbacks and counters for cache events.

    ``counters`` maps ``hit``, ``miss``, ``store``, ``skip``, ``error``, ``semantic_hit``,
    ``stale_hit``, ``coalesced_hit`` (hits served by an identical call in flight),
    ``circuit_open`` (calls that skipped the cache because its backend's circuit
    breaker was open) and ``tokens_saved`` to running totals.
    """

    def __init__(self) -> None:
        self.counters: dict[str, int] = dict.fromkeys(
            (*KINDS, "semantic_hit", "stale_hit", "coalesced_hit", "circuit_open", "tokens_saved"),
            0,
        )
        self._sync: list[Callable[[CacheEvent], Any]] = []
        self._async: list[Callable[[CacheEvent], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: True when any callback is registered (the hot path builds no event otherwise).
        self.listening = False

    def add_callback(self, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event; coroutine functions are scheduled."""
        if inspect.iscoroutinefunction(callback):
            self._async.append(callback)
        else:
            self._sync.append(callback)
        self.listening = True

    def remove_callback(self, callback: EventCallback) -> None:
        """Stop calling ``callback``; an unknown callback is ignored."""
        for registry in (self._sync, self._async):
            if callback in registry:
                registry.remove(callback)  # type: ignore[arg-type]
        self.listening = bool(self._sync or self._async)

    def reset_counters(self) -> None:
        for name in self.counters:
            self.counters[name] = 0

    def count(self, kind: EventKind, tokens_saved: int = 0, semantic: bool = False) -> None:
        """Count an event without building it (the path when nobody listens)."""
        counters = self.counters
        counters[kind] += 1
        if tokens_saved:
            counters["tokens_saved"] += tokens_saved
        if semantic:
            counters["semantic_hit"] += 1

    def emit(self, event: CacheEvent) -> None:
        """Count ``event`` and deliver it to every callback."""
        self.count(event.kind, event.tokens_saved, event.similarity is not None)
        for callback in self._sync:
            try:
                callback(event)
            except Exception:
                logger.exception("a cache event callback raised; ignored")
        if self._async:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                logger.warning("async cache event callbacks need a running event loop; skipped")
                return
            for callback in self._async:
                task = loop.create_task(self._run(callback, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(callback: Callable[[CacheEvent], Awaitable[None]], event: CacheEvent) -> None:
        try:
            await callback(event)
        except Exception:
            logger.exception("a cache event callback raised; ignored")

    async def drain(self) -> None:
        """Wait until every scheduled async callback has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))


def now() -> float:
    """The clock events measure latency with."""
    return time.perf_counter()
