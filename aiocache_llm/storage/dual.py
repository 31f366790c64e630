"""DualCache: an in-memory L1 in front of any remote L2, kept coherent across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .._sync import read_through
from ..core.codec import Entry
from ..core.failures import describe_failure
from ..core.logs import RateLimitedLog
from ..errors import BackendError, ConfigurationError
from ._checks import check_key
from ._dual_counters import layered_increments, layered_sadd
from ._dual_deletes import layered_delete, layered_flush
from ._invalidation import InvalidationChannel, L1Coherence
from ._listener_tasks import bound_to, weak_method
from ._shared_reads import SharedReads
from ._tracking import TrackingChannel, check_tracking
from ._versions import PubSubCapable, VersionedStore
from .base import USE_DEFAULT, BaseCache, IncrementOp, TTLArg, check_ttl, store_label
from .memory import InMemoryCache

__all__ = ["DEFAULT_L1_TTL", "DualCache", "PubSubCapable", "VersionedStore"]

logger = logging.getLogger("aiocache_llm.dual")

#: The longest an L1 copy lives (seconds) unless ``default_in_memory_ttl`` says otherwise: the
#: bound on staleness when an invalidation is lost.
DEFAULT_L1_TTL = 30.0


class DualCache(BaseCache):
    """An in-memory L1 in front of a remote L2 (Redis, Redis Cluster, S3, ...).

    * **get**: L1, then L2. An L2 hit fills L1 for no longer than the entry has left in L2 and
      no longer than ``default_in_memory_ttl`` (default :data:`DEFAULT_L1_TTL`; ``None`` also
      means the default, so staleness is always bounded).
    * **set / pipeline**: L2 first, then L1 (``local_only=True`` for L1 only).
    * **batch get**: L1 hits, then one L2 batch read for the rest. Concurrent batch reads share
      the L2 reads in flight, and keys L2 just reported missing are not asked again for
      ``redis_batch_cache_expiry`` seconds (unless written meanwhile). A failed read is not a
      miss: nothing is remembered of it.
    * **counters**: L2 is authoritative and counters are not kept in L1.
    * **coherence** (an L2 that versions writes and carries messages: ``RedisCache`` and its
      cluster and Sentinel forms): every write takes a version from L2 atomically; writes,
      deletes and flushes are announced with their versions, and every process drops older
      L1 copies when the message arrives (about a millisecond on one host). L1 only takes a
      version newer than any it has seen for the key, so processes converge on L2's latest
      value. While the subscription is down, L1 serves what it holds but takes no new fills;
      once it is back, L1 starts empty. An L2 without a channel is coherent by TTL only.
    * **invalidation source**: ``"pubsub"`` (the default) or ``"tracking"`` (standalone Redis:
      RESP3 client-side tracking; see :mod:`aiocache_llm.storage._tracking`).
    * **failures**: an L2 failure never leaves L1 holding what L2 does not (a failed write
      drops the key from L1). With ``fail_open=True`` (the default) failed L2 reads are misses
      and failed writes are dropped, counted in ``stats.errors`` and logged; with
      ``fail_open=False`` the typed error is raised (the ``Cache`` facade's guard then applies
      its policy). A failed increment always raises: a counter cannot be invented.
    """

    backend_name = "dual"

    def __init__(
        self,
        in_memory_cache: InMemoryCache | None = None,
        redis_cache: BaseCache | None = None,
        *,
        default_in_memory_ttl: float | None = DEFAULT_L1_TTL,
        default_redis_ttl: float | None = None,
        redis_batch_cache_expiry: float = 0.5,
        coherent: bool | None = None,
        invalidation_channel: str = "aiocache_llm:invalidate",
        invalidation: str = "pubsub",
        fail_open: bool = True,
        default_redis_batch_cache_expiry: float | None = None,  # LiteLLM's name
        default_max_redis_batch_cache_size: int | None = None,  # LiteLLM's: misses remembered
    ) -> None:
        if default_redis_ttl is None and redis_cache is not None:
            default_redis_ttl = redis_cache.default_ttl
        super().__init__(default_ttl=default_redis_ttl)
        if default_redis_batch_cache_expiry is not None:
            redis_batch_cache_expiry = default_redis_batch_cache_expiry
        self._reads = SharedReads(  # first: a bad bound is refused before anything is built
            self._l2_read, redis_batch_cache_expiry, default_max_redis_batch_cache_size
        )
        self.in_memory_cache = InMemoryCache() if in_memory_cache is None else in_memory_cache
        self.redis_cache = redis_cache
        cap = check_ttl(default_in_memory_ttl)
        self.default_in_memory_ttl: float = DEFAULT_L1_TTL if cap is None else cap
        self.invalidation_channel = invalidation_channel
        self.fail_open = fail_open
        self._log = RateLimitedLog(logger, 30.0)
        if invalidation not in ("pubsub", "tracking"):
            raise ConfigurationError("invalidation must be 'pubsub' or 'tracking'")
        if invalidation == "tracking":
            check_tracking(redis_cache)
        can_announce = all(
            isinstance(redis_cache, kind) for kind in (PubSubCapable, VersionedStore)
        )
        self.coherent = can_announce if coherent is None else coherent
        if self.coherent and not can_announce:
            raise BackendError(f"{type(redis_cache).__name__} cannot carry invalidations")
        self._versioned = isinstance(redis_cache, VersionedStore)
        self._state = L1Coherence(
            self.in_memory_cache, self.default_in_memory_ttl, needs_subscription=self.coherent
        )
        self.invalidation = invalidation
        self.channel: InvalidationChannel | TrackingChannel | None = None
        on_error = weak_method(self._l2_failed_quietly)  # the listener must not keep us alive
        if self.coherent and invalidation == "tracking":
            self.channel = TrackingChannel(redis_cache, self._state, on_error)
        elif self.coherent:
            l2: Any = redis_cache
            self.channel = InvalidationChannel(l2, invalidation_channel, self._state, on_error)
        if self.channel is not None:
            bound_to(self, self.channel)  # a dropped cache stops listening
        self._l1_get = self.in_memory_cache.get_cache
        self.settle_time = float(getattr(redis_cache, "socket_timeout", None) or 10.0) + 0.5
        #: Whether one value is written by the one-step path of :meth:`async_set_cache`.
        self._one_step = self._versioned and (
            self.channel is None or isinstance(self.channel, InvalidationChannel)
        )

    @property
    def redis_batch_cache_expiry(self) -> float:
        """Seconds a key L2 reported missing is not asked again by batch reads."""
        return self._reads.window

    @redis_batch_cache_expiry.setter
    def redis_batch_cache_expiry(self, seconds: float) -> None:
        self._reads.window = seconds

    # -- L2 failures -------------------------------------------------------------------------
    def _l2_failed_quietly(self, what: str, exc: BaseException, log: bool = True) -> None:
        """Count ``exc`` and log it (at most once per interval) unless ``log`` is false."""
        self.stats.count_error(exc)
        if log:
            self._log.warning(
                "%s failed (%s); continuing with the in-process copies alone",
                f"{store_label(self.redis_cache)} {what}",
                describe_failure(exc),
                extra={"event": "l2_failed", "operation": what, "error": type(exc).__name__},
            )

    def _l2_failed(self, what: str, exc: BackendError) -> None:
        """Count ``exc``; raise it (the caller reports it), or log it when failing open."""
        self._l2_failed_quietly(what, exc, log=self.fail_open)
        if not self.fail_open:
            raise exc

    def _write_failed(self, keys: Iterable[str], exc: BaseException, what: str = "write") -> None:
        """A change failed or was cancelled, maybe after L2 took it: no older copy may stay in
        L1 (this process never hears its own announcement), now nor once L2 has surely answered
        or dropped the command (a read may overtake it on another connection and fill L1);
        then the failure is handled as every L2 failure, and anything else re-raised."""
        changes = [(key, 0) for key in keys]
        self._state.invalidate(changes)
        with contextlib.suppress(RuntimeError):  # no running loop: nothing can overtake
            asyncio.get_running_loop().call_later(self.settle_time, self._state.invalidate, changes)
        if not isinstance(exc, BackendError):
            raise exc
        self._l2_failed(what, exc)

    def _ensure_listening(self) -> None:
        if self.channel is not None:
            self.channel.ensure_listening()

    async def async_ready(self, timeout: float = 5.0) -> None:
        """Wait until this process receives invalidations (the subscription is up), at most
        ``timeout`` seconds (then :class:`~aiocache_llm.errors.BackendError`)."""
        if self.channel is not None:
            await self.channel.ready(timeout)

    # -- reads -----------------------------------------------------------------------------
    @read_through("_l1_get")
    def async_get_cache(
        self, key: str, parent_otel_span: object = None, local_only: bool = False
    ) -> Any:
        """The value under ``key``: L1, then L2 (only L1 with ``local_only``, as LiteLLM). L1
        answers at once: the blocking ``get_cache`` answers it in the caller's thread, with
        no thread hop. LiteLLM's tracing argument ``parent_otel_span`` is ignored here."""
        if self.redis_cache is None or local_only:
            return None
        return self._l2_value(key)

    async def _l2_value(self, key: str) -> Any:
        entries = await self._l2_read([key])
        return None if entries is None or entries[0] is None else entries[0].value

    async def async_set_cache_sadd(
        self,
        key: str,
        value: Iterable[str],
        ttl: TTLArg = USE_DEFAULT,
        *,
        local_only: bool = False,
    ) -> int:
        """Add the members ``value`` to the set ``key`` in L1 and (unless ``local_only``) L2;
        return how many were new in the level that holds the truth (L2 when used)."""
        return await layered_sadd(self, key, value, ttl, local_only)

    async def _l2_read(self, keys: Sequence[str]) -> list[Entry | None] | None:
        """Entries from L2 (``None`` if the read failed), filling L1 where allowed."""
        l2 = self.redis_cache
        assert l2 is not None
        self._ensure_listening()
        started = self._state.begin()
        try:
            if self._versioned:
                pairs = await l2.async_get_versioned(keys)  # type: ignore[attr-defined]
            elif len(keys) == 1:
                pairs = [(await l2.async_get_entry(keys[0]), 0)]
            else:
                pairs = [(entry, 0) for entry in await l2.async_batch_get_entries(keys)]
        except BackendError as exc:
            self._l2_failed("read", exc)
            return None
        self._fill(((k, entry, v) for k, (entry, v) in zip(keys, pairs, strict=True)), started)
        return [entry for entry, _ in pairs]

    def _fill(self, items: Iterable[tuple[str, Entry | None, int]], started: int) -> None:
        """Fill L1 with ``(key, entry, version)`` items where allowed; an unversioned value in
        a versioned store is a counter, never held in L1."""
        versioned = self._versioned
        self._state.fill(
            ((k, e, v) for k, e, v in items if e is not None and (v or not versioned)), started
        )

    async def async_get_entry(self, key: str) -> Entry | None:
        entry = self._state.entry(key)
        if entry is not None or self.redis_cache is None:
            return entry
        entries = await self._l2_read([key])
        return None if entries is None else entries[0]

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        get = self._state.entry
        results: list[Entry | None] = [get(key) for key in keys]
        if self.redis_cache is None:
            return results
        pairs = list(zip(keys, results, strict=True))
        fetched = await self._reads.entries([key for key, found in pairs if found is None])
        return [found if found is not None else fetched.get(key) for key, found in pairs]

    async def async_batch_get_cache(
        self, keys: Sequence[str], parent_otel_span: object = None, local_only: bool = False
    ) -> list[Any]:
        get = self._state.entry
        found = [get(k) for k in keys] if local_only else await self.async_batch_get_entries(keys)
        return [None if entry is None else entry.value for entry in found]

    # -- writes ----------------------------------------------------------------------------
    async def async_set_cache(
        self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT, *, local_only: bool = False
    ) -> None:
        """:meth:`async_set_cache_pipeline` of one pair (on the path of every cached miss)."""
        if local_only or not self._one_step or value.__class__ is int or value.__class__ is float:
            await self.async_set_cache_pipeline([(key, value)], ttl, local_only=local_only)
            return
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        channel = self.channel
        announcement = None
        if channel is None:
            check_key(key)
        else:  # the announcement checks the key
            announcement = channel.announcement((key,))  # type: ignore[union-attr]
            channel.ensure_listening()
        self._reads.forget((key,))
        state = self._state
        started, now = state.begin(), time.time()
        try:
            (version,) = await self.redis_cache.async_set_versioned(  # type: ignore[union-attr]
                ((key, value),), seconds, announcement=announcement
            )
        except BaseException as exc:
            self._write_failed((key,), exc)
            return
        if version:  # (an unversioned value is never held in L1: see _fill)
            expires = None if seconds is None else now + seconds  # L2's clock started later
            state.fill_one(key, Entry(value, now, expires), version, started)
        if channel is not None and channel.observer is not None:  # sent with the write
            channel.announced([(key, version)], now)  # type: ignore[union-attr]

    async def async_set_cache_pipeline(
        self,
        cache_list: Iterable[tuple[str, Any]],
        ttl: TTLArg = USE_DEFAULT,
        *,
        local_only: bool = False,
    ) -> None:
        """Write L2 first (a value it refuses is stored nowhere), then L1 with the version L2
        gave. A versioned L2 announces the write in the same step (on Redis: one script call,
        one round trip); otherwise it is announced after."""
        cache_list = list(cache_list)
        seconds = self.resolve_ttl(ttl)
        l2 = self.redis_cache
        if local_only or l2 is None:
            self._state.put_local(cache_list, seconds)
            return
        keys = [key for key, _ in cache_list]
        self._reads.forget(keys)
        channel = self.channel
        if channel is not None:
            channel.ensure_listening()
        started, now = self._state.begin(), time.time()
        announcement = None
        try:
            if self._versioned:
                if isinstance(channel, InvalidationChannel):
                    announcement = channel.announcement(keys)
                versions = await l2.async_set_versioned(  # type: ignore[attr-defined]
                    cache_list, seconds, announcement=announcement
                )
            else:
                await l2.async_set_cache_pipeline(cache_list, seconds)
                versions = [0] * len(cache_list)
        except BaseException as exc:
            self._write_failed(keys, exc)
            return
        if self._versioned and not all(versions):  # numbers became counters, not held in L1:
            # this process never hears its own announcement, so its older copies go now
            self._state.invalidate([(k, 0) for k, v in zip(keys, versions, strict=True) if not v])
        # the L1 copy expires no later than L2's: its clock started before the write
        expires = None if seconds is None else now + seconds
        pairs = zip(cache_list, versions, strict=True)
        self._fill([(k, Entry(value, now, expires), v) for (k, value), v in pairs], started)
        if channel is None:
            return
        if announcement is None:
            await channel.announce(list(zip(keys, versions, strict=True)))
        elif channel.observer is not None:  # sent with the write
            channel.announced(list(zip(keys, versions, strict=True)), now)  # type: ignore[union-attr]

    async def async_increment(
        self,
        key: str,
        value: float,
        ttl: TTLArg = USE_DEFAULT,
        *,
        local_only: bool = False,
        refresh_ttl: bool = False,
        parent_otel_span: object = None,
    ) -> float:
        return (await layered_increments(self, [(key, value, ttl)], local_only, refresh_ttl))[0]

    async_increment_cache = async_increment  # LiteLLM's name; blocking twin: increment_cache

    async def async_increment_pipeline(
        self, increment_list: Iterable[IncrementOp], *, local_only: bool = False
    ) -> list[float]:
        return await layered_increments(self, increment_list, local_only)

    async def async_delete_cache(self, key: str) -> None:
        await layered_delete(self, key)

    async def async_flush_cache(self) -> None:
        await layered_flush(self)

    # -- the rest --------------------------------------------------------------------------
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

    async def async_disconnect(self) -> None:
        """Stop listening for invalidations and disconnect L2 (on this loop)."""
        if self.channel is not None:
            await self.channel.stop()
        if self.redis_cache is not None:
            # RedisCache also closes the client its subscription used on the library's loop
            await self.redis_cache.async_disconnect()

    def __repr__(self) -> str:
        l1, l2 = self.in_memory_cache, self.redis_cache
        return f"DualCache(in_memory_cache={l1!r}, redis_cache={l2!r})"
