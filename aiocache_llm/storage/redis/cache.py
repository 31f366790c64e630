"""RedisCache: a Redis (or Sentinel-managed Redis) backend on ``redis.asyncio`` with hiredis.

* The contract is :class:`~aiocache_llm.storage._store_cache.StoreCache`'s over a
  :class:`~aiocache_llm.storage.redis.store.RedisStore`: TTLs stay native in Redis
  (``SET ... PX``), counters are Redis numbers (``INCRBYFLOAT``).
* Commands issued by many tasks in the same event-loop iteration are sent as one pipeline
  (auto-pipelining); a failing command fails only its caller.
* A number stored with ``async_set_cache`` is written as Redis writes a counter, so it can be
  incremented, and a counter reads back with ``async_get_cache``; anything else is the codec's.
* Keys are ``"<namespace>:<key>"`` when a ``namespace`` is given (the namespace escaped, see
  :func:`~aiocache_llm.storage.redis.client.namespace_prefix`). ``async_flush_cache``
  removes only that namespace's keys (SCAN + UNLINK) and, without a namespace, raises
  :class:`~aiocache_llm.errors.NotSupported`: a cache never empties a shared server.
* Every failure is an :class:`~aiocache_llm.errors.BackendError` (``BackendUnavailable``,
  ``BackendTimeout``), raised within ``socket_timeout``; once the server is back the same cache
  object works again.
* Beyond the contract: a write buffer (``async_batch_cache_write``), sets
  (``async_set_cache_sadd``), versioned entries for a coherent L1, and pub/sub (the client's).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, ClassVar

from redis import exceptions as redis_errors

from ...core.codec import Entry, decode, dumps_json
from ...core.to_the_end import to_the_end
from ...errors import BackendError, CorruptEntryError
from .._versions import Announcement
from ..base import USE_DEFAULT, TTLArg
from .autopipeline import Command
from .client import RedisClient
from .scripts import (
    DELETE,
    SADD_SCRIPT,
    SET,
    SET_ONE,
    VERSION_PLACEHOLDER,
    VERSION_PREFIX,
    Script,
    split_version,
)
from .store import milliseconds, number, set_command

__all__ = ["RedisCache"]


class RedisCache(RedisClient):
    """A cache in Redis, single node or behind Sentinel.

    Parameters are those of LiteLLM's RedisCache: ``host``, ``port``, ``password``, ``url``,
    ``namespace``, ``default_ttl``, ``redis_flush_size``, ``socket_timeout``,
    ``max_connections``, ``ssl`` and the ``ssl_*`` options, Sentinel's ``sentinel_nodes``,
    ``service_name`` and ``sentinel_password``, ``gcp_service_account`` (GCP IAM tokens, see
    :mod:`aiocache_llm.storage.redis.gcp_iam`), and any other redis-py keyword. Unset ones are read
    from ``REDIS_<NAME>`` environment variables (``REDIS_URL``, ``REDIS_HOST``,
    ``REDIS_SENTINEL_NODES``, ...) with their types restored; pass ``env={}`` to ignore the
    environment.

    ``socket_timeout`` (default 5 s) bounds every operation: connecting, waiting for a free
    connection (the pool blocks up to that long when ``max_connections`` are busy) and the
    replies of each round trip. ``auto_pipeline=False`` sends each command on its own.
    """

    # -- how values are spelled in Redis ---------------------------------------------------
    def _encode(self, value: Any, expires_at: float | None, now: float, name: str) -> bytes:
        """A number as Redis spells a counter (so it can be incremented), else the codec's."""
        if value.__class__ is int or value.__class__ is float:
            if value.__class__ is float and not math.isfinite(value):
                dumps_json(value)  # raises SerializationError
            return repr(value).encode()
        return super()._encode(value, expires_at, now, name)

    def _decode(self, data: bytes, name: str) -> Entry:
        """The codec's entry (a version prefix stripped), or a counter: a plain number with no
        creation time (its expiry is Redis's, see :meth:`_with_expiry`)."""
        if data[:2] == VERSION_PREFIX:
            data = split_version(data)[1]
        try:
            return decode(data, key=name, max_size=self.max_entry_size)
        except CorruptEntryError:
            try:
                return Entry(number(data), -math.inf, None)
            except (TypeError, ValueError):
                raise CorruptEntryError("neither an entry nor a number") from None

    def _readable(self, data: bytes, name: str) -> Entry | None:
        try:
            return self._decode(data, name)
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            return None

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

    async def async_get_entry(self, key: str) -> Entry | None:
        """The entry under ``key`` with the creation and expiry times it was stored with."""
        return (await self._with_expiry([self.object_name(key)], [await self._entry(key)]))[0]

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        """Entries for ``keys`` with one ``MGET``."""
        names = [self.object_name(key) for key in keys]
        return await self._with_expiry(names, await self._entries(keys))

    # -- the write buffer ------------------------------------------------------------------
    def _write(self, key: str, value: Any, ttl: TTLArg) -> tuple[str, bytes, float | None]:
        """``(name, data, expires_at)`` of a write of ``value`` under ``key`` now."""
        now = self.clock()
        expires_at = self.expires_at(ttl, now)
        name = self.object_name(key)
        return name, self._encode(value, expires_at, now, name), expires_at

    async def async_batch_cache_write(
        self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT
    ) -> None:
        """Buffer a write; the buffer is written at ``redis_flush_size`` entries and by
        :meth:`async_flush_write_buffer` / :meth:`async_disconnect`."""
        await self._buffer.add(set_command(*self._write(key, value, ttl)))

    async def async_flush_write_buffer(self) -> None:
        """Write every buffered entry now, in one round trip."""
        await self._buffer.flush()

    @property
    def buffered_writes(self) -> int:
        """Writes waiting in the buffer."""
        return len(self._buffer)

    # -- sets ------------------------------------------------------------------------------
    async def async_set_cache_sadd(
        self, key: str, value: Iterable[str], ttl: TTLArg = USE_DEFAULT
    ) -> int:
        """Add the members ``value`` to the set at ``key``; return how many were new.

        The TTL is set only when the set is created.
        """
        ms = milliseconds(self.resolve_ttl(ttl))
        values = [str(member) for member in value]
        if not values:
            return 0
        return int(await self._call("EVAL", SADD_SCRIPT, 1, self.object_name(key), ms, *values))

    async def async_smembers(self, key: str) -> set[str]:
        """The members of the set at ``key`` (empty if missing)."""
        reply = await self._call("SMEMBERS", self.object_name(key))
        return {member.decode() for member in reply}

    # -- versioned entries (for a coherent L1, see aiocache_llm.storage.dual) ---------------
    #: Whether the write scripts publish their announcement themselves (on a cluster the
    #: channel lives in another slot than the keys, so it is published after them).
    _publishes_in_scripts: ClassVar[bool] = True

    def _version_counter(self, name: str) -> bytes:
        """The name of the version counter of ``name``'s slot: under this cache's prefix (a
        flush removes it; it then starts again from the clock), with a byte no key's UTF-8
        holds, so no key can be it."""
        return self._counter_name

    @functools.cached_property
    def _counter_name(self) -> bytes:
        return self.prefix.encode() + b"\xffversions"

    def _slot_groups(self, names: Sequence[str]) -> list[list[int]]:
        """Positions of ``names`` grouped so one script call serves each group (one slot)."""
        return [list(range(len(names)))]

    async def _scripts(self, script: Script, commands: list[Command]) -> list[Any]:
        """Run ``commands`` (``EVALSHA`` of ``script``) in one round trip; a server that does
        not hold the script yet (``NOSCRIPT``: no script ran) gets them again as ``EVAL``."""
        try:
            return await self._call_many(commands)
        except BackendError as exc:
            if not isinstance(exc.__cause__, redis_errors.NoScriptError):
                raise
        return await self._call_many([script.loading(command) for command in commands])

    def _published_on(self, announcement: Announcement | None) -> tuple[str, bytes, bytes]:
        """The channel (``""``: none), head and tail a script publishes the message with."""
        if announcement is None or not self._publishes_in_scripts:
            return "", b"", b""
        channel = self._sender_channel(announcement.channel, announcement.sender)
        return channel, announcement.head, announcement.tail

    async def _announced_after(
        self, write: Coroutine[Any, Any, list[int]], announcement: Announcement
    ) -> list[int]:
        """The versions ``write`` takes, then ``announcement`` published with them (on a
        cluster the channel lives in another slot than the keys). A write that fails, perhaps
        applied, is announced with version 0 (every copy elsewhere goes) before its error is
        raised. Run with :func:`to_the_end`: a cancelled caller does not stop the message."""
        try:
            versions = await write
        except (BackendError, asyncio.CancelledError):  # not a refused input: nothing sent
            with contextlib.suppress(BackendError):
                await self._publish(announcement, [0] * len(announcement.keys))
            raise
        await self._publish(announcement, versions)
        return versions

    async def _publish(self, announcement: Announcement, versions: Sequence[int]) -> None:
        message = announcement.message(versions)
        await self.async_publish(announcement.channel, message, sender=announcement.sender)

    async def async_set_versioned(
        self,
        items: Iterable[tuple[str, Any]],
        ttl: TTLArg = USE_DEFAULT,
        *,
        announcement: Announcement | None = None,
    ) -> list[int]:
        """Store every pair under a version Redis assigns atomically with the write, and
        publish ``announcement`` with the versions, in one script call (one round trip; one
        call per slot on a cluster, then the message); return the versions. A bad value stores
        nothing. A number is stored as a counter (as by ``async_set_cache``), without a
        version: its version is 0."""
        pairs = items if isinstance(items, (list, tuple)) else list(items)
        if announcement is not None and not self._publishes_in_scripts:  # the message after
            write = self._set_versions(pairs, ttl, None)
            return await to_the_end(self._announced_after(write, announcement))
        return await self._set_versions(pairs, ttl, announcement)

    async def _set_versions(
        self,
        pairs: Sequence[tuple[str, Any]],
        ttl: TTLArg,
        announcement: Announcement | None,
    ) -> list[int]:
        """:meth:`async_set_versioned`, the message published by the scripts if at all."""
        if len(pairs) == 1:  # one value (not a number): the one-value script
            key, value = pairs[0]
            if value.__class__ is not int and value.__class__ is not float:
                command = self._set_one(key, value, self.resolve_ttl(ttl), announcement)
                try:
                    version = int(await self._call(*command))
                except BackendError as exc:
                    if not isinstance(exc.__cause__, redis_errors.NoScriptError):
                        raise
                    version = int(await self._call(*SET_ONE.loading(command)))
                return [version]
        now = self.clock()
        expires_at = self.expires_at(ttl, now)
        names: list[str] = []
        rows: list[tuple[bytes, bool]] = []
        for key, value in pairs:
            name = self.object_name(key)
            names.append(name)
            numeric = value.__class__ is int or value.__class__ is float
            rows.append((self._encode(value, expires_at, now, name), not numeric))
        if not names:
            return []
        px = 0 if expires_at is None else milliseconds(expires_at - time.time())
        channel, head, tail = self._published_on(announcement)
        keys = [b""] * len(names) if announcement is None else announcement.keys
        groups = self._slot_groups(names)
        commands: list[Command] = []
        for group in groups:
            args: list[Any] = [px, channel, head, tail, sum(rows[i][1] for i in group)]
            for i in group:
                args += (rows[i][0], keys[i], b"1" if rows[i][1] else b"0")
            counter = self._version_counter(names[group[0]])
            commands.append(SET.command([counter, *(names[i] for i in group)], args))
        lasts = await self._scripts(SET, commands)
        versions = [0] * len(names)
        for group, last in zip(groups, lasts, strict=True):
            taken = [i for i in group if rows[i][1]]
            for offset, i in enumerate(taken, int(last) - len(taken) + 1):
                versions[i] = offset
        return versions

    def _set_one(
        self, key: str, value: Any, seconds: float | None, announcement: Announcement | None
    ) -> Command:
        """The one-value script's call storing one value (not a number) living ``seconds``
        (checked; ``None``: no expiry) with its version, and publishing ``announcement`` where
        the scripts do (a NOSCRIPT reply: see :meth:`Script.loading`)."""
        now = self.clock()
        name = self.object_name(key)
        expires_at = None if seconds is None else now + seconds
        data = VERSION_PLACEHOLDER + super()._encode(value, expires_at, now, name)
        published: tuple[Any, ...] = ("", b"", b"")  # no message, or one sent after
        if announcement is not None and self._publishes_in_scripts:
            channel = self._sender_channel(announcement.channel, announcement.sender)
            before = announcement.head + b"[" + announcement.keys[0] + b","
            published = (channel, before, b"]" + announcement.tail)
        counter = self._version_counter(name)
        return SET_ONE.command((counter, name), (data, milliseconds(seconds), *published))

    async def async_get_versioned(self, keys: Sequence[str]) -> list[tuple[Entry | None, int]]:
        """``(entry, version)`` per key (``GET``, or one ``MGET``); version 0 if unversioned."""
        if not keys:
            return []
        names = [self.object_name(key) for key in keys]
        replies = (
            [await self._call("GET", names[0])] if len(names) == 1 else await self.store.mget(names)
        )
        versions: list[int] = []
        entries: list[Entry | None] = []
        for name, data in zip(names, replies, strict=True):
            version, rest = (0, None) if data is None else split_version(data)
            versions.append(version)
            entries.append(None if rest is None else self._readable(rest, name))
        entries = await self._with_expiry(names, entries)
        return list(zip(entries, versions, strict=True))

    async def async_delete_versioned(
        self, key: str, *, announcement: Announcement | None = None
    ) -> int:
        """Delete ``key`` and publish ``announcement`` in one script call (on a cluster, the
        message after it, as :meth:`async_set_versioned`); return the version the deletion
        takes (newer than the value's)."""
        if announcement is not None and not self._publishes_in_scripts:
            write = self._delete_version(key, None)
            return (await to_the_end(self._announced_after(write, announcement)))[0]
        return (await self._delete_version(key, announcement))[0]

    async def _delete_version(self, key: str, announcement: Announcement | None) -> list[int]:
        name = self.object_name(key)
        channel, head, tail = self._published_on(announcement)
        json_key = b"" if announcement is None else announcement.keys[0]
        command = DELETE.command(
            [self._version_counter(name), name], [channel, head, tail, json_key]
        )
        return [int((await self._scripts(DELETE, [command]))[0])]
