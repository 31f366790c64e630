"""MemoryStore: entries by reference in an ordered dict, with a lazily kept expiry heap."""

from __future__ import annotations

import heapq
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._checks import check_key
from ._store import Change, Store, Stored

__all__ = ["Held", "MemoryStore", "estimated_size"]

logger = logging.getLogger("aiocache_llm.memory")

#: (value, expires_at, created_at), times on the cache's clock: the value by reference
Held = tuple[Any, "float | None", float]


def estimated_size(value: Any) -> int:
    """A cheap estimate of the bytes ``value`` holds, as LiteLLM's InMemoryCache makes it.

    Exact for ``str`` (characters; UTF-8 bytes near a limit are counted by the caller) and
    bytes-like values; for anything else the object's own size, without what it refers to
    (``__sizeof__``): a dict of a thousand keys counts, one long string inside a dict does
    not. Nothing is serialised.
    """
    cls = value.__class__
    if cls is str or cls is bytes or cls is bytearray:
        return len(value)
    return int(cls.__sizeof__(value))


class MemoryStore(Store[Held]):
    """Entries by reference in an ordered dict (least recently used first), plus a heap of
    expiry times. It neither blocks nor suspends: :class:`InMemoryCache` runs it inline."""

    def __init__(self, max_entries: int, max_item_bytes: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.max_item_bytes = max_item_bytes
        self.clock = clock
        self.data: OrderedDict[str, Held] = OrderedDict()
        self.heap: list[tuple[float, str]] = []
        #: The heap keeps the records of removed keys until it is this long.
        self.heap_limit = 2 * max_entries + 64
        #: The fast get and set are dict operations (atomic each under the GIL) and take no
        #: lock; every other change does (so a locked move never loses its key).
        self.lock = threading.RLock()

    # -- admission and bounds (callers hold the lock where noted) ---------------------------
    def admits(self, value: Any) -> bool:
        """Whether ``value`` is within the per-item limit (see :func:`estimated_size`);
        a refusal is counted."""
        size = estimated_size(value)
        if value.__class__ is str and size * 4 > self.max_item_bytes:  # count UTF-8 bytes
            size = len(value.encode(errors="surrogatepass"))
        if size <= self.max_item_bytes:
            return True
        self.stats.refused_too_large += 1
        logger.debug("refused a value over max_size_per_item=%s bytes", self.max_item_bytes)
        return False

    def put(self, name: str, entry: Held) -> None:
        """Store ``entry`` as the most recently used and keep the bounds.

        The heap learns of an expiry only for a new key (or one that had none); a later
        overwrite's expiry is found lazily when the older record comes up (see
        :meth:`_pop_heap_entry`). :meth:`InMemoryCache.async_set_cache` does this without the
        lock, its dict operations atomic each under the GIL.
        """
        with self.lock:
            old = self.data.get(name)
            self.data[name] = entry
            self.data.move_to_end(name)
        if old is None or old[1] is None:
            self.track(name, entry, old is None)

    def track(self, name: str, entry: Held, new: bool) -> None:
        """After writing a key that is ``new`` or had no expiry: its heap record, the bounds."""
        if entry[1] is not None:
            heapq.heappush(self.heap, (entry[1], name))
            if len(self.heap) > self.heap_limit:
                self.keep_bounds()
        if new and len(self.data) > self.max_entries:
            self.keep_bounds()

    def keep_bounds(self) -> None:
        """Evict down to ``max_entries``; rebuild a heap grown by removed keys' records."""
        with self.lock:
            if len(self.heap) > self.heap_limit:
                live = [(e[1], k) for k, e in list(self.data.items()) if e[1] is not None]
                heapq.heapify(live)
                self.heap[:] = live
            if len(self.data) > self.max_entries:
                self._evict()

    def _pop_heap_entry(self) -> tuple[float, str] | None:
        """Pop the earliest-expiring heap record that matches its entry (lock held); a record
        older than its entry's expiry goes back with the entry's."""
        heap, data = self.heap, self.data
        while heap:
            expires, name = heapq.heappop(heap)
            entry = data.get(name)
            if entry is None or entry[1] is None:
                continue
            if entry[1] == expires:
                return expires, name
            heapq.heappush(heap, (entry[1], name))
        return None

    def _evict(self) -> None:
        """Expired entries first, then the earliest-expiring, then the least recently used."""
        data, heap = self.data, self.heap
        now = self.clock()
        while heap and heap[0][0] <= now:
            record = self._pop_heap_entry()
            if record is None:
                break
            if record[0] <= now:
                data.pop(record[1], None)
                self.stats.expirations += 1
            else:  # the next valid record is not expired: put it back
                heapq.heappush(heap, record)
                break
        while len(data) > self.max_entries:
            record = self._pop_heap_entry()
            if record is not None:
                data.pop(record[1], None)
            else:
                data.popitem(last=False)
            self.stats.evictions += 1

    def live(self, name: str) -> Held | None:
        """The unexpired entry under ``name``, dropping an expired one (lock held)."""
        entry = self.data.get(name)
        if entry is not None and entry[1] is not None and entry[1] <= self.clock():
            del self.data[name]
            self.stats.expirations += 1
            return None
        return entry

    def drop_if_same(self, name: str, entry: Held) -> bool:
        """Remove ``name`` if it still holds ``entry``; whether it did."""
        with self.lock:
            if self.data.get(name) is entry:
                self.data.pop(name, None)
                return True
        return False

    # -- the store -------------------------------------------------------------------------
    async def get(self, name: str) -> Stored[Held] | None:
        entry = self.data.get(name)
        return None if entry is None else Stored(entry)

    async def set(self, name: str, data: Held, expires_at: float | None) -> None:
        if self.admits(data[0]):
            self.put(name, data)

    async def set_many(self, items: Sequence[tuple[str, Held]], expires_at: float | None) -> None:
        for name, entry in [(name, entry) for name, entry in items if self.admits(entry[0])]:
            self.put(name, entry)

    async def delete(self, name: str) -> None:
        self.delete_now(name)

    def delete_now(self, name: str) -> None:
        """:meth:`delete`, here."""
        with self.lock:
            self.data.pop(name, None)

    async def discard(self, name: str, stored: Stored[Held]) -> None:
        self.drop_if_same(name, stored.data)

    async def update(self, changes: Mapping[str, Change[Held]]) -> None:
        self.apply(changes)

    def apply(self, changes: Mapping[str, Change[Held]]) -> None:
        """:meth:`update`, here: under the lock, every change is computed before any is
        written."""
        with self.lock:
            planned = [(name, change(self.data.get(name))) for name, change in changes.items()]
            for name, (entry, _) in planned:
                self.put(name, entry)

    def fresh(self, name: str) -> Held | None:
        """The unexpired entry under ``name``, or ``None`` (an expired one is dropped and
        counted); a name that is not a key is an :class:`~aiocache_llm.errors.InvalidKeyError`.
        """
        try:
            entry = self.data.get(name)
        except TypeError:  # unhashable
            entry = None
        if entry is None:
            check_key(name)
        elif entry[1] is not None and entry[1] <= self.clock():
            if self.drop_if_same(name, entry):
                self.stats.expirations += 1
            return None
        return entry

    async def clear(self, prefix: str) -> None:
        with self.lock:
            self.data.clear()
            self.heap.clear()

    async def ping(self) -> None:
        return None

    def details(self) -> dict[str, Any]:
        return {
            "entries": len(self.data),
            "max_size_in_memory": self.max_entries,
            "stats": self.stats.as_dict(),
        }
