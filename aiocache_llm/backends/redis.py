"""RedisCache: a Redis (or Sentinel-managed Redis) backend on ``redis.asyncio`` with hiredis.

* Commands issued by many tasks in the same event-loop iteration are sent as one pipeline
  (auto-pipelining); a failing command fails only its caller.
* Values go through :mod:`aiocache_llm.codec`; TTLs stay native in Redis (``SET ... PX``).
  Counters are plain Redis numbers (``INCRBYFLOAT``), readable with ``async_get_cache``.
* Keys are ``"<namespace>:<key>"`` when a ``namespace`` is given. ``async_flush_cache`` removes
  only ``<namespace>:*`` (SCAN + UNLINK) and, without a namespace, raises
  :class:`~aiocache_llm.errors.NotSupported`: a cache never empties a shared server.
* Every failure is an :class:`~aiocache_llm.errors.BackendError` (``BackendUnavailable``,
  ``BackendTimeout``), raised within ``socket_timeout``; once the server is back the same cache
  object works again.
* One client (and connection pool) per event loop, created on first use
  (:mod:`~aiocache_llm.backends._loops`); batches run on redis-py's pool
  (:mod:`~aiocache_llm.backends._redis_connection`); failures are translated by one map
  (:mod:`~aiocache_llm.backends._redis_errors`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool, Connection, SSLConnection

from ..codec import Entry, decode, dumps_json, encode
from ..errors import ConfigurationError, CorruptEntryError, NotSupported
from ._autopipeline import AutoPipeline, Command
from ._loops import PerLoop
from ._redis_config import CACHE_SETTINGS, mask_secrets, redis_settings
from ._redis_connection import LoopClient, run_batch
from ._redis_errors import translate_redis_error
from ._versions import DELETE_SCRIPT, SET_SCRIPT, VERSION_PREFIX, split_version
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

__all__ = ["RedisCache", "namespace_prefix", "translate_redis_error"]

logger = logging.getLogger("aiocache_llm.redis")

#: Increments, all or nothing: every key is read first (a value that is not a number, or a
#: key of another type, fails the whole call before anything is written), then each gets
#: INCRBYFLOAT with its TTL (ARGV[2i+1], milliseconds, 0 = none) set only when it was new.
#: ARGV[1] = "1" only checks; "2" sets every key's TTL (PERSIST for none), new or not.
#: One call serves a whole batch of keys of one slot.
INCREMENT_SCRIPT = """
local new = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    if not tonumber(value) then
      return redis.error_reply('ERR the value at a key is not a valid float')
    end
  elseif new[key] == nil then
    new[key] = true
  end
end
if ARGV[1] == '1' then return {} end
local refresh = ARGV[1] == '2'
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('INCRBYFLOAT', key, ARGV[2 * i])
  local ms = tonumber(ARGV[2 * i + 1])
  if refresh then
    if ms > 0 then redis.call('PEXPIRE', key, ms) else redis.call('PERSIST', key) end
  elseif new[key] then
    new[key] = false
    if ms > 0 then redis.call('PEXPIRE', key, ms) end
  end
end
return out
"""

#: SADD, with the TTL (ARGV[1], milliseconds, 0 = none) set only on a new set.
SADD_SCRIPT = """
local new = redis.call('EXISTS', KEYS[1]) == 0
local added = redis.call('SADD', KEYS[1], unpack(ARGV, 2))
if new and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return added
"""

_DEFAULT_SOCKET_TIMEOUT = 5.0
_DEFAULT_MAX_CONNECTIONS = 50
_DEFAULT_FLUSH_SIZE = 100


def namespace_prefix(namespace: str | None) -> str:
    """The prefix of every key of ``namespace``: the namespace with ``\\`` and ``:`` escaped,
    then ``:``. No namespace's keys, however it is named, start with another's prefix, so
    namespace ``t`` never reads or flushes the keys of namespace ``t:x``."""
    if not namespace:
        return ""
    return namespace.replace("\\", "\\\\").replace(":", "\\:") + ":"


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


class RedisCache(BaseCache):
    """A cache in Redis, single node or behind Sentinel.

    Parameters are those of LiteLLM's RedisCache: ``host``, ``port``, ``password``, ``url``,
    ``namespace``, ``default_ttl``, ``redis_flush_size``, ``socket_timeout``,
    ``max_connections``, ``ssl`` and the ``ssl_*`` options, Sentinel's ``sentinel_nodes``,
    ``service_name`` and ``sentinel_password``, ``gcp_service_account`` (GCP IAM tokens, see
    :mod:`aiocache_llm.backends.gcp_iam`), and any other redis-py keyword. Unset ones are read
    from ``REDIS_<NAME>`` environment variables (``REDIS_URL``, ``REDIS_HOST``,
    ``REDIS_SENTINEL_NODES``, ...) with their types restored; pass ``env={}`` to ignore the
    environment.

    ``socket_timeout`` (default 5 s) bounds every operation: connecting, waiting for a free
    connection (the pool blocks up to that long when ``max_connections`` are busy) and each
    reply. ``auto_pipeline=False`` sends each command on its own.
    """

    backend_name = "redis"
    #: How many times ``async_disconnect`` has run: a subscription that outlives one ends.
    _disconnects = 0

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        password: str | None = None,
        *,
        url: str | None = None,
        namespace: str | None = None,
        default_ttl: float | None = None,
        redis_flush_size: int | None = None,
        socket_timeout: float | None = None,
        max_connections: int | None = None,
        sentinel_nodes: Any = None,
        service_name: str | None = None,
        sentinel_password: str | None = None,
        gcp_service_account: str | None = None,
        gcp_ssl_ca_certs: str | None = None,
        auto_pipeline: bool = True,
        env: dict[str, str] | None = None,
        **redis_kwargs: Any,
    ) -> None:
        settings = redis_settings(
            {
                "host": host,
                "port": port,
                "password": password,
                "url": url,
                "namespace": namespace,
                "default_ttl": default_ttl,
                "redis_flush_size": redis_flush_size,
                "socket_timeout": socket_timeout,
                "max_connections": max_connections,
                "sentinel_nodes": sentinel_nodes,
                "service_name": service_name,
                "sentinel_password": sentinel_password,
                "gcp_service_account": gcp_service_account,
                "gcp_ssl_ca_certs": gcp_ssl_ca_certs,
                **redis_kwargs,
            },
            env=env,
        )
        super().__init__(default_ttl=settings.pop("default_ttl", None))
        self.settings = dict(settings)
        self.namespace: str | None = settings.pop("namespace", None)
        if self.namespace is not None and (
            not isinstance(self.namespace, str) or not self.namespace
        ):
            raise ConfigurationError("namespace must be a non-empty str")
        self._prefix = namespace_prefix(self.namespace)
        flush_size = settings.pop("redis_flush_size", None) or _DEFAULT_FLUSH_SIZE
        if isinstance(flush_size, bool) or not isinstance(flush_size, int) or flush_size < 1:
            raise ConfigurationError("redis_flush_size must be a positive int")
        self.redis_flush_size: int = flush_size
        timeout = settings.get("socket_timeout") or _DEFAULT_SOCKET_TIMEOUT
        self.socket_timeout = float(check_number(timeout, "socket_timeout"))
        settings["socket_timeout"] = self.socket_timeout
        settings.setdefault("socket_connect_timeout", self.socket_timeout)
        max_connections = settings.pop("max_connections", None) or _DEFAULT_MAX_CONNECTIONS
        try:
            self.max_connections = int(max_connections)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigurationError("max_connections must be a positive int") from exc
        if self.max_connections < 1:
            raise ConfigurationError("max_connections must be a positive int")
        if settings.pop("decode_responses", False):
            raise ConfigurationError("decode_responses=True is not supported: values are bytes")
        self.auto_pipeline = auto_pipeline
        self._configure(settings)
        self._loops: PerLoop[LoopClient] = PerLoop(self._make_loop_client)
        self._write_buffer: list[Command] = []
        self._buffer_lock = threading.Lock()

    # -- configuration --------------------------------------------------------------------
    def _configure(self, settings: dict[str, Any]) -> None:
        """Split settings into what this class needs; validate the connection keywords."""
        self._url: str | None = settings.pop("url", None)
        self._sentinel_nodes: list[tuple[str, int]] | None = settings.pop("sentinel_nodes", None)
        self._service_name: str = settings.pop("service_name", None) or "mymaster"
        self._sentinel_password: str | None = settings.pop("sentinel_password", None)
        account = settings.pop("gcp_service_account", None)
        ca_certs = settings.pop("gcp_ssl_ca_certs", None)
        endpoint = settings.pop("gcp_iam_endpoint", None)
        for name in CACHE_SETTINGS:
            settings.pop(name, None)
        if account:
            from .gcp_iam import GCPIAMCredentialProvider

            kwargs = {"endpoint": endpoint} if endpoint else {}
            settings["credential_provider"] = GCPIAMCredentialProvider(account, **kwargs)
            if ca_certs:
                settings["ssl"] = True
                settings["ssl_ca_certs"] = ca_certs
        self.credential_provider: Any = settings.get("credential_provider")
        self._credential_provider = self.credential_provider
        self._ssl = bool(settings.pop("ssl", False))
        if not self._url and not self._sentinel_nodes:
            settings.setdefault("host", "127.0.0.1")
            settings.setdefault("port", 6379)
        self._connection_kwargs = settings
        try:
            self._new_pool()  # builds no connection: checks the keywords now, not at first use
        except (TypeError, ValueError) as exc:  # the message may quote the URL: not repeated
            raise ConfigurationError(
                f"invalid Redis connection settings ({type(exc).__name__})"
            ) from exc

    def _new_pool(self) -> BlockingConnectionPool:
        kwargs = dict(self._connection_kwargs)
        common: dict[str, Any] = {
            "max_connections": self.max_connections,
            "timeout": self.socket_timeout,
        }
        if self._url:
            kwargs.pop("host", None)
            kwargs.pop("port", None)
            if self._ssl:
                kwargs["connection_class"] = SSLConnection
            pool = BlockingConnectionPool.from_url(self._url, **common, **kwargs)
        else:
            cls = SSLConnection if self._ssl else Connection
            pool = BlockingConnectionPool(connection_class=cls, **common, **kwargs)
        pool.connection_class(**pool.connection_kwargs)  # TypeError for an unknown keyword
        return pool

    # -- per-loop clients -----------------------------------------------------------------
    def _loop_client(self) -> LoopClient:
        return self._loops.get()

    def _make_loop_client(self) -> LoopClient:
        state = self._new_client()
        loop = asyncio.get_running_loop()

        async def batch(commands: Sequence[Command]) -> Sequence[Any]:
            return await self._run_batch(state, commands)

        state.pipeline = AutoPipeline(batch, translate_redis_error, loop)
        return state

    def _new_client(self) -> LoopClient:
        """A client for the running loop (no connection is made yet)."""
        closers: list[Any] = []
        if self._sentinel_nodes:
            from redis.asyncio.sentinel import Sentinel, SentinelManagedSSLConnection

            kwargs = dict(self._connection_kwargs)
            kwargs.pop("host", None)
            kwargs.pop("port", None)
            if self._ssl:  # TLS to the master; the sentinels themselves are asked in clear
                kwargs["connection_class"] = SentinelManagedSSLConnection
            sentinel_kwargs = {
                "socket_timeout": self.socket_timeout,
                "socket_connect_timeout": self.socket_timeout,
                "password": self._sentinel_password,
            }
            sentinel = Sentinel(  # type: ignore[no-untyped-call]
                self._sentinel_nodes, sentinel_kwargs=sentinel_kwargs, **kwargs
            )
            client = sentinel.master_for(self._service_name, max_connections=self.max_connections)
            closers.extend(sentinel.sentinels)
        else:
            client = aioredis.Redis.from_pool(self._new_pool())
        return LoopClient(client, client.connection_pool, self.max_connections, closers)

    def _renew_credentials(self) -> bool:
        """Forget a cached token after the server refused it; whether there was one."""
        invalidate = getattr(self._credential_provider, "invalidate", None)
        if invalidate is None:
            return False
        invalidate()
        return True

    async def _call(self, *command: Any) -> Any:
        """Run one command (through the auto-pipeline) and return its raw reply."""
        state = self._loop_client()
        if self.auto_pipeline:
            return await state.pipeline.submit(command)
        return await self._direct(state, [command])

    async def _call_many(self, commands: Sequence[Command]) -> list[Any]:
        """Run ``commands`` in one round trip and return their replies in order.

        Raises the first failure, after every command has completed.
        """
        if not commands:
            return []
        state = self._loop_client()
        if not self.auto_pipeline:
            return list(await self._direct(state, commands, many=True))
        futures = state.pipeline.submit_many(commands)
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def _direct(
        self, state: LoopClient, commands: Sequence[Command], many: bool = False
    ) -> Any:
        try:
            results = await self._run_batch(state, commands)
        except Exception as exc:
            raise translate_redis_error(exc) from exc
        for result in results:
            if isinstance(result, Exception):
                raise translate_redis_error(result) from result
        return list(results) if many else results[0]

    async def _run_batch(self, state: LoopClient, commands: Sequence[Command]) -> Sequence[Any]:
        return await run_batch(state, commands, self.socket_timeout, self._renew_credentials)

    # -- values ---------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        if key.__class__ is not str or not key or not key.isascii():
            key = check_key(key)
        return self._prefix + key

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
        with self._buffer_lock:
            self._write_buffer.append(command)
            full = len(self._write_buffer) >= self.redis_flush_size
        if full:
            await self.async_flush_write_buffer()

    async def async_flush_write_buffer(self) -> None:
        """Write every buffered entry now, in one round trip."""
        with self._buffer_lock:
            commands, self._write_buffer = self._write_buffer, []
        try:
            await self._call_many(commands)
        except BaseException:
            with self._buffer_lock:  # keep them for the next flush
                self._write_buffer[:0] = commands
            raise

    @property
    def buffered_writes(self) -> int:
        """Writes waiting in the buffer."""
        return len(self._write_buffer)

    def _increment_command(
        self,
        ops: Sequence[tuple[str, float, TTLArg]],
        check_only: bool = False,
        refresh_ttl: bool = False,
    ) -> Command:
        """One script call applying ``ops`` (keys already namespaced) all or nothing."""
        default = self.default_ttl
        args: list[Any] = ["1" if check_only else "2" if refresh_ttl else "0"]
        for _, by, ttl in ops:
            args.append(repr(by))
            args.append(_milliseconds(default if ttl is USE_DEFAULT else check_ttl(ttl)))
        return ("EVAL", INCREMENT_SCRIPT, len(ops), *(key for key, _, _ in ops), *args)

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        """Atomically add ``value`` (``INCRBYFLOAT``); the TTL is set only on a new key, or on
        every increment with ``refresh_ttl``, in the same script call."""
        op = (self._key(key), check_number(value), ttl)
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

    #: How this server carries messages: the publish command, the subscribe method of
    #: redis-py's PubSub, and the type of a delivered message (sharded on a cluster).
    _PUBLISH, _SUBSCRIBE, _MESSAGE = "PUBLISH", "subscribe", "message"

    async def async_publish(self, channel: str, message: bytes) -> int:
        """Publish ``message`` on ``channel`` (prefixed with the namespace); return how many
        subscribers received it."""
        return int(await self._call(self._PUBLISH, self._key(channel), message))

    async def async_subscribe(
        self, channel: str, on_subscribed: Callable[[], None] | None = None
    ) -> AsyncIterator[bytes]:
        """Yield every message published on ``channel`` (namespaced) from now on.

        ``on_subscribed`` is called when the server confirms the subscription (from then on no
        message is missed). The subscription has its own connection, closed when the iteration
        stops; waiting for a message is not bounded by ``socket_timeout``, a broken connection
        raises :class:`~aiocache_llm.errors.BackendUnavailable`. ``async_disconnect`` ends the
        iteration (without an error).
        """
        name = self._key(channel)
        client: Any = None
        pubsub: Any = None
        shared = True
        disconnects = self._disconnects
        try:
            client = await self._pubsub_client(name)
            shared = client is self._loop_client().client
            pubsub = client.pubsub()
            await getattr(pubsub, self._SUBSCRIBE)(name)
            async for message in pubsub.listen():
                kind = message.get("type")
                if kind == self._MESSAGE:
                    yield message["data"]
                elif kind == self._SUBSCRIBE and on_subscribed is not None:
                    on_subscribed()
        except Exception as exc:
            if self._disconnects != disconnects:
                return  # this cache closed the connection: the subscription ends with it
            raise translate_redis_error(exc) from exc
        finally:
            if pubsub is not None:
                await pubsub.aclose()
            if not shared:
                await client.aclose()

    async def _pubsub_client(self, channel: str) -> Any:
        """The client whose ``pubsub()`` serves a subscription to ``channel`` on this loop."""
        return self._loop_client().client

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

    async def async_ping(self) -> bool:
        reply = await self._call("PING")
        return reply in (b"PONG", "PONG", True)

    async def async_server_info(self) -> dict[str, str]:
        """``INFO server`` as a dict of strings."""
        reply = await self._call("INFO", "server")
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        info: dict[str, str] = {}
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and not name.startswith("#"):
                info[name] = value
        return info

    def _mode(self) -> str:
        return "sentinel" if self._sentinel_nodes else "standalone"

    async def async_test_connection(self) -> dict[str, Any]:
        """Status, server version, mode, and the connection parameters with secrets masked."""
        report: dict[str, Any] = {
            "backend": self.backend_name,
            "mode": self._mode(),
            "namespace": self.namespace,
            "connection": self.connection_parameters(),
        }
        try:
            info = await self.async_server_info()
        except Exception as exc:  # reported, not raised: this is a diagnostic
            return {"status": "unhealthy", "error": str(exc), **report}
        return {"status": "healthy", "redis_version": info.get("redis_version"), **report}

    def connection_parameters(self) -> dict[str, Any]:
        """The settings this cache connects with, passwords and tokens masked."""
        shown = {
            k: v
            for k, v in self.settings.items()
            if isinstance(v, (str, int, float, bool, list, tuple, type(None)))
        }
        return mask_secrets(shown)

    async def async_disconnect(self) -> None:
        """Write buffered entries, then close this cache's clients and connections.

        The running loop's client is closed here. A client another running loop holds (the
        blocking API's loop thread, say) is closed on that loop; this waits for it at most
        ``socket_timeout``, and not at all on the blocking API's own thread, so a blocking
        ``disconnect()`` can never wait on a loop that is waiting for it. A loop that is not
        running keeps its client. The cache may be used again afterwards.
        """
        try:
            if self._write_buffer:
                await self.async_flush_write_buffer()
        finally:
            self._disconnects += 1
            await self._loops.close(LoopClient.aclose, self.socket_timeout)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mode={self._mode()!r}, namespace={self.namespace!r},"
            f" default_ttl={self.default_ttl!r})"
        )
