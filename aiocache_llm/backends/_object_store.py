"""What the object-store backends (S3, Google Cloud Storage, Azure Blob) share.

Object stores have no TTLs and no counters, so this module supplies them:

* **TTL inside the entry.** The expiry travels in the codec envelope and is checked on every
  read; an expired object is a miss and is deleted lazily (conditionally on its version, so a
  fresh value written meanwhile survives). Backends also write it as the store's own expiry
  metadata where the store has such a field, for lifecycle rules.
* **Concurrent batches with a bound.** Batch get, set pipeline and flush run at most
  ``max_concurrency`` requests at once.
* **Prefixes.** Every object this cache writes is named ``prefix + key``; flush removes only
  objects under the prefix, and refuses to run without one.
* **Counters from conditional writes.** An increment reads the object and its version tag, then
  writes the new value only if the tag is unchanged (or, for a new key, only if the object is
  still absent), retrying on conflict. Increments of one key waiting in the same event loop are
  combined into one write, so a thousand concurrent increments cost a few round trips. A store
  that cannot write conditionally raises :class:`~aiocache_llm.errors.NotSupported`.
* **One client per event loop**, created lazily and reused; ``async_disconnect`` closes the
  current loop's client and schedules the closing of clients other running loops hold.
* **Errors** are translated at the boundary: a timeout is
  :class:`~aiocache_llm.errors.BackendTimeout`, anything else the store raises
  :class:`~aiocache_llm.errors.BackendUnavailable`, with the store's message and the original
  exception chained.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio

from ..codec import DEFAULT_COMPRESS_THRESHOLD, Entry, decode, encode
from ..errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    CorruptEntryError,
    InvalidArgumentError,
    NotSupported,
)
from ._loops import PerLoop
from .base import (
    USE_DEFAULT,
    BaseCache,
    IncrementOp,
    TTLArg,
    check_key,
    check_number,
    check_ttl,
    normalize_increments,
)

__all__ = ["ObjectStoreCache", "Stored", "VersionConflict"]

logger = logging.getLogger("aiocache_llm.object_store")

C = TypeVar("C")
R = TypeVar("R")

#: Conflicting writers of one counter retry this many times before giving up.
_MAX_INCREMENT_ATTEMPTS = 64
#: Jitter for conflicting counter writes: a generator of its own, so the backoff never draws
#: from (or shifts) the process-wide random state an application may have seeded.
_JITTER = random.Random()


@dataclass(frozen=True, slots=True)
class Stored:
    """The bytes of an object and the version tag (ETag, generation) they were read at."""

    data: bytes
    version: str


class VersionConflict(Exception):
    """A conditional write or delete found the object changed (or present, or absent)."""


@dataclass
class _LoopState(Generic[C]):
    client: C | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: dict[str, list[_Increment]] = field(default_factory=dict)
    draining: dict[str, asyncio.Task[None]] = field(default_factory=dict)


@dataclass(slots=True)
class _Increment:
    by: float
    ttl: TTLArg
    result: asyncio.Future[float]
    refresh_ttl: bool = False


class ObjectStoreCache(BaseCache, Generic[C]):
    """Base of the object-store backends; a subclass supplies a client and the primitives.

    Primitives (all ``async``, all raising the client library's own exceptions, which
    :meth:`_describe_error` classifies): :meth:`_open_client`, :meth:`_close_client`,
    :meth:`_read`, :meth:`_write`, :meth:`_remove`, :meth:`_list_names` and :meth:`_probe`;
    :meth:`_remove_many` where the store has a bulk delete.

    ``timeout`` bounds every request (a frozen store gives
    :class:`~aiocache_llm.errors.BackendTimeout` after that long); ``max_concurrency`` bounds the
    requests one batch runs at once.
    """

    #: Whether :meth:`_write` honours ``if_version``/``if_absent`` (a store that ignores them
    #: would turn counters into a silent, non-atomic read-modify-write).
    conditional_writes: bool = True

    def __init__(
        self,
        *,
        prefix: str | None,
        default_ttl: float | None = None,
        timeout: float = 10.0,
        max_concurrency: int = 32,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
    ) -> None:
        super().__init__(default_ttl=default_ttl)
        if prefix is not None and not isinstance(prefix, str):
            raise ConfigurationError("the key prefix must be a str")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ConfigurationError("max_concurrency must be a positive int")
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be a positive int")
        try:
            seconds = check_ttl(timeout)
        except InvalidArgumentError as exc:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds: {exc}"
            ) from exc
        if seconds is None:
            raise ConfigurationError("timeout must be a positive number of seconds, not None")
        self.timeout: float = seconds
        # "a/b", "/a/b/" and "a/b/" all name the folder "a/b/"; "" and "/" mean no prefix
        self.prefix = prefix.strip("/") + "/" if prefix and prefix.strip("/") else ""
        self.max_concurrency = max_concurrency
        self.compress_threshold = compress_threshold
        self._loops: PerLoop[_LoopState[C]] = PerLoop(_LoopState)

    # -- what a store supplies -------------------------------------------------------------
    @abc.abstractmethod
    async def _open_client(self) -> C:
        """Create a client bound to the running event loop."""

    @abc.abstractmethod
    async def _close_client(self, client: C) -> None:
        """Close a client made by :meth:`_open_client`, on its own loop."""

    @abc.abstractmethod
    async def _read(self, client: C, name: str) -> Stored | None:
        """The object ``name``, or ``None`` if there is none."""

    @abc.abstractmethod
    async def _write(
        self,
        client: C,
        name: str,
        data: bytes,
        expires_at: float | None,
        *,
        if_version: str | None = None,
        if_absent: bool = False,
    ) -> None:
        """Write ``name``; with a condition, raise :class:`VersionConflict` when it fails."""

    @abc.abstractmethod
    async def _remove(self, client: C, name: str, *, if_version: str | None = None) -> None:
        """Delete ``name`` (absent is fine); a failed ``if_version`` raises VersionConflict."""

    @abc.abstractmethod
    def _list_names(self, client: C, prefix: str) -> AsyncIterator[list[str]]:
        """Pages of the names of every object under ``prefix``."""

    @abc.abstractmethod
    async def _probe(self, client: C) -> None:
        """A cheap request that fails if the store (bucket, container) cannot be used."""

    @abc.abstractmethod
    def _describe_error(self, exc: Exception) -> tuple[bool, str] | None:
        """``(is_timeout, the store's message)`` for a client-library exception.

        ``None`` for an exception that is not a failure of the store (a bug): it propagates.
        """

    async def _remove_many(self, client: C, names: Sequence[str]) -> None:
        """Delete every object of ``names``; stores with a bulk delete override this."""
        await self._gather_bounded(
            lambda name=name: self._remove(client, name)  # type: ignore[misc]
            for name in names
        )

    def object_name(self, key: str) -> str:
        """The name of the object that holds ``key``."""
        return self.prefix + key

    # -- clients, one per event loop ---------------------------------------------------------
    def _state(self) -> _LoopState[C]:
        return self._loops.get()

    async def _client(self) -> C:
        state = self._state()
        client = state.client
        if client is not None:
            return client
        async with state.lock:
            if state.client is None:
                state.client = await self._call(self._open_client)
            return state.client

    async def _call(self, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Await ``fn(*args, **kwargs)`` within the timeout, translating failures."""
        try:
            with anyio.fail_after(self.timeout):
                return await fn(*args, **kwargs)
        except (CacheError, VersionConflict):
            raise
        except (TimeoutError, asyncio.TimeoutError) as exc:  # distinct types before 3.11
            self.stats.errors += 1
            raise BackendTimeout(
                f"{self.backend_name} did not answer within {self.timeout:g}s"
            ) from exc
        except Exception as exc:
            described = self._describe_error(exc)
            if described is None:
                raise
            self.stats.errors += 1
            is_timeout, message = described
            error = BackendTimeout if is_timeout else BackendUnavailable
            raise error(f"{self.backend_name}: {message}") from exc

    async def _gather_bounded(self, jobs: Iterable[Callable[[], Awaitable[R]]]) -> list[R]:
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def run(job: Callable[[], Awaitable[R]]) -> R:
            async with semaphore:
                return await job()

        return list(await asyncio.gather(*(run(job) for job in jobs)))

    # -- entries -----------------------------------------------------------------------------
    async def _read_entry(self, client: C, name: str, now: float) -> Entry | None:
        stored = await self._call(self._read, client, name)
        if stored is None:
            return None
        try:
            entry = decode(stored.data)
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            logger.warning("%s: reading the unreadable object %r as a miss", self, name)
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            self.stats.expirations += 1
            await self._remove_expired(client, name, stored.version)
            return None
        return entry

    async def _remove_expired(self, client: C, name: str, version: str) -> None:
        try:
            await self._call(self._remove, client, name, if_version=version)
        except VersionConflict:
            pass  # rewritten since it was read: the new value stays
        except BackendError as exc:
            logger.warning("%s: could not remove the expired object %r: %s", self, name, exc)

    def _encode(self, value: Any, expires_at: float | None, now: float) -> bytes:
        return encode(
            value,
            expires_at=expires_at,
            created_at=now,
            compress_threshold=self.compress_threshold,
        )

    async def _get(self, client: C, key: str, now: float) -> Any:
        entry = await self._read_entry(client, self.object_name(check_key(key)), now)
        return None if entry is None else entry.value

    # -- contract ----------------------------------------------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        return await self._get(await self._client(), key, time.time())

    async def async_get_entry(self, key: str) -> Entry | None:
        """The whole entry (value, creation and expiry times) under ``key``, or ``None``."""
        name = self.object_name(check_key(key))
        return await self._read_entry(await self._client(), name, time.time())

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        names = [self.object_name(check_key(key)) for key in keys]
        client = await self._client()
        now = time.time()
        return await self._gather_bounded(
            lambda name=name: self._read_entry(client, name, now)  # type: ignore[misc]
            for name in names
        )

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        entries = await self.async_batch_get_entries(keys)
        return [None if entry is None else entry.value for entry in entries]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        name = self.object_name(check_key(key))
        self.resolve_ttl(ttl)
        client = await self._client()
        now = time.time()
        expires_at = self.expires_at(ttl, now)
        data = self._encode(value, expires_at, now)
        await self._call(self._write, client, name, data, expires_at)

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        items = list(items)
        self.resolve_ttl(ttl)
        client = await self._client()
        now = time.time()
        expires_at = self.expires_at(ttl, now)
        encoded = [
            (self.object_name(check_key(k)), self._encode(v, expires_at, now)) for k, v in items
        ]
        await self._gather_bounded(
            lambda name=name, data=data: self._call(  # type: ignore[misc]
                self._write, client, name, data, expires_at
            )
            for name, data in encoded
        )

    async def async_delete_cache(self, key: str) -> None:
        name = self.object_name(check_key(key))
        await self._call(self._remove, await self._client(), name)

    async def async_flush_cache(self) -> None:
        """Delete every object under this cache's prefix (and nothing else)."""
        if not self.prefix:
            raise NotSupported(
                f"{type(self).__name__} has no key prefix, so a flush would delete every object"
                " in the store; give the cache a prefix to make it flushable"
            )
        client = await self._client()

        async def pages() -> list[list[str]]:
            return [page async for page in self._list_names(client, self.prefix)]

        for page in await self._call(pages):
            await self._call(self._remove_many, client, page)

    async def async_get_ttl(self, key: str) -> float | None:
        name = self.object_name(check_key(key))
        client = await self._client()
        now = time.time()
        entry = await self._read_entry(client, name, now)
        if entry is None or entry.expires_at is None:
            return None
        return max(0.0, entry.expires_at - now)

    async def async_ping(self) -> bool:
        await self._call(self._probe, await self._client())
        return True

    # -- counters ----------------------------------------------------------------------------
    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        name = self.object_name(check_key(key))
        by = check_number(value)
        if ttl is not USE_DEFAULT:
            check_ttl(ttl)
        return await self._increment(name, by, ttl, refresh_ttl)

    async def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        """The increments in order; every current value is checked before any is applied."""
        self._refuse_without_conditional_writes()
        checked = normalize_increments(ops)
        keys = list(dict.fromkeys(key for key, _, _ in checked))
        for key, current in zip(keys, await self.async_batch_get_cache(keys), strict=True):
            if current is not None and (
                isinstance(current, bool) or not isinstance(current, (int, float))
            ):
                raise InvalidArgumentError(f"the value at {key!r} is not a number")
        return [await self._increment(self.object_name(k), by, ttl) for k, by, ttl in checked]

    def _refuse_without_conditional_writes(self) -> None:
        if not self.conditional_writes:
            raise NotSupported(
                f"{type(self).__name__} cannot increment atomically: this store does not honour"
                " conditional writes, and a plain read-modify-write would lose updates"
            )

    async def _increment(
        self, name: str, by: float, ttl: TTLArg, refresh_ttl: bool = False
    ) -> float:
        self._refuse_without_conditional_writes()
        client = await self._client()
        state = self._state()
        op = _Increment(by, ttl, asyncio.get_running_loop().create_future(), refresh_ttl)
        state.pending.setdefault(name, []).append(op)
        if name not in state.draining:
            state.draining[name] = asyncio.create_task(self._drain(client, state, name))
        return await op.result

    async def _drain(self, client: C, state: _LoopState[C], name: str) -> None:
        """Apply the increments queued for ``name``, a batch per conditional write."""
        try:
            while batch := state.pending.pop(name, None):
                try:
                    results = await self._apply_increments(client, name, batch)
                except Exception as exc:
                    for op in batch:
                        if not op.result.done():
                            op.result.set_exception(exc)
                else:
                    for op, result in zip(batch, results, strict=True):
                        if not op.result.done():
                            op.result.set_result(result)
        finally:
            del state.draining[name]

    async def _apply_increments(
        self, client: C, name: str, batch: Sequence[_Increment]
    ) -> list[float]:
        for attempt in range(_MAX_INCREMENT_ATTEMPTS):
            stored = await self._call(self._read, client, name)
            now = time.time()
            entry: Entry | None = None
            if stored is not None:
                try:
                    entry = decode(stored.data)
                except CorruptEntryError:
                    self.stats.corrupt_reads += 1
                if entry is not None and entry.expired(now):
                    entry = None
            if entry is None:
                total: float = 0
                expires_at = self.expires_at(batch[0].ttl, now)
            else:
                total = entry.value
                if isinstance(total, bool) or not isinstance(total, (int, float)):
                    raise InvalidArgumentError(f"the value at {name!r} is not a number")
                expires_at = entry.expires_at
            results = []
            for op in batch:
                total += op.by
                results.append(total)
                if op.refresh_ttl:
                    expires_at = self.expires_at(op.ttl, now)
            data = self._encode(total, expires_at, now)
            try:
                if stored is None:
                    await self._call(self._write, client, name, data, expires_at, if_absent=True)
                else:
                    await self._call(
                        self._write, client, name, data, expires_at, if_version=stored.version
                    )
            except VersionConflict:
                await asyncio.sleep(_JITTER.uniform(0, 0.002 * min(attempt + 1, 25)))
                continue
            return results
        raise BackendUnavailable(
            f"{self.backend_name}: {name!r} changed under {_MAX_INCREMENT_ATTEMPTS} increment"
            " attempts in a row; too many concurrent writers"
        )

    # -- lifetimes ---------------------------------------------------------------------------
    async def async_disconnect(self) -> None:
        """Close every loop's client (see :class:`~aiocache_llm.backends._loops.PerLoop`)."""
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r}, default_ttl={self.default_ttl!r})"
