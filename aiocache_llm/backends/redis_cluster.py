"""RedisClusterCache: the Redis backend on a Redis Cluster (``redis.asyncio.cluster``).

Everything :class:`~aiocache_llm.backends.redis.RedisCache` does, across hash slots: commands
issued in the same event-loop iteration go out as one cluster pipeline (one round trip per
node involved), batch reads use ``mget_nonatomic``, and ``async_flush_cache`` scans every
primary for this namespace's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from ..errors import ConfigurationError
from ._autopipeline import Command
from ._redis_connection import LoopClient
from ._redis_errors import translate_redis_error
from .base import TTLArg
from .redis import RedisCache

__all__ = ["RedisClusterCache"]

_SCAN_CHUNK = 1000


class RedisClusterCache(RedisCache):
    """A cache in a Redis Cluster.

    ``startup_nodes`` (or its LiteLLM name ``redis_startup_nodes``, or ``REDIS_CLUSTER_NODES``)
    lists some nodes as ``[{"host": ..., "port": ...}, ...]``, ``[(host, port), ...]`` or
    ``"host:port,host:port"``; the rest of the cluster is discovered. Other parameters are
    those of :class:`RedisCache` (Sentinel ones excepted).
    """

    backend_name = "redis-cluster"

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

    def _configure(self, settings: dict[str, Any]) -> None:
        nodes = settings.pop("startup_nodes", None)
        if not nodes:
            raise ConfigurationError(
                "RedisClusterCache needs startup_nodes (or REDIS_CLUSTER_NODES)"
            )
        self._startup_nodes: list[tuple[str, int]] = nodes
        settings.pop("db", None)  # a cluster has database 0 only
        super()._configure(settings)

    def _new_pool(self) -> Any:
        return None  # the cluster client keeps a pool per node

    def _new_client(self) -> LoopClient:
        kwargs = dict(self._connection_kwargs)
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        if self._ssl:
            kwargs["ssl"] = True
        try:
            client = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in self._startup_nodes],
                max_connections=self.max_connections,
                **kwargs,
            )
        except TypeError as exc:
            raise ConfigurationError(f"invalid Redis Cluster setting: {exc}") from exc
        return LoopClient(client, None, self.max_connections)

    async def _run_batch(self, state: LoopClient, commands: Sequence[Command]) -> Sequence[Any]:
        pipe = state.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)  # type: ignore[no-any-return]

    async def _increment_all(self, ops: Sequence[tuple[str, float, TTLArg]]) -> Sequence[Any]:
        """One script call per hash slot: first every slot checks its values, then every slot
        applies its increments, so a bad value anywhere applies nothing."""
        by_slot: dict[int, list[int]] = {}
        for i, (name, _, _) in enumerate(ops):
            by_slot.setdefault(key_slot(name.encode()), []).append(i)
        groups = [[ops[i] for i in indexes] for indexes in by_slot.values()]
        if len(groups) > 1:
            await self._call_many([self._increment_command(group, True) for group in groups])
        replies = await self._call_many([self._increment_command(group) for group in groups])
        results: list[Any] = [None] * len(ops)
        for indexes, reply in zip(by_slot.values(), replies, strict=True):
            for i, value in zip(indexes, reply, strict=True):
                results[i] = value
        return results

    async def _mget(self, names: Sequence[str]) -> Sequence[Any]:
        client = self._loop_client().client
        try:
            return await client.mget_nonatomic(names)  # type: ignore[no-any-return]
        except Exception as exc:
            raise translate_redis_error(exc) from exc

    async def async_flush_cache(self) -> None:
        """Remove every key of this namespace from every primary (SCAN + UNLINK)."""
        pattern = self._flush_pattern()
        client = self._loop_client().client
        try:
            names = [name async for name in client.scan_iter(match=pattern, count=_SCAN_CHUNK)]
        except Exception as exc:
            raise translate_redis_error(exc) from exc
        for start in range(0, len(names), _SCAN_CHUNK):
            chunk = names[start : start + _SCAN_CHUNK]
            await self._call_many([("UNLINK", name) for name in chunk])

    # Sharded pub/sub: a channel lives on the primary of its slot, not on every node.
    _PUBLISH, _SUBSCRIBE, _MESSAGE = "SPUBLISH", "ssubscribe", "smessage"

    async def _pubsub_client(self, channel: str) -> Any:
        """A plain client on the primary that serves ``channel``'s slot, from a fresh view of
        the cluster (after a failover the slot has a new primary)."""
        import redis.asyncio as aioredis

        cluster = self._loop_client().client
        await cluster.initialize()
        await cluster.nodes_manager.initialize()
        node = cluster.get_node_from_key(channel)
        kwargs = dict(self._connection_kwargs)
        kwargs.update(host=node.host, port=node.port, ssl=self._ssl)
        return aioredis.Redis(**kwargs)

    def _mode(self) -> str:
        return "cluster"
