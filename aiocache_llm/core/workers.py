"""The library's I/O workers: a few threads that run blocking work for event loops.

:func:`in_worker` awaits one blocking call there (in place of ``asyncio.to_thread``),
:func:`iterate_in_workers` reads a blocking iterator there item by item, and :func:`offload`
is what ``@threaded`` backend bodies use. The workers grow when every one is busy, so long
blocking calls (a sync upstream, a model load) never hold up short ones (a disk read).
"""

from __future__ import annotations

import _thread
import asyncio
import contextvars
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["in_worker", "iterate_in_workers", "offload"]

T = TypeVar("T")
R = TypeVar("R")


def offload(fn: Callable[..., R], *args: Any, **kwargs: Any) -> asyncio.Future[R]:
    """Run ``fn`` in the library's I/O workers; the returned future resolves on this loop."""
    return _io_workers.submit(asyncio.get_running_loop(), fn, args, kwargs)


async def in_worker(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    """``fn(*args, **kwargs)`` run on the library's I/O workers, awaited without blocking the
    event loop (in place of ``asyncio.to_thread``; the caller's context variables go along)."""
    context = contextvars.copy_context()
    return await _call_workers.submit(asyncio.get_running_loop(), context.run, (fn, *args), kwargs)


_DONE = object()


async def iterate_in_workers(iterable: Iterable[T]) -> AsyncIterator[T]:
    """The items of a blocking iterable (a sync SDK stream), each read on the I/O workers;
    the iterable's ``close()``, when it has one, runs there too once iteration ends."""
    iterator: Iterator[T] = iter(iterable)
    try:
        while True:
            item = await in_worker(next, iterator, _DONE)
            if item is _DONE:
                return
            yield item
    finally:
        closer = getattr(iterable, "close", None)
        if closer is not None:
            await in_worker(closer)


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _reject(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class _IOWorkers:
    """A few daemon threads that run blocking bodies for event loops.

    Leaner than ``loop.run_in_executor``: a job is one queue entry, and its result reaches the
    loop with one ``call_soon_threadsafe``. Few threads also means few holders of the GIL for
    the event loop's thread to wait behind. A job that finds every worker busy (long blocking
    work such as a sync upstream call holds one) starts another, up to ``limit`` threads, so
    short disk reads never queue behind long calls.
    """

    def __init__(self, size: int, limit: int, name: str) -> None:
        self.size = size
        self.limit = limit
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0
        self._threads = 0
        self._idle = 0  # workers free for a new job: threads minus jobs not finished
        if hasattr(os, "register_at_fork"):  # POSIX
            os.register_at_fork(after_in_child=self._forget_threads)

    def _forget_threads(self) -> None:
        """In a forked child: no worker threads, and a lock no parent thread can be holding."""
        self._lock = threading.Lock()
        self._pid = 0

    def submit(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[..., R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> asyncio.Future[R]:
        if self._pid != os.getpid():  # first use, or a forked child: no threads yet
            self._start()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._threads < self.limit:
                self._spawn()  # the new worker takes this job
        self._queue.put((loop, future, fn, args, kwargs))
        return future

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._threads = self._idle = 0
            for _ in range(self.size):
                self._spawn()
                self._idle += 1
            self._pid = os.getpid()

    def _spawn(self) -> None:
        """Start one more worker (the caller holds the lock).

        Started with the low-level ``_thread`` API: ``threading.Thread.start`` waits for the
        new thread to run, and ``submit`` is called on event-loop threads, which must never
        wait for another thread. Workers live as long as the process (like daemon threads).
        """
        _thread.start_new_thread(self._run, (self._queue, f"{self.name}-{self._threads}"))
        self._threads += 1

    def _run(self, jobs: queue.SimpleQueue[tuple[Any, ...]], name: str) -> None:
        threading.current_thread().name = name
        get, lock = jobs.get, self._lock
        while True:
            loop, future, fn, args, kwargs = get()
            callback: Callable[[asyncio.Future[Any], Any], None]
            try:
                value = fn(*args, **kwargs)
                callback = _resolve
            except BaseException as error:
                value, callback = error, _reject
            try:
                loop.call_soon_threadsafe(callback, future, value)
            except RuntimeError:  # the loop closed meanwhile: nobody is waiting
                pass
            del loop, future, fn, args, kwargs, value
            with lock:
                self._idle += 1


#: Storage bodies (``@threaded``, :func:`offload`): a few threads and never more, since more
#: would only be more holders of the GIL for the event loop's thread to wait behind.
_io_workers = _IOWorkers(size=min(4, os.cpu_count() or 1), limit=4, name="aiocache_llm-io")
#: Other blocking work (:func:`in_worker`: a sync upstream call, a model load, a blocking
#: stream): grows when every thread is busy, so long calls never queue behind each other, and
#: never hold up the storage threads.
_call_workers = _IOWorkers(size=1, limit=32, name="aiocache_llm-io-calls")
