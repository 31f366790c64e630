"""InMemoryCache: a bounded, TTL-aware dictionary in this process."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._sync import inline
from ..codec import Entry
from ..errors import InvalidArgumentError
from ._store import Change, Store, Stored
from ._store_cache import StoreCache
from .base import USE_DEFAULT, TTLArg, check_key, check_number, check_ttl

__all__ = ["InMemoryCache", "MemoryStore"]

logger = logging.getLogger("aiocache_llm.memory")

#: (value, expires_at, created_at), times on the cache's clock: the value by reference
_Entry = tuple[Any, "float | None", float]


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


class MemoryStore(Store[_Entry]):
    """Entries by reference in an ordered dict (least recently used first), plus a heap of
    expiry times. It neither blocks nor suspends: :class:`InMemoryCache` runs it inline."""

    def __init__(self, max_entries: int, max_item_bytes: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.max_item_bytes = max_item_bytes
        self.clock = clock
        self.data: OrderedDict[str, _Entry] = OrderedDict()
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

    def put(self, name: str, entry: _Entry) -> None:
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

    def track(self, name: str, entry: _Entry, new: bool) -> None:
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

    def live(self, name: str) -> _Entry | None:
        """The unexpired entry under ``name``, dropping an expired one (lock held)."""
        entry = self.data.get(name)
        if entry is not None and entry[1] is not None and entry[1] <= self.clock():
            del self.data[name]
            self.stats.expirations += 1
            return None
        return entry

    def drop_if_same(self, name: str, entry: _Entry) -> bool:
        """Remove ``name`` if it still holds ``entry``; whether it did."""
        with self.lock:
            if self.data.get(name) is entry:
                self.data.pop(name, None)
                return True
        return False

    # -- the store -------------------------------------------------------------------------
    async def get(self, name: str) -> Stored[_Entry] | None:
        entry = self.data.get(name)
        return None if entry is None else Stored(entry)

    async def set(self, name: str, data: _Entry, expires_at: float | None) -> None:
        if self.admits(data[0]):
            self.put(name, data)

    async def set_many(self, items: Sequence[tuple[str, _Entry]], expires_at: float | None) -> None:
        for name, entry in [(name, entry) for name, entry in items if self.admits(entry[0])]:
            self.put(name, entry)

    async def delete(self, name: str) -> None:
        with self.lock:
            self.data.pop(name, None)

    async def discard(self, name: str, stored: Stored[_Entry]) -> None:
        self.drop_if_same(name, stored.data)

    async def update(self, changes: Mapping[str, Change[_Entry]]) -> None:
        """Under the lock: every change is computed before any is written."""
        with self.lock:
            planned = [(name, change(self.data.get(name))) for name, change in changes.items()]
            for name, (entry, _) in planned:
                self.put(name, entry)

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


class InMemoryCache(StoreCache[_Entry]):
    """A bounded in-process cache with per-entry TTLs that stores objects **by reference**.

    * It keeps what it is given, as a dict would: nothing is serialised or copied, so a set
      costs about what a dict set costs. Mutate a returned value and you mutate the cached one
      (copy it first if you need to change it). Values other backends refuse because they
      cannot serialise them (sets, arbitrary objects, NaN) are kept as they are here.
    * At most ``max_size_in_memory`` entries. When full, expired entries go first, then the
      entry that expires soonest, then the least recently used entry without a TTL.
    * Values over ``max_size_per_item`` KiB are refused, counted in
      ``stats.refused_too_large``, and not stored. The size is a cheap estimate, as LiteLLM's
      InMemoryCache makes it: exact for ``str`` and ``bytes``, and for any other object its own
      size without what it refers to (see :func:`estimated_size`).
    * Expiry is an expiry time kept with the value plus a heap of expiry times (updated lazily),
      so it needs no timers and no event loop.
    * Every method is safe from any thread and any event loop; increments are atomic among
      themselves (a plain set racing an increment of the same key may be lost, as with two
      sets). The blocking methods run in the caller's thread, with no thread hop.

    ``clock`` returns the current time in seconds (``time.monotonic`` by default); tests pass a
    controllable one.
    """

    backend_name = "memory"
    runs = "inline"
    store: MemoryStore

    def __init__(
        self,
        *,
        max_size_in_memory: int = 200,
        default_ttl: float | None = None,
        max_size_per_item: float = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_size_in_memory, bool) or not isinstance(max_size_in_memory, int):
            raise InvalidArgumentError("max_size_in_memory must be an int")
        if max_size_in_memory < 1:
            raise InvalidArgumentError("max_size_in_memory must be at least 1")
        self.max_size_in_memory = max_size_in_memory
        self.max_size_per_item = check_number(max_size_per_item, "max_size_per_item")
        store = MemoryStore(max_size_in_memory, int(self.max_size_per_item * 1024), clock)
        super().__init__(store, default_ttl=default_ttl, clock=clock)
        self._data = store.data
        self._clock = clock
        self._fast_limit = store.max_item_bytes // 4
        self._ttl_seen: tuple[Any, float | None] = (None, None)

    def __len__(self) -> int:
        return len(self._data)

    def _encode(self, value: Any, expires_at: float | None, now: float) -> _Entry:
        return (value, expires_at, now)

    def _decode(self, data: _Entry) -> Entry:
        return Entry(data[0], data[2], data[1])

    # -- the hot paths, inlined --------------------------------------------------------------
    @inline
    def async_get_cache(self, key: str) -> Any:
        """The value under ``key`` (by reference), or ``None``."""
        try:
            entry = self._data.get(key)
        except TypeError:  # unhashable
            entry = None
        if entry is None:
            check_key(key)  # a bad key is an error, as on every backend (a miss costs it)
            return None
        expires = entry[1]
        if expires is not None and expires <= self._clock():
            if self.store.drop_if_same(key, entry):
                self.stats.expirations += 1
            return None
        try:
            self._data.move_to_end(key)
        except KeyError:  # deleted by another thread meanwhile
            pass
        return entry[0]

    @inline
    def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        # check_ttl, cheap for the TTL object of the last call
        seen = self._ttl_seen
        if ttl is seen[0]:
            seconds = seen[1]
        elif ttl is USE_DEFAULT:
            seconds = self.default_ttl
        else:
            seconds = check_ttl(ttl)
            self._ttl_seen = (ttl, seconds)
        if value.__class__ is str:
            size = len(value)
        else:
            try:
                size = value.__sizeof__()
            except TypeError:  # a class: its __sizeof__ wants an instance
                size = 0
        if size > self._fast_limit and not self.store.admits(value):  # UTF-8 may be 4x
            return
        now = self._clock()
        data = self._data
        try:
            old = data.pop(key, None)  # re-inserted below: the most recently used
        except TypeError:  # unhashable: not a key
            old = None
        # check_key, cheap for a key stored already (it was checked then)
        if key.__class__ is not str or (old is None and (not key or not key.isascii())):
            key = check_key(key)
        entry = (value, None if seconds is None else now + seconds, now)
        data[key] = entry
        if old is None or old[1] is None:
            self.store.track(key, entry, old is None)

    # -- sets and listings (in-memory only) -------------------------------------------------
    @inline
    def async_set_cache_sadd(
        self, key: str, members: Iterable[str], ttl: TTLArg = USE_DEFAULT
    ) -> int:
        """Add ``members`` to the set at ``key``; return how many were new.

        The TTL is set only when the set is created.
        """
        key = check_key(key)
        new_members = set(members)
        store = self.store
        with store.lock:
            entry = store.live(key)
            if entry is None:
                now = self._clock()
                store.put(key, (new_members, self.expires_at(ttl, now), now))
                return len(new_members)
            current = entry[0]
            if not isinstance(current, set):
                raise InvalidArgumentError(f"the value at {key!r} is not a set")
            before = len(current)
            current |= new_members
            return len(current) - before

    @inline
    def async_smembers(self, key: str) -> set[str]:
        """The members of the set at ``key`` (a copy; empty if missing)."""
        value = self.get_cache(key)
        if value is None:
            return set()
        if not isinstance(value, set):
            raise InvalidArgumentError(f"the value at {key!r} is not a set")
        return set(value)

    @inline
    def async_get_oldest_n_keys(self, n: int) -> list[str]:
        """Up to ``n`` live keys, least recently used first."""
        now = self._clock()
        with self.store.lock:
            out: list[str] = []
            for key, (_, expires, _) in self._data.items():
                if len(out) >= n:
                    break
                if expires is None or expires > now:
                    out.append(key)
            return out

    def __repr__(self) -> str:
        return (
            f"InMemoryCache(max_size_in_memory={self.max_size_in_memory},"
            f" default_ttl={self.default_ttl!r}, entries={len(self._data)})"
        )
