"""RedisClusterCache: the Redis backend on a Redis Cluster (``redis.asyncio.cluster``).

Everything :class:`~aiocache_llm.storage.redis.RedisCache` does, across hash slots: commands
issued in the same event-loop iteration go out as one cluster pipeline (one round trip per
node involved), batch reads use ``mget_nonatomic``, increments run one script call per slot,
``async_flush_cache`` scans every primary for this namespace's keys, and pub/sub is sharded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from ...errors import ConfigurationError
from .autopipeline import Command
from .cache import RedisCache
from .connection import Connector, LoopClient
from .errors import translate_redis_error
from .store import SCAN_COUNT, RedisStore, glob_pattern, increment_command

__all__ = ["ClusterConnector", "RedisClusterCache", "RedisClusterStore"]


class ClusterConnector(Connector):
    """The connection settings of a Redis Cluster: its ``startup_nodes``; the rest of the
    cluster is discovered, and the client keeps a pool per node."""

    # Sharded pub/sub: a channel lives on the primary of its slot, not on every node.
    publish, subscribe, message = "SPUBLISH", "ssubscribe", "smessage"
    by_sender = False

    @property
    def mode(self) -> str:
        return "cluster"

    def __init__(
        self, settings: dict[str, Any], *, max_connections: int, socket_timeout: float
    ) -> None:
        nodes = settings.pop("startup_nodes", None)
        if not nodes:
            raise ConfigurationError(
                "RedisClusterCache needs startup_nodes (or REDIS_CLUSTER_NODES)"
            )
        self.startup_nodes: list[tuple[str, int]] = nodes
        settings.pop("db", None)  # a cluster has database 0 only
        super().__init__(settings, max_connections=max_connections, socket_timeout=socket_timeout)

    def check(self) -> None:
        """The keywords are checked when the cluster client is made."""

    def new_client(self) -> LoopClient:
        kwargs = self._server_kwargs()
        if self.ssl:
            kwargs["ssl"] = True
        try:
            client = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in self.startup_nodes],
                max_connections=self.max_connections,
                **kwargs,
            )
        except TypeError as exc:
            raise ConfigurationError(f"invalid Redis Cluster setting: {exc}") from exc
        return LoopClient(client, None, self.max_connections)

    async def run_batch(self, state: LoopClient, commands: Sequence[Command]) -> Sequence[Any]:
        pipe = state.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    async def pubsub_client(self, state: LoopClient, channel: str) -> Any:
        """A plain client on the primary that serves ``channel``'s slot, from a fresh view of
        the cluster (after a failover the slot has a new primary)."""
        cluster = state.client
        await cluster.initialize()
        await cluster.nodes_manager.initialize()
        node = cluster.get_node_from_key(channel)
        kwargs = dict(self.kwargs)
        kwargs.update(host=node.host, port=node.port, ssl=self.ssl)
        return aioredis.Redis(**kwargs)


class RedisClusterStore(RedisStore):
    """:class:`RedisStore` across hash slots: batch reads with ``mget_nonatomic``, increments
    as one script call per slot, flushes on every primary."""

    async def mget(self, names: Sequence[str]) -> Sequence[Any]:
        client = self.client._loop_client().client
        try:
            return await client.mget_nonatomic(names)  # type: ignore[no-any-return]
        except Exception as exc:
            raise translate_redis_error(exc) from exc

    async def increment_replies(
        self, ops: Sequence[tuple[str, float, float | None]], refresh_ttl: bool
    ) -> Sequence[Any]:
        """One script call per hash slot: first every slot checks its values, then every slot
        applies its increments, so a bad value anywhere applies nothing."""
        by_slot: dict[int, list[int]] = {}
        for i, (name, _, _) in enumerate(ops):
            by_slot.setdefault(key_slot(name.encode()), []).append(i)
        groups = [[ops[i] for i in indexes] for indexes in by_slot.values()]
        if len(groups) > 1:
            await self._call_many([increment_command(group, check_only=True) for group in groups])
        replies = await self._call_many(
            [increment_command(group, refresh_ttl=refresh_ttl) for group in groups]
        )
        results: list[Any] = [None] * len(ops)
        for indexes, reply in zip(by_slot.values(), replies, strict=True):
            for i, value in zip(indexes, reply, strict=True):
                results[i] = value
        return results

    async def clear(self, prefix: str) -> None:
        """Every name under ``prefix`` on every primary (SCAN + UNLINK)."""
        pattern = glob_pattern(prefix)
        client = self.client._loop_client().client
        try:
            names = [name async for name in client.scan_iter(match=pattern, count=SCAN_COUNT)]
        except Exception as exc:
            raise translate_redis_error(exc) from exc
        for start in range(0, len(names), SCAN_COUNT):
            chunk = names[start : start + SCAN_COUNT]
            await self._call_many([("UNLINK", name) for name in chunk])


class RedisClusterCache(RedisCache):
    """A cache in a Redis Cluster.

    ``startup_nodes`` (or its LiteLLM name ``redis_startup_nodes``, or ``REDIS_CLUSTER_NODES``)
    lists some nodes as ``[{"host": ..., "port": ...}, ...]``, ``[(host, port), ...]`` or
    ``"host:port,host:port"``; the rest of the cluster is discovered. Other parameters are
    those of :class:`RedisCache` (Sentinel ones excepted).
    """

    backend_name = "redis-cluster"
    _connector_class: ClassVar[type[Connector]] = ClusterConnector
    _store_class: ClassVar[type[RedisStore]] = RedisClusterStore
    _publishes_in_scripts = False  # the channel's slot is not the keys'

    def __init__(
        self,
        startup_nodes: Any = None,
        *,
        redis_startup_nodes: Any = None,
        **kwargs: Any,
    ) -> None:
        nodes = startup_nodes if startup_nodes is not None else redis_startup_nodes
        if kwargs.get("sentinel_nodes"):
            raise ConfigurationError("a cluster cache does not take sentinel_nodes")
        super().__init__(startup_nodes=nodes, **kwargs)
        self._counters = _SlotCounters(self.prefix.encode() + b"\xffversions")

    def _version_counter(self, name: str) -> bytes:
        return self._counters.of(key_slot(name.encode()))

    def _slot_groups(self, names: Sequence[str]) -> list[list[int]]:
        by_slot: dict[int, list[int]] = {}
        for i, name in enumerate(names):
            by_slot.setdefault(key_slot(name.encode()), []).append(i)
        return list(by_slot.values())


class _SlotCounters:
    """A version counter name in each hash slot: ``base`` + ``{tag}``, the tag found by trying
    tags in order (every slot is reached within about 300,000 tries, a fifth of a second in
    all, spread over the first write of each slot)."""

    __slots__ = ("_base", "_found", "_next")

    def __init__(self, base: bytes) -> None:
        self._base = base
        self._found: dict[int, bytes] = {}
        self._next = 0

    def of(self, slot: int) -> bytes:
        found = self._found
        name = found.get(slot)
        while name is None:
            if self._next > 1 << 24:  # a prefix whose own hash tag pins every name elsewhere
                raise ConfigurationError("no version counter name falls in this key's slot")
            candidate = self._base + b"{%x}" % self._next
            self._next += 1
            found.setdefault(key_slot(candidate), candidate)
            name = found.get(slot)
        return name
