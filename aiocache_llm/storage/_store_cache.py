"""StoreCache: the one cache class over any :class:`~aiocache_llm.storage._store.Store`.

Each concern of the backend contract is written here once, for every store:

* **Keys and prefixes.** A key is checked (a non-empty ``str`` UTF-8 can encode) and becomes
  the name ``prefix + store.name_of(key)``; a flush removes only names under the prefix.
* **TTLs.** ``ttl`` is resolved against ``default_ttl`` and checked before anything is written;
  the expiry travels inside the stored entry, so every store checks it on read (a store that
  expires names itself, :attr:`Store.expires_natively`, is trusted instead).
* **The codec.** Values go through :mod:`aiocache_llm.core.codec` (checksummed, bound to the
  name they are stored under, compressed over ``compress_threshold``, inflated to at most
  ``max_entry_size`` bytes on read); a value it cannot encode stores nothing, in a batch too.
* **Expired or corrupt entries are misses**, counted in ``stats`` and discarded (only if they
  are still what was read, so a fresh value written meanwhile survives).
* **Counters** are updates of stored numbers (:meth:`Store.update`), all or nothing per call,
  or the store's own increments where it has them (:attr:`Store.counts`).
* **Errors.** What the store's client raises is translated by the store's error map into
  :mod:`aiocache_llm.errors` types (original chained) and counted in ``stats.errors``.

How a store's coroutines run is the class's ``runs``: ``"async"`` for network stores;
``"threaded"`` for a store whose primitives block on local I/O but never suspend (the contract
methods then run whole in the library's I/O workers, and their blocking twins in the caller's
thread, with no hop); ``"inline"`` for a store that neither blocks nor suspends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

from .._sync import inline, threaded
from ..core.codec import DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_ENTRY_SIZE, Entry, decode, encode
from ..errors import (
    BackendError,
    ConfigurationError,
    CorruptEntryError,
    InvalidArgumentError,
)
from . import _checks
from ._checks import USE_DEFAULT, IncrementOp, TTLArg, check_key
from ._store import Change, Store, Stored, Translating
from .base import BaseCache

__all__ = ["StoreCache", "run_inline"]

logger = logging.getLogger("aiocache_llm.store")

P = TypeVar("P")
R = TypeVar("R")

#: The marker ``aiocache_llm._sync`` leaves on a method it generated.
_GENERATED = "__aiocache_llm_core__"

#: Contract methods a local store's class runs whole in one thread (see the module).
_DRIVEN = (
    "async_get_cache",
    "async_get_entry",
    "async_batch_get_cache",
    "async_batch_get_entries",
    "async_set_cache",
    "async_set_cache_pipeline",
    "async_increment",
    "async_increment_pipeline",
    "async_delete_cache",
    "async_flush_cache",
    "async_get_ttl",
    "async_ping",
    "async_disconnect",
)


def run_inline(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine that never suspends to its end, here, and return its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a local store suspended; its class must run it as 'async'")


def _driven(method: Callable[..., Coroutine[Any, Any, R]]) -> Callable[..., R]:
    def body(self: Any, *args: Any, **kwargs: Any) -> R:
        return run_inline(method(self, *args, **kwargs))

    body.__name__, body.__qualname__ = method.__name__, method.__qualname__
    body.__doc__ = method.__doc__
    body.__wrapped__ = method  # type: ignore[attr-defined]  # keeps the exact signature
    return body


class StoreCache(BaseCache, Generic[P]):
    """The backend contract over ``store`` (see the module): every backend's base class."""

    #: How the store's coroutines run: see the module.
    runs: ClassVar[Literal["async", "threaded", "inline"]] = "async"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.runs != "async":
            make = threaded if cls.runs == "threaded" else inline
            # a threaded body must not await another contract method (that would hop again)
            extra = ("async_test_connection",) if cls.runs == "inline" else ()
            for name in _DRIVEN + extra:
                method = getattr(cls, name)
                if not hasattr(method, _GENERATED):
                    setattr(cls, name, make(_driven(method)))
        super().__init_subclass__(**kwargs)

    def __init__(
        self,
        store: Store[P],
        *,
        prefix: str = "",
        default_ttl: float | None = None,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
        clock: Callable[[], float] = time.time,
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
    ) -> None:
        super().__init__(default_ttl=default_ttl)
        if not isinstance(prefix, str):
            raise ConfigurationError("the key prefix must be a str")
        self.store = store
        store.stats = self.stats
        self.prefix = prefix
        self.compress_threshold = compress_threshold
        if isinstance(max_entry_size, bool) or not isinstance(max_entry_size, int):
            raise ConfigurationError("max_entry_size must be an int (bytes)")
        if max_entry_size < 1:
            raise ConfigurationError("max_entry_size must be positive")
        #: The largest entry (in bytes, once inflated) a read accepts; a larger one is a miss.
        self.max_entry_size = max_entry_size
        #: The clock of stored times: the wall clock, unless the store keeps its own
        #: (the in-memory store's is monotonic); entries are reported in wall-clock time.
        self.clock = clock
        self._errors = Translating(self)

    # -- names and entries -----------------------------------------------------------------
    def name_of(self, key: str) -> str:
        """The store's name for ``key``; a store may spell keys its own way (see S3)."""
        return key

    def object_name(self, key: str) -> str:
        """The name under which ``key`` is stored: the prefix, then the key's spelling."""
        return self.prefix + self.name_of(check_key(key))

    def _encode(self, value: Any, expires_at: float | None, now: float, name: str) -> P:
        """``value`` as stored under ``name`` (the codec binds the entry to the name)."""
        data = encode(
            value,
            expires_at=expires_at,
            created_at=now,
            compress_threshold=self.compress_threshold,
            key=name,
        )
        return data  # type: ignore[return-value]

    def _decode(self, data: P, name: str) -> Entry:
        """The entry ``data`` holds, if it was stored under ``name``."""
        return decode(data, key=name, max_size=self.max_entry_size)  # type: ignore[arg-type]

    def _wall(self, entry: Entry | None) -> Entry | None:
        """``entry`` with its times on the wall clock."""
        if entry is None or self.clock is time.time:
            return entry
        shift = time.time() - self.clock()
        expires_at = None if entry.expires_at is None else entry.expires_at + shift
        return Entry(entry.value, entry.created_at + shift, expires_at)

    def _fresh(self, name: str, stored: Stored[P], now: float) -> Entry | None:
        """The entry ``stored`` holds if it is readable and unexpired, else ``None`` (counted)."""
        try:
            entry = self._decode(stored.data, name)
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            logger.warning("%s: reading the unreadable entry %r as a miss", self, name)
            return None
        if entry.expires_at is None or entry.expires_at > now or self.store.expires_natively:
            return entry
        self.stats.expirations += 1
        return None

    async def _live(self, name: str, stored: Stored[P] | None, now: float) -> Entry | None:
        """The entry ``stored`` holds if it is readable and unexpired; else discard it."""
        if stored is None:
            return None
        entry = self._fresh(name, stored, now)
        if entry is None:
            await self._discard(name, stored)
        return entry

    async def _discard(self, name: str, stored: Stored[P]) -> None:
        try:
            with self._errors:
                await self.store.discard(name, stored)
        except BackendError as exc:
            logger.warning("%s: could not remove the stale entry %r: %s", self, name, exc)

    async def _entry(self, key: str) -> Entry | None:
        name = self.object_name(key)
        with self._errors:
            stored = await self.store.get(name)
        return await self._live(name, stored, self.clock())

    async def _entries(self, keys: Sequence[str]) -> list[Entry | None]:
        names = [self.object_name(key) for key in keys]
        with self._errors:
            found = await self.store.get_many(names)
        now, fresh = self.clock(), self._fresh
        entries = [
            None if stored is None else fresh(name, stored, now)
            for name, stored in zip(names, found, strict=True)
        ]
        for name, stored, entry in zip(names, found, entries, strict=True):
            if entry is None and stored is not None:
                await self._discard(name, stored)  # unreadable or expired
        return entries

    # -- the contract ----------------------------------------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        entry = await self._entry(key)
        return None if entry is None else entry.value

    async def async_get_entry(self, key: str) -> Entry | None:
        """The whole entry (value, creation and expiry times) under ``key``, or ``None``."""
        return self._wall(await self._entry(key))

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        return [self._wall(entry) for entry in await self._entries(keys)]

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        return [None if entry is None else entry.value for entry in await self._entries(keys)]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        name = self.object_name(key)
        now = self.clock()
        expires_at = self.expires_at(ttl, now)
        data = self._encode(value, expires_at, now, name)
        with self._errors:
            await self.store.set(name, data, expires_at)

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        """Store every pair with one TTL; nothing is written unless every pair encodes."""
        now = self.clock()
        expires_at = self.expires_at(ttl, now)
        named = [(self.object_name(k), v) for k, v in cache_list]
        encoded = [(name, self._encode(v, expires_at, now, name)) for name, v in named]
        with self._errors:
            await self.store.set_many(encoded, expires_at)

    async def async_delete_cache(self, key: str) -> None:
        name = self.object_name(key)
        with self._errors:
            await self.store.delete(name)

    async def async_flush_cache(self) -> None:
        """Remove every entry under this cache's prefix (and nothing else)."""
        with self._errors:
            await self.store.clear(self.prefix)

    async def async_get_ttl(self, key: str) -> float | None:
        if self.store.expires_natively:
            name = self.object_name(key)
            with self._errors:
                return await self.store.remaining(name)
        entry = await self._entry(key)
        if entry is None or entry.expires_at is None:
            return None
        return max(0.0, entry.expires_at - self.clock())

    async def async_ping(self) -> bool:
        with self._errors:
            await self.store.ping()
        return True

    async def async_disconnect(self) -> None:
        """Close the store's clients and connections; later calls open new ones."""
        with self._errors:
            await self.store.close()

    async def async_test_connection(self) -> dict[str, Any]:
        report = await super().async_test_connection()
        report.update(self._where())
        return report

    def _where(self) -> dict[str, Any]:
        where = self.store.details()
        if self.prefix:
            where["prefix"] = self.prefix
        return where

    # -- counters --------------------------------------------------------------------------
    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        op = _checks.check_increment(key, value, ttl)
        if self.store.counts:
            return (await self._count([op], refresh_ttl))[0]
        changes, results = self._increments([op], refresh_ttl)
        with self._errors:
            await self.store.update(changes)
        return results[0]

    async def async_increment_pipeline(self, increment_list: Iterable[IncrementOp]) -> list[float]:
        """The increments in order, all or nothing: every current value is checked first."""
        if self.store.counts:
            return await self._count(_checks.normalize_increments(increment_list), False)
        self.store.refuse_updates()
        changes, results = self._pipeline(increment_list)
        with self._errors:
            await self.store.update(changes)
        return results

    async def _count(
        self, ops: Sequence[tuple[str, float, TTLArg]], refresh_ttl: bool
    ) -> list[float]:
        """The checked ``ops`` as the store's own increments (see :attr:`Store.counts`)."""
        if not ops:
            return []
        named = [(self.prefix + self.name_of(k), by, self.resolve_ttl(t)) for k, by, t in ops]
        with self._errors:
            return await self.store.increment(named, refresh_ttl)

    def _pipeline(self, ops: Iterable[IncrementOp]) -> tuple[dict[str, Change[P]], list[float]]:
        """:meth:`_increments` for an increment pipeline's operations."""
        return self._increments(_checks.normalize_increments(ops), False)

    def _increments(
        self, ops: Sequence[tuple[str, float, TTLArg]], refresh_ttl: bool
    ) -> tuple[dict[str, Change[P]], list[float]]:
        """The store update that applies the checked ``ops``, and the list the update fills
        with each op's result."""
        self.store.refuse_updates()
        results: list[float] = [0] * len(ops)
        positions: dict[str, list[tuple[int, float, TTLArg]]] = {}
        for i, (key, by, ttl) in enumerate(ops):
            positions.setdefault(self.prefix + self.name_of(key), []).append((i, by, ttl))
        changes = {
            name: self._adding(name, at, results, refresh_ttl) for name, at in positions.items()
        }
        return changes, results

    def _adding(
        self,
        name: str,
        ops: list[tuple[int, float, TTLArg]],
        results: list[float],
        refresh_ttl: bool,
    ) -> Change[P]:
        """The change that adds ``ops`` (position, by, ttl) to the number stored at ``name``.

        A new (or expired, or unreadable) key starts at 0 with its first op's TTL; an existing
        one keeps its expiry unless ``refresh_ttl`` sets it from each op again.
        """

        def change(current: P | None) -> tuple[P, float | None]:
            now = self.clock()
            entry: Entry | None = None
            if current is not None:
                try:
                    entry = self._decode(current, name)
                except CorruptEntryError:
                    self.stats.corrupt_reads += 1
                if entry is not None and entry.expired(now):
                    entry = None
            if entry is None:
                total: float = 0
                expires_at = self.expires_at(ops[0][2], now)
            else:
                total = entry.value
                if isinstance(total, bool) or not isinstance(total, (int, float)):
                    raise InvalidArgumentError(f"the value at {name!r} is not a number")
                expires_at = entry.expires_at
            for i, by, ttl in ops:
                total += by
                results[i] = total
                if refresh_ttl:
                    expires_at = self.expires_at(ttl, now)
            return self._encode(total, expires_at, now, name), expires_at

        return change

    def __repr__(self) -> str:
        where = ", ".join(f"{k}={v!r}" for k, v in self._where().items())
        return f"{type(self).__name__}({where})"
