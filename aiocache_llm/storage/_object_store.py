"""What the object stores (S3, Google Cloud Storage, Azure Blob) share, as one :class:`Store`.

Object stores have no TTLs and no counters; :class:`ObjectStore` supplies what the store
protocol needs from a few raw requests a subclass writes (read, write, remove, list, probe):

* **Expiry inside the entry.** The cache class checks it on every read; an expired object is
  discarded conditionally on its version, so a fresh value written meanwhile survives. Backends
  also write it as the store's own expiry metadata where the store has such a field.
* **Concurrent batches with a bound.** Batch reads and writes run at most ``max_concurrency``
  requests at once.
* **Prefixes.** Every object a cache writes is named ``prefix + key``; a clear removes only
  objects under the prefix, and refuses to run without one.
* **Updates from conditional writes.** An update reads the object and its version tag, then
  writes the new payload only if the tag is unchanged (or, for a new name, only if the object
  is still absent), retrying on conflict. Updates of one name waiting in the same event loop
  are combined into one write, so a thousand concurrent increments cost a few round trips. A
  store that cannot write conditionally refuses updates
  (:class:`~aiocache_llm.errors.NotSupported`).
* **One client per event loop**, created lazily and reused (:mod:`._loops`).
* **A timeout on every request**: a store that does not answer within ``timeout`` raises
  ``TimeoutError``, which the error map makes :class:`~aiocache_llm.errors.BackendTimeout`.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Generic, TypeAlias, TypeVar

import anyio

from ..core.codec import DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_ENTRY_SIZE
from ..core.loops import PerLoop
from ..errors import BackendTimeout, BackendUnavailable, ConfigurationError, NotSupported
from ._checks import check_ttl
from ._store import Change, ErrorMap, Store, Stored
from ._store_cache import StoreCache

__all__ = ["ABSENT", "Match", "ObjectStore", "ObjectStoreCache", "VersionConflict"]

logger = logging.getLogger("aiocache_llm.object_store")

C = TypeVar("C")
R = TypeVar("R")

#: A write's condition: ``None`` (none), a version tag, or :data:`ABSENT`.
Match: TypeAlias = "str | None"
#: The ``match`` of a write that must find no object (``If-None-Match: *``).
ABSENT: Final = "*"
#: Conflicting writers of one object retry this many times before giving up.
_MAX_UPDATE_ATTEMPTS = 64
#: Jitter for conflicting writes: a generator of its own, so the backoff never draws from (or
#: shifts) the process-wide random state an application may have seeded.
_JITTER = random.Random()


class VersionConflict(Exception):
    """A conditional write or delete found the object changed (or present, or absent)."""


@dataclass
class _LoopState(Generic[C]):
    client: C | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: dict[str, list[tuple[Change[bytes], asyncio.Future[None]]]] = field(
        default_factory=dict
    )
    draining: dict[str, asyncio.Task[None]] = field(default_factory=dict)


class ObjectStore(Store[bytes], Generic[C]):
    """A store of one object per name; a subclass supplies a client and the raw requests.

    Raw requests (all ``async``, all raising the client library's own exceptions, which the
    subclass's :attr:`errors` rows classify): :meth:`_open_client`, :meth:`_close_client`,
    :meth:`_read`, :meth:`_write`, :meth:`_remove`, :meth:`_list_names` and :meth:`_probe`;
    :meth:`_remove_many` where the store has a bulk delete.
    """

    #: Whether :meth:`_write` honours ``match`` (a store that ignores it
    #: would turn counters into a silent, non-atomic read-modify-write).
    conditional_writes: ClassVar[bool] = True
    #: A request over the timeout; subclasses add their client's exceptions after it.
    errors: ClassVar[ErrorMap] = ((TimeoutError, BackendTimeout),)

    def __init__(self, *, timeout: float, max_concurrency: int) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ConfigurationError("max_concurrency must be a positive int")
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be a positive int")
        try:
            seconds = check_ttl(timeout)
        except ValueError as exc:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds: {exc}"
            ) from exc
        if seconds is None:
            raise ConfigurationError("timeout must be a positive number of seconds, not None")
        self.timeout: float = seconds
        self.max_concurrency = max_concurrency
        self._loops: PerLoop[_LoopState[C]] = PerLoop(_LoopState)

    # -- what a subclass supplies ----------------------------------------------------------
    @abc.abstractmethod
    async def _open_client(self) -> C:
        """Create a client bound to the running event loop."""

    @abc.abstractmethod
    async def _close_client(self, client: C) -> None:
        """Close a client made by :meth:`_open_client`, on its own loop."""

    @abc.abstractmethod
    async def _read(self, client: C, name: str) -> Stored[bytes] | None:
        """The object ``name`` with its version tag, or ``None`` if there is none."""

    @abc.abstractmethod
    async def _write(
        self, client: C, name: str, data: bytes, expires_at: float | None, match: Match = None
    ) -> None:
        """Write ``name``: unconditionally, or only if it is at version ``match`` (only if it
        is absent for :data:`ABSENT`), raising :class:`VersionConflict` when it is not."""

    @abc.abstractmethod
    async def _remove(self, client: C, name: str, *, if_version: str | None = None) -> None:
        """Delete ``name`` (absent is fine); a failed ``if_version`` raises VersionConflict."""

    @abc.abstractmethod
    def _list_names(self, client: C, prefix: str) -> AsyncIterator[list[str]]:
        """Pages of the names of every object under ``prefix``."""

    @abc.abstractmethod
    async def _probe(self, client: C) -> None:
        """A cheap request that fails if the store (bucket, container) cannot be used."""

    async def _remove_many(self, client: C, names: Sequence[str]) -> None:
        """Delete every object of ``names``; stores with a bulk delete override this."""
        await self._bounded(lambda name=name: self._remove(client, name) for name in names)  # type: ignore[misc]

    # -- clients and requests --------------------------------------------------------------
    async def _client(self) -> C:
        """The running loop's client, opened on first use."""
        state = self._loops.get()
        client = state.client
        if client is not None:
            return client
        async with state.lock:
            if state.client is None:
                state.client = await self._call(self._open_client)
            return state.client

    async def _call(self, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Await ``fn(*args, **kwargs)``, raising ``TimeoutError`` after ``timeout``."""
        with anyio.fail_after(self.timeout):
            return await fn(*args, **kwargs)

    async def _bounded(self, jobs: Iterable[Callable[[], Awaitable[R]]]) -> list[R]:
        """Run ``jobs``, at most ``max_concurrency`` at once, each within the timeout."""
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def run(job: Callable[[], Awaitable[R]]) -> R:
            async with semaphore:
                return await self._call(job)

        return list(await asyncio.gather(*(run(job) for job in jobs)))

    def error_message(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError) and not str(exc):
            return f"did not answer within {self.timeout:g}s"
        return super().error_message(exc)

    # -- the store -------------------------------------------------------------------------
    async def get(self, name: str) -> Stored[bytes] | None:
        return await self._call(self._read, await self._client(), name)

    async def get_many(self, names: Sequence[str]) -> list[Stored[bytes] | None]:
        client = await self._client()
        return await self._bounded(lambda name=name: self._read(client, name) for name in names)  # type: ignore[misc]

    async def set(self, name: str, data: bytes, expires_at: float | None) -> None:
        await self._call(self._write, await self._client(), name, data, expires_at)

    async def set_many(self, items: Sequence[tuple[str, bytes]], expires_at: float | None) -> None:
        client = await self._client()
        await self._bounded(
            lambda name=name, data=data: self._write(client, name, data, expires_at)  # type: ignore[misc]
            for name, data in items
        )

    async def delete(self, name: str) -> None:
        await self._call(self._remove, await self._client(), name)

    async def discard(self, name: str, stored: Stored[bytes]) -> None:
        try:
            await self._call(self._remove, await self._client(), name, if_version=stored.version)
        except VersionConflict:
            pass  # rewritten since it was read: the new value stays

    async def clear(self, prefix: str) -> None:
        if not prefix:
            raise NotSupported(
                f"{type(self).__name__} has no key prefix, so a flush would delete every object"
                " in the store; give the cache a prefix to make it flushable"
            )
        client = await self._client()

        async def pages() -> list[list[str]]:
            return [page async for page in self._list_names(client, prefix)]

        for page in await self._call(pages):
            await self._call(self._remove_many, client, page)

    async def ping(self) -> None:
        await self._call(self._probe, await self._client())

    async def close(self) -> None:
        """Close every loop's client (see :class:`~aiocache_llm.core.loops.PerLoop`)."""
        await self._loops.close(self._close_state, self.timeout)

    async def _close_state(self, state: _LoopState[C]) -> None:
        client, state.client = state.client, None
        if client is None:
            return
        try:
            with anyio.fail_after(self.timeout):
                await self._close_client(client)
        except Exception as exc:  # closing is best effort: the client is dropped either way
            logger.debug("%s: error while closing a client: %s", self, exc)

    # -- updates: conditional writes -------------------------------------------------------
    def refuse_updates(self) -> None:
        if not self.conditional_writes:
            raise NotSupported(
                f"{type(self).__name__} cannot increment atomically: this store does not honour"
                " conditional writes, and a plain read-modify-write would lose updates"
            )

    async def update(self, changes: Mapping[str, Change[bytes]]) -> None:
        """Each name by conditional writes; with several, every change is tried on the current
        payloads first, so one that raises leaves every object as it was."""
        self.refuse_updates()
        if len(changes) > 1:
            current = await self.get_many(list(changes))
            for change, stored in zip(changes.values(), current, strict=True):
                change(None if stored is None else stored.data)
        await asyncio.gather(*(self._queue(name, change) for name, change in changes.items()))

    async def _queue(self, name: str, change: Change[bytes]) -> None:
        client = await self._client()
        state = self._loops.get()
        done = asyncio.get_running_loop().create_future()
        state.pending.setdefault(name, []).append((change, done))
        if name not in state.draining:
            state.draining[name] = asyncio.create_task(self._drain(client, state, name))
        await done

    async def _drain(self, client: C, state: _LoopState[C], name: str) -> None:
        """Apply the changes queued for ``name``, a batch per conditional write."""
        try:
            while batch := state.pending.pop(name, None):
                try:
                    await self._apply(client, name, [change for change, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            del state.draining[name]

    async def _apply(self, client: C, name: str, batch: Sequence[Change[bytes]]) -> None:
        for attempt in range(_MAX_UPDATE_ATTEMPTS):
            stored = await self._call(self._read, client, name)
            data: bytes | None = None if stored is None else stored.data
            expires_at: float | None = None
            for change in batch:
                data, expires_at = change(data)
            assert data is not None
            match = ABSENT if stored is None else stored.version
            try:
                await self._call(self._write, client, name, data, expires_at, match)
            except VersionConflict:
                await asyncio.sleep(_JITTER.uniform(0, 0.002 * min(attempt + 1, 25)))
                continue
            return
        raise BackendUnavailable(
            f"{name!r} changed under {_MAX_UPDATE_ATTEMPTS} update attempts in a row;"
            " too many concurrent writers"
        )


class ObjectStoreCache(StoreCache[bytes], Generic[C]):
    """The cache over an :class:`ObjectStore`: a key is the object ``prefix + key``.

    ``"a/b"``, ``"/a/b/"`` and ``"a/b/"`` all name the folder ``"a/b/"``; ``None``, ``""`` and
    ``"/"`` mean no prefix (and then no flush).
    """

    store: ObjectStore[C]

    def __init__(
        self,
        store: ObjectStore[C],
        *,
        prefix: str | None,
        default_ttl: float | None = None,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
    ) -> None:
        if prefix is not None and not isinstance(prefix, str):
            raise ConfigurationError("the key prefix must be a str")
        folder = prefix.strip("/") + "/" if prefix and prefix.strip("/") else ""
        super().__init__(
            store,
            prefix=folder,
            default_ttl=default_ttl,
            compress_threshold=compress_threshold,
            max_entry_size=max_entry_size,
        )

    def name_of(self, key: str) -> str:
        """``key`` spelled as an object name, reversibly: ``%`` and ``/`` are escaped
        (``%25``, ``%2F``), so no two keys share a name and a key never makes folders of its
        own (namespaces ``acme:eu`` and ``acme/eu`` never share an entry)."""
        if "%" in key:
            key = key.replace("%", "%25")
        if "/" in key:
            key = key.replace("/", "%2F")
        return key
