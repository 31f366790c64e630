"""Batch reads of an L2 that concurrent callers share, and the misses they just saw.

A layered cache (:class:`~aiocache_llm.storage.dual.DualCache`) sends the keys its L1 does
not hold to L2 in one batch read. :class:`SharedReads` lets a concurrent batch wait for the
keys already being read instead of reading them again, and remembers the keys L2 reported
missing for ``window`` seconds (unless they are written meanwhile), so a burst of batch reads
asks L2 about a missing key once. A failed read is not a miss: nothing is remembered of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from ..core.codec import Entry
from ..errors import ConfigurationError

__all__ = ["SharedReads"]

_MAX_TRACKED_MISSES = 10_000

#: Reads ``keys`` from L2: one entry (or ``None``) per key, or ``None`` if the read failed.
Read = Callable[[Sequence[str]], Awaitable["list[Entry | None] | None"]]
_Pending = asyncio.Future["Entry | None"]


class SharedReads:
    """Batch reads through ``read``, shared by concurrent callers of the same event loop."""

    def __init__(self, read: Read, window: float, max_misses: int | None = None) -> None:
        if max_misses is None:
            max_misses = _MAX_TRACKED_MISSES
        elif isinstance(max_misses, bool) or not isinstance(max_misses, int) or max_misses < 1:
            raise ConfigurationError("default_max_redis_batch_cache_size must be a positive int")
        self._read = read
        self.window = window
        #: The most misses remembered; past it they are all forgotten.
        self.max_misses = max_misses
        self._misses: dict[str, float] = {}
        self._in_flight: dict[tuple[asyncio.AbstractEventLoop, str], _Pending] = {}

    def forget(self, keys: Iterable[str]) -> None:
        """``keys`` were written or deleted: their remembered misses no longer hold."""
        for key in keys:
            self._misses.pop(key, None)

    def clear(self) -> None:
        self._misses.clear()

    async def entries(self, keys: Sequence[str]) -> dict[str, Entry | None]:
        """L2's entries for ``keys`` (the ones L1 misses), each key read at most once at a
        time; a key missing from the answer counts as a miss."""
        now = time.monotonic()
        loop = asyncio.get_running_loop()
        to_fetch: list[str] = []
        waiting: dict[str, _Pending] = {}
        for key in keys:
            if key in waiting:
                continue
            missed = self._misses.get(key)
            if missed is not None and now - missed < self.window:
                continue
            pending = self._in_flight.get((loop, key))
            if pending is not None:
                waiting[key] = pending
            elif key not in to_fetch:
                to_fetch.append(key)
        fetched = await self._fetch(loop, to_fetch) if to_fetch else {}
        for key, future in waiting.items():
            fetched[key] = await asyncio.shield(future)
        return fetched

    async def _fetch(
        self, loop: asyncio.AbstractEventLoop, keys: list[str]
    ) -> dict[str, Entry | None]:
        futures: dict[str, _Pending] = {key: loop.create_future() for key in keys}
        for key, future in futures.items():
            self._in_flight[(loop, key)] = future
        entries: list[Entry | None] | None = None
        try:
            entries = await self._read(keys)
        finally:  # every waiter gets what was read; a read failed or cancelled is a miss
            found = [None] * len(keys) if entries is None else entries
            for key, entry in zip(keys, found, strict=True):
                self._in_flight.pop((loop, key), None)
                if not futures[key].done():
                    futures[key].set_result(entry)
        fetched: dict[str, Entry | None] = {}
        mono = time.monotonic()
        for key, entry in zip(keys, found, strict=True):
            fetched[key] = entry
            if entry is None and entries is not None:  # a real miss, not a failure
                self._misses[key] = mono
        if len(self._misses) > self.max_misses:
            self._misses.clear()
        return fetched
