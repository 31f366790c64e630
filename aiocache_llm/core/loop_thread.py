"""The library's own event-loop thread: one daemon thread running one loop for every blocking
call of the process (see :mod:`aiocache_llm._sync`), and its wind-down at interpreter exit:
exit hooks first (pending writes are sent), then every task and async generator of the loop
ends, within a bound."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "at_exit", "loop_thread"]

R = TypeVar("R")


class LoopThread:
    """A daemon thread running one event loop for all blocking calls of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # first use, or a forked child
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._thread_id = threading.get_ident()
            loop.call_soon(ready.set)
            loop.run_forever()

        threading.Thread(target=run, name="aiocache_llm-loop", daemon=True).start()
        ready.wait()
        self._pid = os.getpid()
        self._loop = loop

    def wind_down(self) -> None:
        """At interpreter exit: run the exit hooks (pending writes are sent), then end every
        task of the loop (listeners, refreshes) and its async generators, within a bound, so
        nothing is lost or destroyed pending while the interpreter exits."""
        loop = self._loop
        if loop is None or self._pid != os.getpid():
            if not any(wanted() for wanted, _ in _exit_hooks):
                return
            loop = self.loop()
        if loop.is_closed() or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(_finish(loop), loop)
        try:
            future.result(timeout=_EXIT_BOUND + 1.0)
        except Exception as exc:  # exiting regardless: never an error at exit
            future.cancel()
            logger.debug("the library loop did not wind down cleanly: %r", exc)

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        loop = self.loop()
        if threading.get_ident() == self._thread_id:
            coro.close()
            raise RuntimeError(
                "a blocking aiocache_llm method was called on the library's own event-loop thread,"
                " which would deadlock; await the async_ method instead"
            )
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


loop_thread = LoopThread()

logger = logging.getLogger("aiocache_llm.sync")

#: Seconds the library loop may spend winding down at interpreter exit.
_EXIT_BOUND = 3.0

_exit_hooks: list[tuple[Callable[[], bool], Callable[[], Awaitable[None]]]] = []


def at_exit(wanted: Callable[[], bool], hook: Callable[[], Awaitable[None]]) -> None:
    """Await ``hook()`` on the library loop when the interpreter exits, before that loop's
    tasks are ended (pending writes are sent so); ``wanted()`` says whether it has work (the
    loop is started for it if it never ran)."""
    _exit_hooks.append((wanted, hook))


atexit.register(loop_thread.wind_down)


async def _finish(loop: asyncio.AbstractEventLoop) -> None:
    deadline = time.monotonic() + _EXIT_BOUND
    for wanted, hook in list(_exit_hooks):
        if not wanted():
            continue
        try:
            await asyncio.wait_for(hook(), max(0.1, deadline - time.monotonic()))
        except Exception as exc:  # best effort at exit
            logger.debug("an exit hook failed: %r", exc)
    me = asyncio.current_task()
    ending = [task for task in asyncio.all_tasks(loop) if task is not me]
    pending = ending
    # A cancel can be absorbed by a timeout unwinding (Python 3.11): delivered until done.
    while pending and time.monotonic() < deadline:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
        pending = [task for task in pending if not task.done()]
    for task in ending:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: an error while ending is not worth a warning
    try:
        await asyncio.wait_for(loop.shutdown_asyncgens(), max(0.1, deadline - time.monotonic()))
    except Exception as exc:
        logger.debug("closing async generators at exit failed: %r", exc)
