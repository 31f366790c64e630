"""A deadline on every backend operation, as a middleware.

An operation (with everything further in the chain: encryption, the backend's round trips)
that has not finished within ``seconds`` is cancelled and raises
:class:`~aiocache_llm.errors.BackendTimeout`, counted in ``guard_stats.timeouts``; the breaker
further out counts it as a failure and applies the failure policy. ``seconds=None``: no
deadline, and the middleware leaves the chain (no cost per call); ``seconds`` is fixed when
the middleware is made. ``disconnect`` has none: releasing connections is never cut short.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ..errors import BackendTimeout
from ._chain import CallNext, Middleware, Operation
from .breaker import GuardStats

__all__ = ["Deadline"]


class Deadline(Middleware):
    """Cancels an operation that outlives ``seconds`` and raises ``BackendTimeout``."""

    def __init__(self, seconds: float | None, *, guard_stats: GuardStats | None = None) -> None:
        self._seconds = seconds
        self.active = seconds is not None
        self.guard_stats = guard_stats or GuardStats()

    @property
    def seconds(self) -> float | None:
        """Seconds an operation may take (``None``: no deadline)."""
        return self._seconds

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        seconds = self._seconds
        if seconds is None or op.method == "async_disconnect":
            return await call_next(op)
        try:
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(seconds):
                    return await call_next(op)
            else:  # pragma: no cover - Python 3.10
                return await asyncio.wait_for(call_next(op), seconds)
        except (TimeoutError, asyncio.TimeoutError) as exc:
            self.guard_stats.timeouts += 1
            raise BackendTimeout(f"{op.label} exceeded its {seconds}s deadline") from exc

    def describe(self) -> dict[str, Any]:
        return {"deadline": self.seconds}
