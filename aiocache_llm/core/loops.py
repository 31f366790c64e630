"""One client state per event loop, written once for every network backend.

Clients of asyncio libraries (redis-py pools, aiohttp sessions, cloud SDK clients) belong to
the event loop that made them. A cache object may be used from several loops (the caller's,
the blocking API's loop thread, a test's), so each loop gets its own state, made on first use
there, and closing walks every loop: the running loop's state is closed here, another running
loop's on that loop (waited for at most ``timeout``, and not at all from the blocking API's own
thread, which must never wait on a loop that may be waiting for it); the state of a loop that
is not running is kept (it cannot be closed now), and that of a closed loop is dropped (its
sockets went with it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["PerLoop"]

S = TypeVar("S")

logger = logging.getLogger("aiocache_llm.loops")

#: The thread of the blocking API's event loop (see aiocache_llm._sync).
_LOOP_THREAD_NAME = "aiocache_llm-loop"


class PerLoop(Generic[S]):
    """The state ``make()`` builds, one per event loop; safe from any thread."""

    __slots__ = ("_last", "_lock", "_make", "_states")

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._states: dict[asyncio.AbstractEventLoop, S] = {}
        self._last: tuple[asyncio.AbstractEventLoop, S] | None = None
        self._lock = threading.Lock()

    def get(self) -> S:
        """The running loop's state, made on first use."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        with self._lock:  # loops of other threads may be adding theirs
            state = self._states.get(loop)
            if state is None:
                for closed in [other for other in self._states if other.is_closed()]:
                    del self._states[closed]
                state = self._states[loop] = self._make()
            self._last = (loop, state)
            return state

    def __len__(self) -> int:
        return len(self._states)

    def values(self) -> list[S]:
        """Every loop's state (a snapshot)."""
        with self._lock:
            return list(self._states.values())

    def current(self) -> S | None:
        """The running loop's state if it has one (none is made)."""
        return self._states.get(asyncio.get_running_loop())

    async def close(self, close: Callable[[S], Awaitable[None]], timeout: float) -> None:
        """Close and forget every loop's state that can be closed now (see the module)."""
        current = asyncio.get_running_loop()
        with self._lock:
            states, self._states, self._last = self._states, {}, None
            mine = states.pop(current, None)
            for loop in list(states):
                if loop.is_closed():
                    del states[loop]
                elif not loop.is_running():
                    self._states[loop] = states.pop(loop)  # it cannot close now
        wait = threading.current_thread().name != _LOOP_THREAD_NAME
        elsewhere: list[asyncio.Future[None]] = []
        try:
            for loop, state in states.items():
                try:
                    future = asyncio.run_coroutine_threadsafe(_quietly(close, state), loop)
                except RuntimeError:  # closed meanwhile
                    continue
                elsewhere.append(asyncio.wrap_future(future))
            if elsewhere and wait:
                await asyncio.wait(elsewhere, timeout=timeout)
        finally:
            if mine is not None:
                await close(mine)


async def _quietly(close: Callable[[S], Awaitable[None]], state: S) -> None:
    try:
        await close(state)
    except Exception as exc:  # closing elsewhere is best effort
        logger.debug("closing a client on another loop failed: %r", exc)
