"""DualCache: an in-memory L1 in front of any remote L2, kept coherent across processes."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import orjson

from .._sync import loop_thread_loop, run_sync
from ..codec import Entry
from ..errors import BackendError
from .base import (
    USE_DEFAULT,
    BaseCache,
    IncrementOp,
    TTLArg,
    check_ttl,
    normalize_increments,
)
from .memory import InMemoryCache

__all__ = ["DualCache", "PubSubCapable"]

logger = logging.getLogger("aiocache_llm.dual")

_FLUSH = "*"  # an invalidation message naming this drops every L1 entry
_MAX_TRACKED_INVALIDATIONS = 10_000


@runtime_checkable
class PubSubCapable(Protocol):
    """An L2 that can carry invalidation messages (``RedisCache`` is one)."""

    async def async_publish(self, channel: str, message: bytes) -> int: ...

    def async_subscribe(
        self, channel: str, on_subscribed: Callable[[], None] | None = None
    ) -> AsyncIterator[bytes]: ...


class DualCache(BaseCache):
    """An in-memory L1 in front of a remote L2 (Redis, Redis Cluster, S3, ...).

    * **get**: L1, then L2. An L2 hit fills L1 for no longer than the entry has left in L2 and
      no longer than ``default_in_memory_ttl``.
    * **set / pipeline**: both levels (``local_only=True`` for L1 only).
    * **batch get**: L1 hits, then one L2 batch read for the rest. Concurrent batch reads share
      the L2 reads in flight, and keys L2 just reported missing are not asked again for
      ``redis_batch_cache_expiry`` seconds (unless written meanwhile).
    * **counters**: L2 is authoritative; L1 takes the value L2 returned.
    * **coherence**: when L2 can publish (``RedisCache``), every write, delete and flush is
      announced on an invalidation channel and every process drops its L1 copy of those keys
      when the message arrives (about a millisecond on one host). An L2 read that races an
      invalidation does not fill L1. While L2 is unreachable L1 keeps serving; when the
      subscription is back, L1 is cleared, since invalidations may have been missed.
    * **fail open**: with L2 down, L1 keeps serving hits, L2 reads are misses, L2 writes are
      dropped, all counted in ``stats.errors`` and logged, never raised into the caller.

    The blocking ``get_cache`` answers an L1 hit in the caller's thread, with no thread hop.
    """

    backend_name = "dual"

    def __init__(
        self,
        in_memory_cache: InMemoryCache | None = None,
        redis_cache: BaseCache | None = None,
        *,
        default_in_memory_ttl: float | None = None,
        default_redis_ttl: float | None = None,
        redis_batch_cache_expiry: float = 0.5,
        coherent: bool | None = None,
        invalidation_channel: str = "aiocache_llm:invalidate",
        default_redis_batch_cache_expiry: float | None = None,  # LiteLLM's name
    ) -> None:
        super().__init__(default_ttl=default_redis_ttl)
        if default_redis_batch_cache_expiry is not None:
            redis_batch_cache_expiry = default_redis_batch_cache_expiry
        self.in_memory_cache = in_memory_cache or InMemoryCache()
        self.redis_cache = redis_cache
        self.default_in_memory_ttl = check_ttl(default_in_memory_ttl)
        self.redis_batch_cache_expiry = redis_batch_cache_expiry
        self.invalidation_channel = invalidation_channel
        self._pubsub: PubSubCapable | None = (
            redis_cache if isinstance(redis_cache, PubSubCapable) else None
        )
        self.coherent = self._pubsub is not None if coherent is None else coherent
        if self.coherent and self._pubsub is None:
            raise BackendError(f"{type(redis_cache).__name__} cannot carry invalidations")
        self._sender = f"{os.getpid()}:{uuid.uuid4().hex[:12]}".encode()
        self._listener: Any = None  # concurrent.futures.Future of the subscription task
        self._listener_task: asyncio.Task[None] | None = None  # that task, on the library loop
        self._listening = False
        # invalidation bookkeeping: a read that started before an invalidation may not fill L1
        self._seq = 0
        self._floor = 0
        self._invalidated: dict[str, int] = {}
        self._recent_misses: dict[str, float] = {}
        self._in_flight: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[Any]] = {}
        self._l1_get = self.in_memory_cache.get_cache

    # -- L1 ------------------------------------------------------------------------------------
    def _l1_ttl(self, seconds: float | None) -> float | None:
        limit = self.default_in_memory_ttl
        if seconds is None:
            return limit
        return seconds if limit is None else min(seconds, limit)

    def _fill(self, key: str, entry: Entry, started_seq: int, now: float) -> None:
        """Put an L2 entry into L1, unless an invalidation of ``key`` came after the read began."""
        if started_seq < self._floor or self._invalidated.get(key, -1) > started_seq:
            return
        left = None if entry.expires_at is None else entry.expires_at - now
        if left is not None and left <= 0:
            return
        self.in_memory_cache.set_cache(key, entry.value, ttl=self._l1_ttl(left))

    def _invalidate_locally(self, keys: Iterable[str], *, drop: bool = True) -> None:
        """Mark ``keys`` changed, so L2 reads already under way do not fill L1 with old values.

        ``drop`` also removes them from L1 (a change made elsewhere); a local write keeps the
        L1 copy it has just put there.
        """
        self._seq += 1
        if len(self._invalidated) > _MAX_TRACKED_INVALIDATIONS:
            self._invalidated.clear()
            self._floor = self._seq
        for key in keys:
            if key == _FLUSH:
                self.in_memory_cache.flush_cache()
                self._recent_misses.clear()
                self._floor = self._seq
                continue
            if drop:
                self.in_memory_cache.delete_cache(key)
            self._recent_misses.pop(key, None)
            self._invalidated[key] = self._seq

    # -- L2, failing open --------------------------------------------------------------------
    def _l2_failed(self, what: str, exc: BaseException) -> None:
        self.stats.errors += 1
        logger.warning("L2 %s failed, continuing without it: %s", what, exc)

    async def _announce(self, keys: Sequence[str]) -> None:
        """Tell the other processes to drop ``keys`` from their L1."""
        if not self.coherent or not keys:
            return
        self._ensure_listening()
        message = orjson.dumps({"from": self._sender.decode(), "keys": list(keys)})
        try:
            await self._pubsub.async_publish(self.invalidation_channel, message)  # type: ignore[union-attr]
        except BackendError as exc:
            self._l2_failed("publish", exc)

    def _ensure_listening(self) -> None:
        if self._listening or not self.coherent:
            return
        self._listening = True
        self._listener = asyncio.run_coroutine_threadsafe(self._listen(), loop_thread_loop())

    async def _listen(self) -> None:
        """Apply invalidations from other processes until disconnected (on the library loop).

        While L2 is unreachable, L1 keeps serving what it holds. When a broken subscription is
        confirmed again, L1 is cleared: invalidations sent meanwhile may have been missed.
        """
        assert self._pubsub is not None
        self._listener_task = asyncio.current_task()
        backoff = 0.05
        resync = False

        def subscribed() -> None:
            nonlocal resync, backoff
            backoff = 0.05
            if resync:
                resync = False
                self._invalidate_locally([_FLUSH])

        while self._listening:
            try:
                async for raw in self._pubsub.async_subscribe(
                    self.invalidation_channel, on_subscribed=subscribed
                ):
                    message = orjson.loads(raw)
                    if message.get("from") != self._sender.decode():
                        self._invalidate_locally(message.get("keys", ()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the subscription broke; retried with a backoff
                self._l2_failed("subscription", exc)
            resync = True
            if self._listening:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def async_ready(self) -> None:
        """Wait until this process receives invalidations (the subscription is up)."""
        self._ensure_listening()
        if not self.coherent:
            return
        probe = f"__ready__:{uuid.uuid4().hex}"
        seq = self._seq
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            message = orjson.dumps({"from": "probe", "keys": [probe]})
            await self._pubsub.async_publish(self.invalidation_channel, message)  # type: ignore[union-attr]
            await asyncio.sleep(0.02)
            if self._seq > seq and probe in self._invalidated:
                return
        raise BackendError("the invalidation subscription did not come up within 5 s")

    # -- contract --------------------------------------------------------------------------
    async def async_get_cache(self, key: str, *, local_only: bool = False) -> Any:
        """The value under ``key``: L1, then L2 (only L1 with ``local_only``, as LiteLLM)."""
        value = self._l1_get(key)
        if value is not None or self.redis_cache is None or local_only:
            return value
        entry = await self._l2_entry(key)
        return None if entry is None else entry.value

    def get_cache(self, key: str, *, local_only: bool = False) -> Any:
        """Blocking get: an L1 hit is answered in the caller's thread, with no thread hop."""
        value = self._l1_get(key)
        if value is not None or self.redis_cache is None or local_only:
            return value
        return run_sync(self.async_get_cache(key))

    async def async_set_cache_sadd(
        self,
        key: str,
        members: Iterable[str],
        ttl: TTLArg = USE_DEFAULT,
        *,
        local_only: bool = False,
    ) -> int:
        """Add ``members`` to the set at ``key`` in L1 and (unless ``local_only``) L2; return
        how many were new in the level that holds the truth (L2 when used)."""
        values = [str(member) for member in members]
        seconds = self.resolve_ttl(ttl)
        added = await self.in_memory_cache.async_set_cache_sadd(key, values, self._l1_ttl(seconds))
        sadd = getattr(self.redis_cache, "async_set_cache_sadd", None)
        if local_only or sadd is None:
            return added
        try:
            added = int(await sadd(key, values, seconds))
        except BackendError as exc:  # fail open, as every L2 write
            self._l2_failed("set-add", exc)
            return added
        await self._announce([key])  # other processes drop their copy of the set
        return added

    async def _l2_entry(self, key: str) -> Entry | None:
        self._ensure_listening()
        started = self._seq
        try:
            entry = await self.redis_cache.async_get_entry(key)  # type: ignore[union-attr]
        except BackendError as exc:
            self._l2_failed("read", exc)
            return None
        if entry is not None:
            self._fill(key, entry, started, time.time())
        return entry

    async def async_get_entry(self, key: str) -> Entry | None:
        entry = self.in_memory_cache.get_entry(key)
        if entry is not None or self.redis_cache is None:
            return entry
        return await self._l2_entry(key)

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        get = self.in_memory_cache.get_entry
        results: list[Entry | None] = [get(key) for key in keys]
        if self.redis_cache is None:
            return results
        now = time.monotonic()
        window = self.redis_batch_cache_expiry
        loop = asyncio.get_running_loop()
        to_fetch: list[str] = []
        waiting: dict[str, asyncio.Future[Any]] = {}
        for key, found in zip(keys, results, strict=True):
            if found is not None or key in waiting:
                continue
            missed = self._recent_misses.get(key)
            if missed is not None and now - missed < window:
                continue
            pending = self._in_flight.get((loop, key))
            if pending is not None:
                waiting[key] = pending
            elif key not in to_fetch:
                to_fetch.append(key)
        fetched: dict[str, Entry | None] = {}
        if to_fetch:
            futures = {key: loop.create_future() for key in to_fetch}
            for key, future in futures.items():
                self._in_flight[(loop, key)] = future
            self._ensure_listening()
            started = self._seq
            try:
                entries = await self.redis_cache.async_batch_get_entries(to_fetch)
            except BackendError as exc:
                self._l2_failed("batch read", exc)
                entries = [None] * len(to_fetch)
            finally:
                for key, future in futures.items():
                    self._in_flight.pop((loop, key), None)
                    if not future.done():  # cancelled: waiters read a miss
                        future.set_result(None)
            wall, mono = time.time(), time.monotonic()
            for key, entry in zip(to_fetch, entries, strict=True):
                fetched[key] = entry
                if not futures[key].done():
                    futures[key].set_result(entry)
                if entry is None:
                    self._recent_misses[key] = mono
                else:
                    self._fill(key, entry, started, wall)
            if len(self._recent_misses) > _MAX_TRACKED_INVALIDATIONS:
                self._recent_misses.clear()
        for key, future in waiting.items():
            fetched[key] = await asyncio.shield(future)
        return [
            found if found is not None else fetched.get(key)
            for key, found in zip(keys, results, strict=True)
        ]

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        entries = await self.async_batch_get_entries(keys)
        return [None if entry is None else entry.value for entry in entries]

    async def async_set_cache(
        self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT, *, local_only: bool = False
    ) -> None:
        await self.async_set_cache_pipeline([(key, value)], ttl, local_only=local_only)

    async def async_set_cache_pipeline(
        self,
        items: Iterable[tuple[str, Any]],
        ttl: TTLArg = USE_DEFAULT,
        *,
        local_only: bool = False,
    ) -> None:
        """Write L2 first (a value it refuses is stored nowhere), then L1; an L2 outage only
        costs the L2 copy."""
        items = list(items)
        seconds = self.resolve_ttl(ttl)
        written = False
        if not local_only and self.redis_cache is not None:
            try:
                await self.redis_cache.async_set_cache_pipeline(items, seconds)
                written = True
            except BackendError as exc:
                self._l2_failed("write", exc)
        self.in_memory_cache.set_cache_pipeline(items, ttl=self._l1_ttl(seconds))
        keys = [key for key, _ in items]
        self._invalidate_locally(keys, drop=False)
        if written:
            await self._announce(keys)

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, local_only: bool = False
    ) -> float:
        return (await self._increments([(key, value, ttl)], local_only))[0]

    async def async_increment_pipeline(
        self, ops: Iterable[IncrementOp], *, local_only: bool = False
    ) -> list[float]:
        return await self._increments(ops, local_only)

    async def _increments(self, ops: Iterable[IncrementOp], local_only: bool) -> list[float]:
        checked = normalize_increments(ops)
        if local_only or self.redis_cache is None:
            return self.in_memory_cache.increment_pipeline(checked)
        l2_ops = [(key, by, self.resolve_ttl(ttl)) for key, by, ttl in checked]
        try:
            values = await self.redis_cache.async_increment_pipeline(l2_ops)
        except BackendError as exc:  # fail open: count locally until L2 is back
            self._l2_failed("increment", exc)
            return self.in_memory_cache.increment_pipeline(checked)
        keys = [key for key, _, _ in l2_ops]
        self._invalidate_locally(keys, drop=False)
        wall = time.time()
        for key, new in zip(keys, values, strict=True):
            # L1 keeps the expiry it had (never beyond L2's); with no L1 copy, the next read
            # fills L1 with L2's remaining time.
            held = self.in_memory_cache.get_entry(key)
            if held is not None:
                left = None if held.expires_at is None else held.expires_at - wall
                if left is None or left > 0:
                    self.in_memory_cache.set_cache(key, new, ttl=left)
        await self._announce(keys)
        return values

    async def async_delete_cache(self, key: str) -> None:
        self._invalidate_locally([key])
        if self.redis_cache is None:
            return
        try:
            await self.redis_cache.async_delete_cache(key)
        except BackendError as exc:
            self._l2_failed("delete", exc)
            return
        await self._announce([key])

    async def async_flush_cache(self) -> None:
        self._invalidate_locally([_FLUSH])
        if self.redis_cache is None:
            return
        try:
            await self.redis_cache.async_flush_cache()
        except BackendError as exc:
            self._l2_failed("flush", exc)
            return
        await self._announce([_FLUSH])

    async def async_get_ttl(self, key: str) -> float | None:
        if self.redis_cache is not None:
            try:
                return await self.redis_cache.async_get_ttl(key)
            except BackendError as exc:
                self._l2_failed("ttl", exc)
        return self.in_memory_cache.get_ttl(key)

    async def async_ping(self) -> bool:
        if self.redis_cache is None:
            return True
        return await self.redis_cache.async_ping()

    async def async_test_connection(self) -> dict[str, Any]:
        l2 = None if self.redis_cache is None else await self.redis_cache.async_test_connection()
        status = "healthy" if l2 is None or l2.get("status") == "healthy" else "degraded"
        return {
            "status": status,
            "backend": self.backend_name,
            "coherent": self.coherent,
            "l1": await self.in_memory_cache.async_test_connection(),
            "l2": l2,
            "stats": self.stats.as_dict(),
        }

    async def _stop_listening(self) -> None:
        """Cancel the subscription task and wait until it has closed its connection (runs on
        the library loop, where the task lives)."""
        task, self._listener_task = self._listener_task, None
        if task is None:
            return
        # A cancel that lands while a read timeout unwinds can be absorbed (asyncio.timeout on
        # Python 3.11), so cancellation is delivered again until the task has really ended.
        deadline = time.monotonic() + 5.0
        while not task.done() and time.monotonic() < deadline:
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: an error while closing is not worth a warning
        elif not task.done():
            logger.warning("the invalidation subscription did not stop within 5 s")

    async def async_disconnect(self) -> None:
        """Stop listening for invalidations and disconnect L2 (on this loop)."""
        self._listening = False
        library_loop = loop_thread_loop()
        if self._listener is not None:
            self._listener = None
            if asyncio.get_running_loop() is library_loop:
                await self._stop_listening()
            else:
                stop = asyncio.run_coroutine_threadsafe(self._stop_listening(), library_loop)
                await asyncio.wrap_future(stop)
        if self.redis_cache is not None:
            # RedisCache also closes the client its subscription used on the library's loop
            await self.redis_cache.async_disconnect()

    def __repr__(self) -> str:
        return (
            f"DualCache(in_memory_cache={self.in_memory_cache!r}, redis_cache={self.redis_cache!r})"
        )
