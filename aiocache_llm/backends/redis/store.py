"""RedisCache: a Redis (or Sentinel-managed Redis) backend on ``redis.asyncio`` with hiredis.

* Commands issued by many tasks in the same event-loop iteration are sent as one pipeline
  (auto-pipelining); a failing command fails only its caller.
* Values go through :mod:`aiocache_llm.codec`; TTLs stay native in Redis (``SET ... PX``).
  Counters are plain Redis numbers (``INCRBYFLOAT``), readable with ``async_get_cache``.
* Keys are ``"<namespace>:<key>"`` when a ``namespace`` is given (the namespace escaped, see
  :func:`~aiocache_llm.backends.redis.client.namespace_prefix`). ``async_flush_cache``
  removes only that namespace's keys (SCAN + UNLINK) and, without a namespace, raises
  :class:`~aiocache_llm.errors.NotSupported`: a cache never empties a shared server.
* Every failure is an :class:`~aiocache_llm.errors.BackendError` (``BackendUnavailable``,
  ``BackendTimeout``), raised within ``socket_timeout``; once the server is back the same cache
  object works again.
* The connection (one client per event loop, batches on redis-py's pool, the error map) is
  :class:`~aiocache_llm.backends.redis.client.RedisClient`'s.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ...codec import Entry, decode, dumps_json, encode
from ...errors import CorruptEntryError, NotSupported
from ..base import (
    USE_DEFAULT,
    IncrementOp,
    TTLArg,
    check_number,
    check_ttl,
    normalize_increments,
)
from .autopipeline import Command
from .client import RedisClient
from .scripts import (
    DELETE_SCRIPT,
    INCREMENT_SCRIPT,
    SADD_SCRIPT,
    SET_SCRIPT,
    VERSION_PREFIX,
    split_version,
)

__all__ = ["RedisCache"]

logger = logging.getLogger("aiocache_llm.redis")


def _number(data: bytes | bytearray | int | float | str) -> float:
    """A counter's reply (``b"3"``, ``b"3.5"``) as an int when whole, else a float."""
    if isinstance(data, (int, float)):
        return data
    try:
        return int(data)
    except ValueError:
        return float(data)


def _milliseconds(seconds: float | None) -> int:
    return 0 if seconds is None else max(1, round(seconds * 1000))


class RedisCache(RedisClient):
    """A cache in Redis, single node or behind Sentinel.

    Parameters are those of LiteLLM's RedisCache: ``host``, ``port``, ``password``, ``url``,
    ``namespace``, ``default_ttl``, ``redis_flush_size``, ``socket_timeout``,
    ``max_connections``, ``ssl`` and the ``ssl_*`` options, Sentinel's ``sentinel_nodes``,
    ``service_name`` and ``sentinel_password``, ``gcp_service_account`` (GCP IAM tokens, see
    :mod:`aiocache_llm.backends.redis.gcp_iam`), and any other redis-py keyword. Unset ones are read
    from ``REDIS_<NAME>`` environment variables (``REDIS_URL``, ``REDIS_HOST``,
    ``REDIS_SENTINEL_NODES``, ...) with their types restored; pass ``env={}`` to ignore the
    environment.

    ``socket_timeout`` (default 5 s) bounds every operation: connecting, waiting for a free
    connection (the pool blocks up to that long when ``max_connections`` are busy) and each
    reply. ``auto_pipeline=False`` sends each command on its own.
    """

    def _value(self, data: Any) -> Any:
        entry = self._entry(data)
        return None if entry is None else entry.value

    def _entry(self, data: Any) -> Entry | None:
        if data is None:
            return None
        if data[:2] == VERSION_PREFIX:
            data = split_version(data)[1]
        try:
            return decode(data)
        except CorruptEntryError:
            try:
                return Entry(_number(data), -math.inf, None)  # a counter: no creation time
            except (TypeError, ValueError):
                self.stats.corrupt_reads += 1
                logger.debug("a corrupt entry read as a miss")
                return None

    def _set_command(self, key: str, value: Any, seconds: float | None, now: float) -> Command:
        data: bytes
        if value.__class__ is int or value.__class__ is float:  # stored as a counter is
            if value.__class__ is float and not math.isfinite(value):
                dumps_json(value)  # raises SerializationError
            data = repr(value).encode()
        else:
            expires = None if seconds is None else now + seconds
            data = encode(value, expires_at=expires, created_at=now)
        if seconds is None:
            return ("SET", key, data)
        return ("SET", key, data, "PX", _milliseconds(seconds))

    # -- contract -------------------------------------------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        return self._value(await self._call("GET", self._key(key)))

    async def async_get_entry(self, key: str) -> Entry | None:
        """The entry under ``key`` with the creation and expiry times it was stored with."""
        name = self._key(key)
        return (await self._with_expiry([name], [self._entry(await self._call("GET", name))]))[0]

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        """Entries for ``keys`` with one ``MGET``."""
        if not keys:
            return []
        names = [self._key(k) for k in keys]
        entries = [self._entry(data) for data in await self._mget(names)]
        return await self._with_expiry(names, entries)

    async def _with_expiry(
        self, names: Sequence[str], entries: list[Entry | None]
    ) -> list[Entry | None]:
        """Counters (plain numbers, no envelope) get their expiry from Redis's own TTL."""
        counters = [i for i, e in enumerate(entries) if e is not None and e.created_at == -math.inf]
        if counters:
            replies = await self._call_many([("PTTL", names[i]) for i in counters])
            now = time.time()
            for i, ms in zip(counters, replies, strict=True):
                entry = entries[i]
                assert entry is not None
                if int(ms) == -2:  # gone meanwhile
                    entries[i] = None
                elif int(ms) >= 0:
                    entries[i] = Entry(entry.value, entry.created_at, now + int(ms) / 1000)
        return entries

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        """Values for ``keys`` with one ``MGET``."""
        if not keys:
            return []
        names = [self._key(key) for key in keys]
        return [self._value(data) for data in await self._mget(names)]

    async def _mget(self, names: Sequence[str]) -> Sequence[Any]:
        return await self._call("MGET", *names)  # type: ignore[no-any-return]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        await self._call(*self._set_command(self._key(key), value, seconds, time.time()))

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        """Store every pair in one round trip (``SET ... PX`` each); a bad value stores nothing."""
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        now = time.time()
        commands = [self._set_command(self._key(k), v, seconds, now) for k, v in items]
        await self._call_many(commands)

    async def async_batch_cache_write(
        self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT
    ) -> None:
        """Buffer a write; the buffer is written at ``redis_flush_size`` entries and by
        :meth:`async_flush_write_buffer` / :meth:`async_disconnect`."""
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        command = self._set_command(self._key(key), value, seconds, time.time())
        await self._buffer.add(command)

    async def async_flush_write_buffer(self) -> None:
        """Write every buffered entry now, in one round trip."""
        await self._buffer.flush()

    @property
    def buffered_writes(self) -> int:
        """Writes waiting in the buffer."""
        return len(self._buffer)

    def _increment_command(
        self,
        ops: Sequence[tuple[str, float, TTLArg]],
        check_only: bool = False,
        refresh_ttl: bool = False,
    ) -> Command:
        """One script call applying ``ops`` (keys namespaced, TTLs checked) all or nothing."""
        millis: dict[Any, int] = {USE_DEFAULT: _milliseconds(self.default_ttl)}
        keys: list[str] = []
        args: list[Any] = ["1" if check_only else "2" if refresh_ttl else "0"]
        for key, by, ttl in ops:
            keys.append(key)
            ms = millis.get(ttl)
            if ms is None:
                ms = millis[ttl] = _milliseconds(ttl)  # type: ignore[arg-type]
            args.append(by if by.__class__ is int else repr(by))
            args.append(ms)
        return ("EVAL", INCREMENT_SCRIPT, len(keys), *keys, *args)

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        """Atomically add ``value`` (``INCRBYFLOAT``); the TTL is set only on a new key, or on
        every increment with ``refresh_ttl``, in the same script call."""
        op = (self._key(key), check_number(value), ttl if ttl is USE_DEFAULT else check_ttl(ttl))
        command = self._increment_command([op], refresh_ttl=refresh_ttl)
        return _number((await self._call(*command))[0])

    async def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        """Every increment in one script call, all or nothing; the new values in order."""
        checked = [(self._key(k), by, t) for k, by, t in normalize_increments(ops)]
        if not checked:
            return []
        return [_number(reply) for reply in await self._increment_all(checked)]

    async def _increment_all(self, ops: Sequence[tuple[str, float, TTLArg]]) -> Sequence[Any]:
        return await self._call(*self._increment_command(ops))  # type: ignore[no-any-return]

    async def async_set_cache_sadd(
        self, key: str, members: Iterable[str], ttl: TTLArg = USE_DEFAULT
    ) -> int:
        """Add ``members`` to the set at ``key``; return how many were new.

        The TTL is set only when the set is created.
        """
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        values = [str(member) for member in members]
        if not values:
            return 0
        reply = await self._call(
            "EVAL", SADD_SCRIPT, 1, self._key(key), _milliseconds(seconds), *values
        )
        return int(reply)

    async def async_smembers(self, key: str) -> set[str]:
        """The members of the set at ``key`` (empty if missing)."""
        reply = await self._call("SMEMBERS", self._key(key))
        return {member.decode() for member in reply}

    # -- versioned entries (for a coherent L1, see aiocache_llm.backends.dual) ---------------
    async def async_set_versioned(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> list[int]:
        """Store every pair in one round trip, each under a version Redis assigns atomically
        with the write; return the versions. A bad value stores nothing. A number is stored as
        a counter (as by ``async_set_cache``), without a version: its version is 0."""
        seconds = self.default_ttl if ttl is USE_DEFAULT else check_ttl(ttl)
        now = time.time()
        expires = None if seconds is None else now + seconds
        px = _milliseconds(seconds)
        commands: list[Command] = []
        for key, value in items:
            if value.__class__ is int or value.__class__ is float:
                # a number is stored as a counter is (incrementable), unversioned: version 0
                commands.append(self._set_command(self._key(key), value, seconds, now))
            else:
                data = encode(value, expires_at=expires, created_at=now)
                commands.append(("EVAL", SET_SCRIPT, 1, self._key(key), data, px))
        replies = await self._call_many(commands)
        return [reply if isinstance(reply, int) else 0 for reply in replies]

    async def async_get_versioned(self, keys: Sequence[str]) -> list[tuple[Entry | None, int]]:
        """``(entry, version)`` per key (``GET``, or one ``MGET``); version 0 if unversioned."""
        if not keys:
            return []
        names = [self._key(key) for key in keys]
        replies = (
            [await self._call("GET", names[0])] if len(names) == 1 else await self._mget(names)
        )
        versions: list[int] = []
        entries: list[Entry | None] = []
        for data in replies:
            version, rest = (0, None) if data is None else split_version(data)
            versions.append(version)
            entries.append(None if rest is None else self._entry(rest))
        entries = await self._with_expiry(names, entries)
        return list(zip(entries, versions, strict=True))

    async def async_delete_versioned(self, key: str) -> int:
        """Delete ``key``; return the version the deletion took (newer than the value's)."""
        return int(await self._call("EVAL", DELETE_SCRIPT, 1, self._key(key)))

    async def async_delete_cache(self, key: str) -> None:
        await self._call("UNLINK", self._key(key))

    def _flush_pattern(self) -> str:
        if not self.namespace:
            raise NotSupported(
                "flush_cache needs a namespace: without one it would empty a shared server"
            )
        return "".join(f"\\{c}" if c in "*?[]\\" else c for c in self._prefix) + "*"

    async def async_flush_cache(self) -> None:
        """Remove every key of this cache's namespace (SCAN + UNLINK), and nothing else."""
        pattern = self._flush_pattern()
        cursor: Any = 0
        while True:
            cursor, names = await self._call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            if names:
                await self._call("UNLINK", *names)
            if int(cursor) == 0:
                return

    async def async_get_ttl(self, key: str) -> float | None:
        milliseconds = int(await self._call("PTTL", self._key(key)))
        return None if milliseconds < 0 else milliseconds / 1000
