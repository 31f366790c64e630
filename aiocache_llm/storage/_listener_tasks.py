"""The life of an invalidation listener's task on the library's event loop: stopped on
request (:func:`stop_task`), and with the cache that owns it (:func:`bound_to`).

A listener task holds its channel, so a cache dropped by its user would keep its subscription
(a connection and a task) for the life of the process. The channel holds its owner only
weakly (:func:`weak_method`), and :func:`bound_to` stops the listener when the owner is
collected.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from .._sync import loop_thread_loop

__all__ = ["bound_to", "stop_task", "weak_method"]

logger = logging.getLogger("aiocache_llm.dual")


class _Abandonable(Protocol):
    def abandon(self) -> None: ...


def weak_method(method: Callable[..., Any]) -> Callable[..., None]:
    """``method`` called through a weak reference to its object (nothing once it is gone)."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> None:
        target = ref()
        if target is not None:
            target(*args)

    return call


def bound_to(owner: object, listener: _Abandonable) -> None:
    """Stop ``listener`` when ``owner`` is garbage collected (not at interpreter exit: the
    library's loop shuts down on its own then)."""
    finalizer = weakref.finalize(owner, listener.abandon)
    finalizer.atexit = False


async def _cancel(take: Callable[[], asyncio.Task[None] | None]) -> None:
    """Cancel the task ``take()`` hands over and wait until it has closed its connection (runs
    on the library loop, where the task lives)."""
    task = take()
    if task is None:
        return
    # A cancel that lands while a read timeout unwinds can be absorbed (asyncio.timeout on
    # Python 3.11), so cancellation is delivered again until the task has really ended.
    deadline = time.monotonic() + 5.0
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: an error while closing is not worth a warning
    elif not task.done():
        logger.warning("the invalidation listener did not stop within 5 s")


async def stop_task(take: Callable[[], asyncio.Task[None] | None]) -> None:
    """Stop a listener task of the library loop, from any loop (``take`` is asked on that
    loop, after the task has started)."""
    library_loop = loop_thread_loop()
    if asyncio.get_running_loop() is library_loop:
        await _cancel(take)
    else:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_cancel(take), library_loop))
