"""The storage protocol: what a backend must do, and nothing more.

A :class:`Store` keeps opaque payloads (the codec's bytes) under names, each with the wall-clock
time it expires at. It knows nothing of keys, namespaces, TTLs, values, stats of reads or
error types: :class:`~aiocache_llm.storage._store_cache.StoreCache`, the one cache class over
every store, does all of that once.

Primitives every store writes: :meth:`~Store.get`, :meth:`~Store.set`, :meth:`~Store.delete`,
:meth:`~Store.update` (an atomic read-modify-write, which counters are made of),
:meth:`~Store.clear` and :meth:`~Store.ping`. Batch forms (:meth:`~Store.get_many`,
:meth:`~Store.set_many`), :meth:`~Store.discard` and :meth:`~Store.close` have defaults
built on the primitives; a store overrides them where it has a faster form (one SQL query,
bounded concurrency, a bulk delete).

A store with native expiry and counters (Redis) says so (:attr:`Store.expires_natively`,
:attr:`Store.counts`) and answers :meth:`~Store.remaining` and :meth:`~Store.increment`
itself; the cache class then neither checks expiries on read nor makes counters of updates.

Failures are raised as the store's client library raises them; the store declares, as data,
which of those exceptions mean what (:attr:`Store.errors`), and the cache class translates them
at its boundary, with the original chained as ``__cause__``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeAlias, TypeVar

from ..errors import BackendError, CacheError
from .base import CacheStats

if TYPE_CHECKING:
    from ._store_cache import StoreCache

__all__ = [
    "Change",
    "ErrorMap",
    "Store",
    "Stored",
    "Translating",
    "translatable",
    "translate",
]

P = TypeVar("P")

#: An :meth:`Store.update` step: the current payload (``None``: absent) in, what to write
#: instead out, with its wall-clock expiry (``None``: never). It may raise to abandon the update.
Change = Callable[[P | None], tuple[P, float | None]]

#: Rows of ``(client exception type(s), aiocache_llm error type)``; the first row whose types
#: match an exception decides. An exception no row matches is a bug and propagates as it is.
ErrorMap: TypeAlias = (
    "tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], type[BackendError]], ...]"
)


@dataclass(frozen=True, slots=True)
class Stored(Generic[P]):
    """A payload as read, with the store's version tag of it (ETag, generation) if it has one."""

    data: P
    version: Any = None


class Store(abc.ABC, Generic[P]):
    """Raw payloads under names, with an expiry. See the module for the division of labour.

    Names are already encoded by the cache class (prefix included) and are never empty.
    """

    #: The client library's exceptions, translated by the cache class (see :data:`ErrorMap`).
    errors: ClassVar[ErrorMap] = ()
    #: The cache's counters, shared with the cache class (evictions are the store's to count).
    stats: CacheStats
    #: The store removes names when they expire (a read never returns an expired payload) and
    #: answers :meth:`remaining`; the cache class then skips its own expiry check.
    expires_natively: ClassVar[bool] = False
    #: The store adds to stored numbers itself (:meth:`increment`); otherwise counters are
    #: :meth:`update` steps the cache class writes.
    counts: ClassVar[bool] = False

    # -- primitives ------------------------------------------------------------------------
    @abc.abstractmethod
    async def get(self, name: str) -> Stored[P] | None:
        """The payload under ``name``, or ``None``. Expired payloads may be returned."""

    @abc.abstractmethod
    async def set(self, name: str, data: P, expires_at: float | None) -> None:
        """Write ``data`` under ``name``, replacing what was there."""

    @abc.abstractmethod
    async def delete(self, name: str) -> None:
        """Remove ``name``; an absent name is not an error."""

    @abc.abstractmethod
    async def update(self, changes: Mapping[str, Change[P]]) -> None:
        """Apply every change to its name's current payload, atomically and all or nothing.

        Each change is called with the payload read (``None``: absent or unreadable as the
        store sees it) and returns what to write. A change that raises abandons the update:
        nothing is written and the exception propagates. A change may be called more than once
        (a store that retries on a conflicting writer calls it again on the newer payload).
        """

    @abc.abstractmethod
    async def clear(self, prefix: str) -> None:
        """Remove every name that starts with ``prefix`` (``""``: every name)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the store cannot be used."""

    # -- defaults built on the primitives --------------------------------------------------
    async def get_many(self, names: Sequence[str]) -> list[Stored[P] | None]:
        """The payloads under ``names``, in order."""
        return [await self.get(name) for name in names]

    async def set_many(self, items: Sequence[tuple[str, P]], expires_at: float | None) -> None:
        """Write every ``(name, data)`` pair with one expiry."""
        for name, data in items:
            await self.set(name, data, expires_at)

    async def discard(self, name: str, stored: Stored[P]) -> None:
        """Remove ``name`` if it still holds ``stored`` (a newer payload stays). Best effort."""
        current = await self.get(name)
        if current is not None and current.data == stored.data:
            await self.delete(name)

    # -- native forms, for a store that declares them ---------------------------------------
    async def remaining(self, name: str) -> float | None:
        """Seconds ``name`` has left by the store's own clock (``None``: absent or never
        expires). Only called when :attr:`expires_natively` is set."""
        raise NotImplementedError

    async def increment(
        self, ops: Sequence[tuple[str, float, float | None]], refresh_ttl: bool
    ) -> list[float]:
        """Add each ``(name, by, ttl_seconds)`` to the number at ``name`` (0 if absent), all
        or nothing, and return the new values in order. A new name gets its first op's TTL
        (``None``: none); an existing one keeps its expiry unless ``refresh_ttl`` sets it from
        each op. A stored value that is not a number fails the whole call with
        :class:`~aiocache_llm.errors.InvalidArgumentError`. Only called when :attr:`counts`
        is set."""
        raise NotImplementedError

    def refuse_updates(self) -> None:
        """Raise :class:`NotSupported` if :meth:`update` cannot be atomic on this store."""

    async def close(self) -> None:
        """Release clients and connections; the store may be used again afterwards."""

    def details(self) -> dict[str, Any]:
        """Where the store is (bucket, directory, ...) for reports; never a secret."""
        return {}

    def error_message(self, exc: BaseException) -> str:
        """The store's own words for a failure (never a secret)."""
        return str(exc) or type(exc).__name__


def translatable(errors: ErrorMap) -> tuple[type[BaseException], ...]:
    """Every exception type an error map names, flattened for one ``isinstance``."""
    flat: list[type[BaseException]] = []
    for types, _ in errors:
        flat.extend(types if isinstance(types, tuple) else (types,))
    return tuple(flat)


def translate(store: Store[Any], where: str, exc: BaseException) -> CacheError | None:
    """Our error for ``exc`` by the store's map (first matching row), or ``None`` if no row
    matches; ``where`` (the backend's name) starts the message."""
    for types, error in store.errors:
        if isinstance(exc, types):
            return error(f"{where}: {store.error_message(exc)}")
    return None


class Translating:
    """``with cache._errors:`` turns the store's client exceptions into ours (and counts them
    in the cache's stats)."""

    __slots__ = ("cache", "catch")

    def __init__(self, cache: StoreCache[Any]) -> None:
        self.cache = cache
        self.catch = translatable(cache.store.errors)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, BackendError):  # ours already (a store that translates per caller)
            self.cache.stats.count_error(exc)
            return
        if isinstance(exc, CacheError) or not isinstance(exc, self.catch):
            return
        error = translate(self.cache.store, self.cache.backend_name, exc)
        if error is not None:
            self.cache.stats.count_error(error)
            raise error from exc
