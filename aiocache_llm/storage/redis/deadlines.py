"""One timer for the deadlines of an event loop's Redis batches.

Every batch (a write and the replies to it) has one deadline, ``socket_timeout``. With
``asyncio.timeout`` each batch sets a timer and cancels it; :class:`Deadlines` notes each
batch's deadline in a dict instead and keeps one timer, set for the earliest: when it fires it
cancels the batches past their deadline (each batch's ``within`` turns that cancellation into
``TimeoutError``, as ``asyncio.timeout`` does) and is set for the next. Python 3.10 has no
``Task.uncancel``: there each batch uses ``async_timeout`` as before.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

__all__ = ["Deadlines"]

if sys.version_info >= (3, 11):

    class Deadlines:
        """The deadlines of one event loop's batches on one timer (see the module): a lone task
        sending command after command sets it about once per ``timeout``."""

        __slots__ = ("_active", "_expired", "_handle", "_loop")

        def __init__(self) -> None:
            self._loop: asyncio.AbstractEventLoop | None = None
            self._handle: asyncio.TimerHandle | None = None
            #: Each task in a batch: its deadline and how many cancellations it had pending then.
            self._active: dict[asyncio.Task[Any], tuple[float, int]] = {}
            self._expired: dict[asyncio.Task[Any], int] = {}

        def within(self, timeout: float) -> Any:
            """An async context that raises ``TimeoutError`` past ``timeout`` seconds."""
            return _Within(self, timeout)

        def enter(self, timeout: float) -> asyncio.Task[Any]:
            task = asyncio.current_task()
            assert task is not None
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            self._active[task] = (deadline, task.cancelling())
            handle = self._handle
            if handle is None or handle.when() > deadline:
                if handle is not None:
                    handle.cancel()
                self._handle = loop.call_at(deadline, self._fire)
            return task

        def leave(self, task: asyncio.Task[Any]) -> bool:
            """Whether the deadline cancelled ``task`` (that cancellation is then withdrawn)."""
            self._active.pop(task, None)
            cancelling = self._expired.pop(task, None)
            return cancelling is not None and task.uncancel() <= cancelling

        def _fire(self) -> None:
            assert self._loop is not None
            self._handle = None
            now, soonest = self._loop.time(), math.inf
            for task, (deadline, cancelling) in list(self._active.items()):
                if deadline <= now:
                    del self._active[task]
                    self._expired[task] = cancelling
                    task.cancel()
                else:
                    soonest = min(soonest, deadline)
            if soonest < math.inf:
                self._handle = self._loop.call_at(soonest, self._fire)

    class _Within:
        """One batch's deadline (see :class:`Deadlines`)."""

        __slots__ = ("_deadlines", "_task", "_timeout")

        def __init__(self, deadlines: Deadlines, timeout: float) -> None:
            self._deadlines = deadlines
            self._timeout = timeout

        async def __aenter__(self) -> None:
            self._task = self._deadlines.enter(self._timeout)

        async def __aexit__(self, kind: Any, error: Any, traceback: Any) -> None:
            if self._deadlines.leave(self._task) and kind is asyncio.CancelledError:
                raise TimeoutError from error

else:  # pragma: no cover - Python 3.10: redis-py depends on async-timeout there
    from async_timeout import timeout as _within

    class Deadlines:
        """Each batch with its own ``async_timeout``."""

        __slots__ = ()

        def within(self, timeout: float) -> Any:
            return _within(timeout)
