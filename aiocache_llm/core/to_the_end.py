"""Work that must finish once begun, even when the task waiting for it is cancelled: a change
to a shared store and the message that tells other processes about it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["to_the_end"]

T = TypeVar("T")

#: The work running on behalf of callers that may have stopped waiting (kept referenced).
_running: set[asyncio.Future[Any]] = set()


async def to_the_end(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` in a task of its own: cancelling the caller stops the waiting, not the
    work, which runs to its end (its error, once nobody waits for it, is dropped: the work
    reports its own failures)."""
    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(_finished)
    return await asyncio.shield(task)


def _finished(task: asyncio.Future[Any]) -> None:
    _running.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: whoever awaited it may have gone
