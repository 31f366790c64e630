"""InMemoryCache: a bounded, TTL-aware dictionary in this process."""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._sync import inline
from ..codec import Entry, dumps_json
from ..errors import InvalidArgumentError
from .base import (
    MAX_TTL,
    USE_DEFAULT,
    BaseCache,
    IncrementOp,
    TTLArg,
    check_key,
    check_number,
    check_ttl,
    normalize_increments,
)

__all__ = ["InMemoryCache"]

logger = logging.getLogger("aiocache_llm.memory")

# (value, expires_at, created_at), times on the cache's clock
_Entry = tuple[Any, "float | None", float]


class InMemoryCache(BaseCache):
    """A bounded in-process cache with per-entry TTLs.

    * At most ``max_size_in_memory`` entries. When full, expired entries go first, then the
      entry that expires soonest, then the least recently used entry without a TTL.
    * Values over ``max_size_per_item`` KiB (serialised size) are refused, counted in
      ``stats.refused_too_large``, and not stored. A value orjson cannot encode raises
      :class:`~aiocache_llm.errors.SerializationError` and stores nothing.
    * Values are stored and returned **by reference**, as a dict would: mutate a returned value
      and you mutate the cached one. Copy it first if you need to change it.
    * Expiry is an expiry time kept with the value plus a heap, so it costs O(log n) and needs
      no timers and no event loop.
    * Every method is safe from any thread and any event loop; counters are atomic. The
      blocking methods run in the caller's thread, with no thread hop.

    ``clock`` returns the current time in seconds (``time.monotonic`` by default); tests pass a
    controllable one.
    """

    backend_name = "memory"

    def __init__(
        self,
        *,
        max_size_in_memory: int = 200,
        default_ttl: float | None = None,
        max_size_per_item: float = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(default_ttl=default_ttl)
        if isinstance(max_size_in_memory, bool) or not isinstance(max_size_in_memory, int):
            raise InvalidArgumentError("max_size_in_memory must be an int")
        if max_size_in_memory < 1:
            raise InvalidArgumentError("max_size_in_memory must be at least 1")
        self.max_size_in_memory = max_size_in_memory
        self.max_size_per_item = check_number(max_size_per_item, "max_size_per_item")
        self._max_item_bytes = int(self.max_size_per_item * 1024)
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    # -- internals (callers hold self._lock where noted) ----------------------------------
    def _size_ok(self, value: Any) -> bool:
        if value is None or isinstance(value, (bool, int)):
            return True
        if isinstance(value, float):
            if not math.isfinite(value):
                dumps_json(value)  # raises SerializationError, as every backend does
            return True
        if isinstance(value, str):
            size = len(value) if len(value) * 4 <= self._max_item_bytes else len(value.encode())
        elif isinstance(value, (bytes, bytearray)):
            size = len(value)
        elif isinstance(value, (set, frozenset)):
            size = len(dumps_json(list(value)))
        else:
            size = len(dumps_json(value))
        return size <= self._max_item_bytes

    def _admit(self, value: Any) -> bool:
        if self._size_ok(value):
            return True
        self._refuse()
        return False

    def _refuse(self) -> None:
        self.stats.refused_too_large += 1
        logger.debug("refused a value over max_size_per_item=%s KiB", self.max_size_per_item)

    def _expiry(self, ttl: TTLArg) -> float | None:
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        return None if seconds is None else self._clock() + seconds

    def _live(self, key: str) -> _Entry | None:
        """The unexpired entry under ``key`` (lock held)."""
        try:
            entry = self._data.get(key)
        except TypeError:  # unhashable
            entry = None
        if entry is None:
            check_key(key)
            return None
        if entry[1] is not None and entry[1] <= self._clock():
            del self._data[key]
            self.stats.expirations += 1
            return None
        return entry

    def _store(self, key: str, value: Any, expires: float | None, now: float | None = None) -> None:
        """Put an entry and keep the bounds (lock held)."""
        data = self._data
        data[key] = (value, expires, self._clock() if now is None else now)
        data.move_to_end(key)
        if expires is not None:
            heapq.heappush(self._heap, (expires, key))
            if len(self._heap) > 2 * len(data) + 64:
                self._rebuild_heap()
        if len(data) > self.max_size_in_memory:
            self._evict()

    def _rebuild_heap(self) -> None:
        self._heap = [(e[1], k) for k, e in self._data.items() if e[1] is not None]
        heapq.heapify(self._heap)

    def _pop_heap_entry(self) -> tuple[float, str] | None:
        """Pop the earliest-expiring heap record that still matches its entry (lock held)."""
        heap, data = self._heap, self._data
        while heap:
            expires, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry[1] == expires:
                return expires, key
        return None

    def _evict(self) -> None:
        data, heap = self._data, self._heap
        now = self._clock()
        while heap and heap[0][0] <= now:  # every expired entry first
            record = self._pop_heap_entry()
            if record is None:
                break
            if record[0] <= now:
                del data[record[1]]
                self.stats.expirations += 1
            else:  # the next valid record is not expired: put it back
                heapq.heappush(heap, record)
                break
        while len(data) > self.max_size_in_memory:
            record = self._pop_heap_entry()
            if record is not None:  # then the earliest-expiring
                del data[record[1]]
            else:  # then the least recently used
                data.popitem(last=False)
            self.stats.evictions += 1

    def _drop_if_same(self, key: str, entry: _Entry) -> None:
        with self._lock:
            if self._data.get(key) is entry:
                del self._data[key]
                self.stats.expirations += 1

    # -- contract -------------------------------------------------------------------------
    @inline
    def async_get_cache(self, key: str) -> Any:
        """The value under ``key`` (by reference), or ``None``."""
        try:
            entry = self._data.get(key)
        except TypeError:
            entry = None
        if entry is None:
            check_key(key)  # a bad key is an error, as on every backend (a miss costs it)
            return None
        expires = entry[1]
        if expires is not None and expires <= self._clock():
            self._drop_if_same(key, entry)
            return None
        try:
            self._data.move_to_end(key)
        except KeyError:  # deleted by another thread meanwhile
            pass
        return entry[0]

    @inline
    def async_get_entry(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._live(key)
        if entry is None:
            return None
        to_wall = time.time() - self._clock()
        expires = None if entry[1] is None else entry[1] + to_wall
        return Entry(entry[0], entry[2] + to_wall, expires)

    @inline
    def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        get = self.get_entry
        return [get(key) for key in keys]

    @inline
    def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        get = self.get_cache
        return [get(key) for key in keys]

    @inline
    def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        # the checks of check_key/check_ttl/_admit, inlined for the common shapes
        if key.__class__ is not str or not key or not key.isascii():
            key = check_key(key)
        seconds: Any
        if ttl is USE_DEFAULT:
            seconds = self.default_ttl
        elif (ttl.__class__ is int or ttl.__class__ is float) and 0 < ttl <= MAX_TTL:
            seconds = ttl
        else:
            seconds = check_ttl(ttl)
        cls = value.__class__
        if cls is dict or cls is list:
            if len(dumps_json(value)) > self._max_item_bytes:
                self._refuse()
                return
        elif not self._admit(value):
            return
        now = self._clock()
        with self._lock:
            self._store(key, value, None if seconds is None else now + seconds, now)

    @inline
    def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        expires = self._expiry(ttl)
        checked = [(check_key(k), v) for k, v in items]
        admitted = [(k, v) for k, v in checked if self._admit(v)]
        with self._lock:
            for key, value in admitted:
                self._store(key, value, expires)

    def _increments(
        self, ops: list[tuple[str, float, TTLArg]], refresh_ttl: bool = False
    ) -> list[float]:
        """Apply ``ops`` all or nothing (lock held): every current value is checked first.
        ``refresh_ttl`` sets each key's TTL to its op's, whether the key is new or not."""
        planned: dict[str, tuple[float, float | None, float]] = {}
        results: list[float] = []
        for key, by, ttl in ops:
            entry = planned.get(key) or self._live(key)
            if entry is None:
                new, expires, created = by, self._expiry(ttl), self._clock()
            else:
                current = entry[0]
                if isinstance(current, bool) or not isinstance(current, (int, float)):
                    raise InvalidArgumentError(f"the value at {key!r} is not a number")
                expires = self._expiry(ttl) if refresh_ttl else entry[1]
                new, created = current + by, entry[2]
            planned[key] = (new, expires, created)
            results.append(new)
        for key, (new, expires, created) in planned.items():
            if key in self._data:
                self._data[key] = (new, expires, created)
                self._data.move_to_end(key)
            else:
                self._store(key, new, expires)
        return results

    @inline
    def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        key = check_key(key)
        check_number(value)
        if ttl is not USE_DEFAULT:
            check_ttl(ttl)
        with self._lock:
            return self._increments([(key, value, ttl)], refresh_ttl)[0]

    @inline
    def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        checked = normalize_increments(ops)
        with self._lock:
            return self._increments(checked)

    @inline
    def async_set_cache_sadd(
        self, key: str, members: Iterable[str], ttl: TTLArg = USE_DEFAULT
    ) -> int:
        """Add ``members`` to the set at ``key``; return how many were new.

        The TTL is set only when the set is created.
        """
        key = check_key(key)
        new_members = set(members)
        with self._lock:
            entry = self._live(key)
            if entry is None:
                self._store(key, new_members, self._expiry(ttl))
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
    def async_delete_cache(self, key: str) -> None:
        key = check_key(key)
        with self._lock:
            self._data.pop(key, None)

    @inline
    def async_flush_cache(self) -> None:
        with self._lock:
            self._data.clear()
            self._heap.clear()

    @inline
    def async_get_ttl(self, key: str) -> float | None:
        with self._lock:
            entry = self._live(key)
        if entry is None or entry[1] is None:
            return None
        return max(0.0, entry[1] - self._clock())

    @inline
    def async_get_oldest_n_keys(self, n: int) -> list[str]:
        """Up to ``n`` live keys, least recently used first."""
        now = self._clock()
        with self._lock:
            out: list[str] = []
            for key, (_, expires, _) in self._data.items():
                if len(out) >= n:
                    break
                if expires is None or expires > now:
                    out.append(key)
            return out

    async def async_test_connection(self) -> dict[str, Any]:
        return {
            "status": "healthy",
            "backend": self.backend_name,
            "entries": len(self._data),
            "max_size_in_memory": self.max_size_in_memory,
            "stats": self.stats.as_dict(),
        }

    def __repr__(self) -> str:
        return (
            f"InMemoryCache(max_size_in_memory={self.max_size_in_memory},"
            f" default_ttl={self.default_ttl!r}, entries={len(self._data)})"
        )
