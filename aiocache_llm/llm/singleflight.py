"""Single-flight: concurrent identical misses in one process share one upstream call.

The first miss for a key *leads*: it registers a :class:`Flight` before its first ``await`` and
calls upstream. Identical misses that arrive meanwhile *follow*: they wait for the flight's
entry (or its streamed chunks) instead of calling upstream. If the upstream call fails, every
follower gets the same error and nothing is cached; if the leader is cancelled, followers call
upstream themselves. Flights belong to the event loop they were started on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .streaming import Broadcast

__all__ = ["Flight", "SingleFlight"]


class Flight:
    """One upstream call in progress: its entry when done, its chunks while streaming."""

    __slots__ = ("broadcast", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self.broadcast: Broadcast | None = None

    def resolve(self, entry: dict[str, Any] | None) -> None:
        """Hand the stored entry (``None``: nothing storable) to every follower."""
        if not self.future.done():
            self.future.set_result(entry)

    def fail(self, exc: BaseException) -> None:
        """Hand ``exc`` to every follower (a cancelled leader lets them retry instead)."""
        if self.future.done():
            return
        if isinstance(exc, Exception):
            self.future.set_exception(exc)
            self.future.exception()  # followers may be none: mark it retrieved
        else:
            self.future.cancel()

    async def outcome(self) -> dict[str, Any] | None:
        """The entry; raises the leader's error; ``None`` if the leader gave up."""
        await asyncio.wait({self.future})
        if self.future.cancelled():
            return None
        return self.future.result()


class SingleFlight:
    """The flights in progress, by cache key."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: str) -> Flight | None:
        """The flight for ``key`` on the running loop, if one is in progress."""
        flight = self._flights.get(key)
        if flight is None or flight.future.cancelled():
            return None
        if flight.broadcast is not None and flight.broadcast.abandoned:
            return None  # a stream every reader left: it ends without an answer
        if flight.loop is not asyncio.get_running_loop():
            return None
        return flight

    def lead(self, key: str) -> Flight:
        """Register and return a new flight for ``key``."""
        flight = Flight(asyncio.get_running_loop())
        self._flights[key] = flight
        return flight

    def finish(self, key: str, flight: Flight) -> None:
        """Forget ``flight`` (if it is still the one registered for ``key``)."""
        if self._flights.get(key) is flight:
            del self._flights[key]
