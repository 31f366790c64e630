"""InMemoryCache: a bounded, TTL-aware dictionary in this process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._sync import inline
from ..core.codec import Entry
from ..errors import InvalidArgumentError
from . import _checks
from ._checks import USE_DEFAULT, IncrementOp, TTLArg, check_key, check_number
from ._memory_store import Held, MemoryStore, estimated_size
from ._memory_views import ExpiryView, ValueView
from ._store_cache import StoreCache

__all__ = ["InMemoryCache", "MemoryStore", "estimated_size"]


class InMemoryCache(StoreCache[Held]):
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

    # -- LiteLLM's names for what it holds (read-only views) --------------------------------
    @property
    def cache_dict(self) -> ValueView:
        """Key → value of every entry held (LiteLLM's ``cache_dict``), read-only."""
        return ValueView(self._data)

    @property
    def ttl_dict(self) -> ExpiryView:
        """Key → expiry time (wall clock) of every entry with one (LiteLLM's ``ttl_dict``)."""
        return ExpiryView(self._data, self._clock)

    @property
    def expiration_heap(self) -> list[tuple[float, str]]:
        """``(expiry, key)`` of every entry with an expiry, earliest first (a copy)."""
        return sorted((expires, key) for key, expires in self.ttl_dict.items())

    def check_value_size(self, value: Any) -> bool:
        """Whether ``value`` is within ``max_size_per_item`` (a refusal is counted)."""
        return self.store.admits(value)

    def _encode(self, value: Any, expires_at: float | None, now: float, name: str) -> Held:
        return (value, expires_at, now)

    def _decode(self, data: Held, name: str = "") -> Entry:
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

    def _seconds(self, ttl: TTLArg) -> float | None:
        """``check_ttl``, cheap for the TTL object of the last call."""
        seen = self._ttl_seen
        if ttl is seen[0]:
            return seen[1]
        if ttl is USE_DEFAULT:
            return self.default_ttl
        seconds = _checks.check_ttl(ttl)
        self._ttl_seen = (ttl, seconds)
        return seconds

    def _admits(self, value: Any) -> bool:
        """The size estimate; only a large one is checked exactly (UTF-8 may be 4x)."""
        if value.__class__ is str:
            return len(value) <= self._fast_limit or self.store.admits(value)
        try:
            return value.__sizeof__() <= self._fast_limit or self.store.admits(value)
        except TypeError:  # a class: its __sizeof__ wants an instance
            return True

    @inline
    def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        seconds = self._seconds(ttl)
        if not self._admits(value):
            return
        now = self._clock()
        entry = (value, None if seconds is None else now + seconds, now)
        data = self._data
        # Without an expiry the entry is re-inserted below as the most recently used; one with
        # an expiry is evicted by it, never by recency, so it keeps its place.
        try:
            old = data.pop(key, None) if seconds is None else data.get(key)
        except TypeError:  # unhashable: not a key
            old = None
        if old is None:  # a new key: checked (a stored one was checked when it was stored)
            if key.__class__ is not str or not key or not key.isascii():
                key = check_key(key)
            data[key] = entry
            self.store.track(key, entry, True)
        else:
            data[key] = entry
            if old[1] is None:
                self.store.track(key, entry, False)

    @inline
    def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        """Store every pair with one TTL, in one pass: the TTL, the clock and the expiry once
        per batch, and the keys checked together before any is written (a bad key stores
        nothing); a value over ``max_size_per_item`` is refused alone, as by
        ``async_set_cache``."""
        seconds = self._seconds(ttl)
        batch = cache_list if cache_list.__class__ is list else list(cache_list)
        keys = [key for key, _ in batch if key.__class__ is str]
        if len(keys) != len(batch) or not all(keys) or not "".join(keys).isascii():
            batch = [(check_key(key), value) for key, value in batch]  # or raise
        now = self._clock()
        expires = None if seconds is None else now + seconds
        data, track, limit, last = self._data, self.store.track, self._fast_limit, None
        get = data.pop if expires is None else data.get
        for key, value in batch:
            if value is not last:  # the same object again: sized already
                try:
                    size = len(value) if value.__class__ is str else value.__sizeof__()
                except TypeError:  # a class: its __sizeof__ wants an instance
                    size = 0
                if size > limit and not self._admits(value):
                    continue
                last = value
            # without an expiry the entry is re-inserted as the most recently used, as by
            # async_set_cache; one with an expiry keeps its place
            old = get(key, None)
            data[key] = entry = (value, expires, now)
            if old is None or old[1] is None:
                track(key, entry, old is None)

    # -- the rest of the contract, inline: the same steps as StoreCache's, without awaiting
    @inline
    def async_get_entry(self, key: str) -> Entry | None:
        entry = self.store.fresh(key)
        return None if entry is None else self._wall(self._decode(entry))

    @inline
    def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        fresh, decode, wall = self.store.fresh, self._decode, self._wall
        return [None if e is None else wall(decode(e)) for e in map(fresh, keys)]

    @inline
    def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        return [None if e is None else e[0] for e in map(self.store.fresh, keys)]

    @inline
    def async_get_ttl(self, key: str) -> float | None:
        entry = self.store.fresh(key)
        if entry is None or entry[1] is None:
            return None
        return max(0.0, entry[1] - self._clock())

    @inline
    def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        changes, results = self._increments([_checks.check_increment(key, value, ttl)], refresh_ttl)
        self.store.apply(changes)
        return results[0]

    @inline
    def async_increment_pipeline(self, increment_list: Iterable[IncrementOp]) -> list[float]:
        changes, results = self._pipeline(increment_list)
        self.store.apply(changes)
        return results

    @inline
    def async_delete_cache(self, key: str) -> None:
        self.store.delete_now(check_key(key))

    # -- sets and listings (in-memory only) -------------------------------------------------
    @inline
    def async_set_cache_sadd(
        self, key: str, value: Iterable[str], ttl: TTLArg = USE_DEFAULT
    ) -> int:
        """Add the members ``value`` to the set at ``key``; return how many were new.

        The TTL is set only when the set is created.
        """
        key = check_key(key)
        new_members = set(value)
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
