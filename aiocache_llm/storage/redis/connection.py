"""How a cache reaches Redis: a :class:`Connector` per cache, a :class:`LoopClient` per loop.

:class:`Connector` holds the connection settings of a single server (host and port, a URL,
or Sentinel) and builds, for each event loop, a client with its pool; the cluster form is
:class:`~aiocache_llm.storage.redis.cluster.ClusterConnector`. :func:`run_batch` runs a
batch of commands on one connection of redis-py's pool.

The pool is used as redis-py designs it: ``get_connection()`` checks a connection out (it
reconnects one the server closed while idle, and a ``BlockingConnectionPool`` waits up to its
``timeout`` for a free one), the whole batch is written at once, the replies are taken from
the connection's hiredis reader (through ``read_response``, one per command, without hiredis),
and ``release()`` gives the connection back. The connection of the
last clean batch is kept aside for the next one instead (a checkout is a lock, a condition
and a timer: a lone task would pay them on every command); one the server closed meanwhile
fails before its first reply and is replaced. A connection that fails is disconnected before
it is released, so the pool reconnects it.

The write and the replies of a batch share one deadline, ``socket_timeout`` (neither the
write nor each ``read_response`` starts its own: a timer per reply cost a third of the
client's time at 50 tasks), and the batches of a loop share one timer
(:mod:`~aiocache_llm.storage.redis.deadlines`).
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.connection import BlockingConnectionPool, Connection, SSLConnection

from ...errors import BackendTimeout, ConfigurationError
from .autopipeline import AutoPipeline, Command
from .deadlines import Deadlines
from .errors import translate_redis_error
from .settings import CACHE_SETTINGS

__all__ = ["Connector", "LoopClient", "run_batch"]


def _load_packer() -> Callable[[Command], bytes] | None:
    try:
        from hiredis import pack_command
    except ImportError:  # hiredis comes with the redis extra; redis-py works without it
        return None
    return pack_command


_hiredis_pack = _load_packer()


def _load_parser() -> tuple[type | None, object]:
    """redis-py's asyncio hiredis parser class and its "not enough data" marker, if both are
    where redis-py keeps them."""
    try:
        from redis._parsers import hiredis as parsers

        parser: type = parsers._AsyncHiredisParser
    except (ImportError, AttributeError):
        return None, False
    marker = getattr(parsers, "NOT_ENOUGH_DATA", None)
    if not hasattr(parser, "read_from_socket") or marker is None or marker is False:
        return None, False  # (a marker of False would read as RESP3's false)
    return parser, marker


_HiredisParser, _NOT_ENOUGH_DATA = _load_parser()


def _pack(connection: Any, commands: Sequence[Command]) -> list[bytes]:
    """RESP bytes for ``commands``: hiredis's packer (C) when present, else redis-py's."""
    pack = _hiredis_pack
    if pack is not None:
        return [pack(command) for command in commands]
    packed: list[bytes] = connection.pack_commands(commands)
    return packed


class LoopClient:
    """The client, its pool and the auto-pipeline that serve one event loop."""

    __slots__ = ("client", "closers", "deadlines", "idle", "pipeline", "pool", "slots")

    pipeline: AutoPipeline

    def __init__(
        self, client: Any, pool: Any, max_connections: int, closers: Sequence[Any] = ()
    ) -> None:
        self.client = client
        self.pool = pool
        self.closers = list(closers)
        #: Batches in flight at once: one connection each, never more than the pool holds
        #: (a Sentinel pool refuses rather than waits when it is exhausted).
        self.slots = asyncio.Semaphore(max_connections)
        #: The connection of the last batch that ended cleanly, kept out of the pool for the
        #: next batch (a lone task then never checks one out); closed with the pool.
        self.idle: Any = None
        #: The deadlines of this loop's batches.
        self.deadlines = Deadlines()

    async def aclose(self) -> None:
        await self.pipeline.drain()
        try:
            await self.client.aclose()
        finally:
            for closer in self.closers:
                await closer.aclose()


class _ClosedBeforeReply(Exception):
    """A connection failed before the first reply of a batch (internal)."""

    def __init__(self, error: redis_errors.ConnectionError) -> None:
        super().__init__(str(error))
        self.error = error


async def run_batch(
    state: LoopClient,
    commands: Sequence[Command],
    timeout: float,
    renew_credentials: Callable[[], bool],
) -> list[Any]:
    """Send ``commands`` in one write on one pooled connection and read every reply.

    Each reply is the value or the ``ResponseError`` of that command alone. A connection that
    fails before the first reply (closed by the server between checkout and write) is replaced
    once. Waiting for a free connection lasts at most ``timeout``.
    """
    slots = state.slots
    if slots.locked():
        try:
            await asyncio.wait_for(slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise BackendTimeout(f"no Redis connection became free within {timeout}s") from None
    else:
        await slots.acquire()
    try:
        try:
            return await _run_once(state, commands, renew_credentials, timeout)
        except _ClosedBeforeReply:
            pass
        try:
            return await _run_once(state, commands, renew_credentials, timeout)
        except _ClosedBeforeReply as exc:
            raise exc.error from exc.error.__cause__
    finally:
        slots.release()


async def _checkout(pool: Any, renew_credentials: Callable[[], bool]) -> Any:
    try:
        return await pool.get_connection()
    except redis_errors.AuthenticationError:
        if not renew_credentials():
            raise
        return await pool.get_connection()  # with a fresh token


async def _run_once(
    state: LoopClient,
    commands: Sequence[Command],
    renew_credentials: Callable[[], bool],
    timeout: float,
) -> list[Any]:
    connection = state.idle
    if connection is not None:  # the last connection to finish a batch cleanly: no checkout
        state.idle = None
    else:
        connection = await _checkout(state.pool, renew_credentials)
    results: list[Any] = []
    try:
        packed = _pack(connection, commands)
        async with state.deadlines.within(timeout):  # one for the write and every reply
            await _send(connection, packed)
            parser = connection._parser
            if type(parser) is _HiredisParser:
                await _read_replies(parser, len(commands), results)
            else:
                read = connection.read_response
                for _ in range(len(commands)):
                    try:
                        results.append(await read(disable_decoding=True, timeout=math.inf))
                    except redis_errors.ResponseError as exc:
                        results.append(exc)
    except BaseException as exc:
        try:
            await connection.disconnect(nowait=True)
        finally:
            await state.pool.release(connection)
        if not results and isinstance(exc, redis_errors.ConnectionError):
            raise _ClosedBeforeReply(exc) from exc
        raise
    if state.idle is None:
        state.idle = connection
    else:
        await state.pool.release(connection)
    return results


async def _read_replies(parser: Any, count: int, results: list[Any]) -> None:
    """Read ``count`` replies straight from the parser's hiredis reader (what
    ``read_response`` does per reply, without its per-call timer and bookkeeping): a
    ``ResponseError`` reply is appended, not raised; a RESP3 push message in between goes to
    the parser's handlers, as ``read_response`` sends it."""
    gets = parser._reader.gets
    push = getattr(parser, "_hiredis_PushNotificationType", None)
    while len(results) < count:
        reply = gets(False)
        while reply is _NOT_ENOUGH_DATA:
            try:
                await parser.read_from_socket()
            except OSError as exc:
                raise redis_errors.ConnectionError(f"Error while reading: {exc}") from exc
            reply = gets(False)
        if push is not None and isinstance(reply, push):
            await parser.handle_push_response(reply)
            continue
        if isinstance(reply, redis_errors.ConnectionError):
            raise reply
        results.append(reply)


async def _send(connection: Any, packed: list[bytes]) -> None:
    """Write ``packed`` on ``connection`` (connecting it first if needed), as redis-py's
    ``send_packed_command`` does, without a timer of its own (the caller's deadline covers
    it)."""
    if not connection.is_connected:
        await connection.connect()
    try:
        await connection._send_packed_command(packed)
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            raise
        raise redis_errors.ConnectionError(f"Error while writing to socket: {exc}") from exc


class Connector:
    """The connection settings of one Redis (single node, URL or Sentinel) and the clients
    made from them, one per event loop.

    ``settings`` are redis-py keywords plus this library's connection settings (``url``,
    ``sentinel_nodes``, ``service_name``, ``sentinel_password``, ``gcp_*``); the keywords are
    checked now (a :class:`~aiocache_llm.errors.ConfigurationError`), no connection is made.
    """

    #: How this server carries messages: the publish command, the subscribe method of
    #: redis-py's PubSub, and the type of a delivered message (sharded on a cluster).
    publish, subscribe, message = "PUBLISH", "subscribe", "message"
    #: Whether a subscription can leave out one sender's messages (pattern subscriptions, see
    #: :mod:`~aiocache_llm.storage.redis.pubsub`); a cluster's sharded pub/sub has no patterns.
    by_sender = True

    def __init__(
        self, settings: dict[str, Any], *, max_connections: int, socket_timeout: float
    ) -> None:
        self.max_connections = max_connections
        self.socket_timeout = socket_timeout
        self.url: str | None = settings.pop("url", None)
        self.sentinel_nodes: list[tuple[str, int]] | None = settings.pop("sentinel_nodes", None)
        self.service_name: str = settings.pop("service_name", None) or "mymaster"
        self.sentinel_password: str | None = settings.pop("sentinel_password", None)
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
        self.ssl = bool(settings.pop("ssl", False))
        if not self.url and not self.sentinel_nodes:
            settings.setdefault("host", "127.0.0.1")
            settings.setdefault("port", 6379)
        self.kwargs = settings
        self.check()

    @property
    def mode(self) -> str:
        return "sentinel" if self.sentinel_nodes else "standalone"

    def check(self) -> None:
        """Raise :class:`~aiocache_llm.errors.ConfigurationError` for a keyword redis-py
        refuses (the message may quote the URL: it is not repeated)."""
        try:
            self.new_pool()  # builds no connection
        except (TypeError, ValueError) as exc:
            # Only a setting's name is quoted from redis-py's text (the URL may hold a password).
            named = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
            setting = f": unknown setting {named.group(1)!r}" if named else ""
            raise ConfigurationError(
                f"invalid Redis connection settings ({type(exc).__name__}){setting}"
            ) from exc

    def _server_kwargs(self) -> dict[str, Any]:
        """The connection keywords without ``host`` and ``port`` (a URL, Sentinel or the
        cluster says where the server is)."""
        kwargs = dict(self.kwargs)
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        return kwargs

    def new_pool(self) -> BlockingConnectionPool:
        """A pool of connections to the server (none is made yet)."""
        common: dict[str, Any] = {
            "max_connections": self.max_connections,
            "timeout": self.socket_timeout,
        }
        if self.url:
            kwargs = self._server_kwargs()
            if self.ssl:
                kwargs["connection_class"] = SSLConnection
            pool = BlockingConnectionPool.from_url(self.url, **common, **kwargs)
        else:
            cls = SSLConnection if self.ssl else Connection
            pool = BlockingConnectionPool(connection_class=cls, **common, **self.kwargs)
        pool.connection_class(**pool.connection_kwargs)  # TypeError for an unknown keyword
        return pool

    def new_client(self) -> LoopClient:
        """A client for the running loop (no connection is made yet)."""
        if not self.sentinel_nodes:
            client = aioredis.Redis.from_pool(self.new_pool())
            return LoopClient(client, client.connection_pool, self.max_connections)
        from redis.asyncio.sentinel import Sentinel, SentinelManagedSSLConnection

        kwargs = self._server_kwargs()
        if self.ssl:  # TLS to the master; the sentinels themselves are asked in clear
            kwargs["connection_class"] = SentinelManagedSSLConnection
        sentinel_kwargs = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_timeout,
            "password": self.sentinel_password,
        }
        make_sentinel: Any = Sentinel  # typed from redis 8.2 on, untyped before
        sentinel = make_sentinel(self.sentinel_nodes, sentinel_kwargs=sentinel_kwargs, **kwargs)
        client = sentinel.master_for(self.service_name, max_connections=self.max_connections)
        return LoopClient(client, client.connection_pool, self.max_connections, sentinel.sentinels)

    def open(self) -> LoopClient:
        """The client of the running loop, with the auto-pipeline that batches its commands."""
        state = self.new_client()
        batch = functools.partial(self.run_batch, state)
        state.pipeline = AutoPipeline(batch, translate_redis_error, asyncio.get_running_loop())
        return state

    def renew_credentials(self) -> bool:
        """Forget a cached token after the server refused it; whether there was one."""
        invalidate = getattr(self.credential_provider, "invalidate", None)
        if invalidate is None:
            return False
        invalidate()
        return True

    def run_batch(
        self, state: LoopClient, commands: Sequence[Command]
    ) -> Coroutine[Any, Any, Sequence[Any]]:
        """The reply (or the ``ResponseError``) of each command, in one round trip."""
        return run_batch(state, commands, self.socket_timeout, self.renew_credentials)

    async def pubsub_client(self, state: LoopClient, channel: str) -> Any:
        """The client whose ``pubsub()`` serves a subscription to ``channel`` on this loop."""
        return state.client
