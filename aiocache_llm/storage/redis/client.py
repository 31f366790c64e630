"""The connection side of the Redis caches: settings, per-loop clients, commands, pub/sub.

:class:`RedisClient` turns the constructor's parameters (and ``REDIS_*`` variables) into a
:class:`~aiocache_llm.storage.redis.connection.Connector`, keeps one client per event loop
(:mod:`~aiocache_llm.core.loops`), runs commands through the auto-pipeline
(:mod:`~aiocache_llm.storage.redis.autopipeline`) or one by one, and answers server reports,
pub/sub and disconnects. It is a :class:`~aiocache_llm.storage._store_cache.StoreCache` over
a :class:`~aiocache_llm.storage.redis.store.RedisStore` whose commands it runs; the Redis
extras are :class:`~aiocache_llm.storage.redis.cache.RedisCache`'s.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar

from ..._sync import at_exit
from ...core.codec import DEFAULT_MAX_ENTRY_SIZE
from ...core.loops import PerLoop
from ...errors import ConfigurationError
from .._store_cache import StoreCache
from ..base import check_number
from .autopipeline import Command
from .connection import Connector, LoopClient
from .errors import translate_redis_error
from .pubsub import messages, other_senders, sender_channel
from .settings import mask_secrets, redis_settings
from .store import RedisStore, glob_escape

__all__ = ["RedisClient", "WriteBuffer", "namespace_prefix"]

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


class WriteBuffer:
    """Writes held back and sent together: at ``size`` commands, or when flushed."""

    __slots__ = ("_commands", "_lock", "_write", "size")

    def __init__(self, size: int, write: Callable[[Sequence[Command]], Awaitable[Any]]) -> None:
        self.size = size
        self._write = write
        self._commands: list[Command] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._commands)

    async def add(self, command: Command) -> None:
        with self._lock:
            self._commands.append(command)
            full = len(self._commands) >= self.size
        if full:
            await self.flush()

    async def flush(self) -> None:
        """Send every held command in one round trip; on failure they are kept for the next."""
        with self._lock:
            commands, self._commands = self._commands, []
        if not commands:
            return
        try:
            await self._write(commands)
        except BaseException:
            with self._lock:
                self._commands[:0] = commands
            raise


class RedisClient(StoreCache[bytes]):
    """The connection of a Redis cache (see :class:`~aiocache_llm.storage.redis.RedisCache`
    for the parameters), and the cache over its store."""

    backend_name = "redis"
    #: What builds this cache's clients: a single server or Sentinel (a cluster has its own).
    _connector_class: ClassVar[type[Connector]] = Connector
    #: The store of this cache's names (a cluster spreads batches across slots).
    _store_class: ClassVar[type[RedisStore]] = RedisStore
    store: RedisStore
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
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
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
        self.settings = dict(settings)
        self.namespace: str | None = settings.pop("namespace", None)
        if self.namespace is not None and (
            not isinstance(self.namespace, str) or not self.namespace
        ):
            raise ConfigurationError("namespace must be a non-empty str")
        super().__init__(
            self._store_class(self),
            prefix=namespace_prefix(self.namespace),
            default_ttl=settings.pop("default_ttl", None),
            max_entry_size=max_entry_size,
        )
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
        self._connector = self._connector_class(
            settings, max_connections=self.max_connections, socket_timeout=self.socket_timeout
        )
        self.credential_provider: Any = self._connector.credential_provider
        self._loops: PerLoop[LoopClient] = PerLoop(self._connector.open)
        self._buffer = WriteBuffer(flush_size, self._call_many)
        #: The published name of each (channel, sender) announced on so far.
        self._channels: dict[tuple[str, str | None], str] = {}
        _buffered.add(self)

    def _loop_client(self) -> LoopClient:
        return self._loops.get()

    async def _call(self, *command: Any) -> Any:
        """Run one command (through the auto-pipeline) and return its raw reply."""
        state = self._loop_client()
        if not self.auto_pipeline:
            return await self._direct(state, [command])
        (result,) = await state.pipeline.call((command,))
        if isinstance(result, BaseException):
            raise result
        return result

    async def _call_many(self, commands: Sequence[Command]) -> list[Any]:
        """Run ``commands`` in one round trip and return their replies in order.

        Raises the first failure, after every command has completed.
        """
        if not commands:
            return []
        state = self._loop_client()
        if not self.auto_pipeline:
            return list(await self._direct(state, commands, many=True))
        results = await state.pipeline.call(commands)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def _direct(
        self, state: LoopClient, commands: Sequence[Command], many: bool = False
    ) -> Any:
        try:
            results = await self._connector.run_batch(state, commands)
        except Exception as exc:
            raise translate_redis_error(exc) from exc
        for result in results:
            if isinstance(result, Exception):
                raise translate_redis_error(result) from result
        return list(results) if many else results[0]

    def _sender_channel(self, channel: str, sender: str | None) -> str:
        """The name a message on ``channel`` from ``sender`` is published under (see
        :meth:`async_subscribe`)."""
        known = self._channels.get((channel, sender))
        if known is not None:
            return known
        name = self.object_name(channel)
        if sender and self._connector.by_sender:
            name = sender_channel(name, sender)
        if len(self._channels) < 64:  # a cache announces on one or two channels
            self._channels[(channel, sender)] = name
        return name

    async def async_publish(
        self, channel: str, message: bytes, *, sender: str | None = None
    ) -> int:
        """Publish ``message`` on ``channel`` (prefixed with the namespace); return how many
        subscribers received it. A message from ``sender`` does not reach that sender's own
        subscription (see :meth:`async_subscribe`)."""
        name = self._sender_channel(channel, sender)
        return int(await self._call(self._connector.publish, name, message))

    def async_subscribe(
        self,
        channel: str,
        on_subscribed: Callable[[], None] | None = None,
        *,
        sender: str | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield every message published on ``channel`` (namespaced) from now on.

        ``on_subscribed`` is called when the server confirms the subscription (from then on no
        message is missed). The subscription has its own connection, closed when the iteration
        stops; waiting for a message is not bounded by ``socket_timeout``, a broken connection
        raises :class:`~aiocache_llm.errors.BackendUnavailable`. ``async_disconnect`` ends the
        iteration (without an error).

        With ``sender`` (letters and digits, the same length for every sender of the channel),
        the messages published with that ``sender`` are left out by the server itself, on a
        single server or Sentinel (pattern subscriptions, see
        :mod:`~aiocache_llm.storage.redis.pubsub`); a cluster delivers them (sharded pub/sub
        has no patterns), so a subscriber that cares skips them itself.
        """
        disconnects = self._disconnects
        name = self.object_name(channel)
        patterns: list[str] = []
        if sender and self._connector.by_sender:
            patterns = [glob_escape(name), *other_senders(name, sender)]
        return messages(
            self._connector,
            self._loop_client,
            name,
            on_subscribed,
            lambda: self._disconnects != disconnects,
            patterns,
        )

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
        return self._connector.mode

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

    async def close_connections(self) -> None:
        """Write buffered entries, then close this cache's clients and connections (the
        store's ``close``, run by ``async_disconnect``).

        The running loop's client is closed here. A client another running loop holds (the
        blocking API's loop thread, say) is closed on that loop; this waits for it at most
        ``socket_timeout``, and not at all on the blocking API's own thread, so a blocking
        ``disconnect()`` can never wait on a loop that is waiting for it. A loop that is not
        running keeps its client. The cache may be used again afterwards.
        """
        try:
            await self._buffer.flush()
        finally:
            self._disconnects += 1
            await self._loops.close(LoopClient.aclose, self.socket_timeout)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mode={self._mode()!r}, namespace={self.namespace!r},"
            f" default_ttl={self.default_ttl!r})"
        )


#: Every Redis cache of the process: buffered writes are sent at interpreter exit.
_buffered: weakref.WeakSet[RedisClient] = weakref.WeakSet()


def _holding() -> list[RedisClient]:
    return [cache for cache in list(_buffered) if len(cache._buffer)]


async def _send_buffered_writes() -> None:
    await asyncio.gather(*(cache._buffer.flush() for cache in _holding()), return_exceptions=True)


at_exit(lambda: bool(_holding()), _send_buffered_writes)
