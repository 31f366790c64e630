"""A three-master Redis Cluster on loopback for the test session.

Slots are assigned with ``CLUSTER ADDSLOTSRANGE`` and the nodes joined with ``CLUSTER MEET``
from Python (no redis-cli needed), then every node is polled until ``cluster_state:ok``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .process import LOOPBACK, free_port
from .redis import RedisServer, start_redis

SLOTS = 16384


@dataclass
class RedisClusterServers:
    """The running nodes of a Redis Cluster."""

    nodes: list[RedisServer]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _command(port: int, *args: object) -> object:
    import redis

    with redis.Redis(host=LOOPBACK, port=port, socket_timeout=5) as client:
        return client.execute_command(*args)


def _cluster_ok(ports: list[int]) -> bool:
    for port in ports:
        info = _command(port, "CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(ports)}" not in text:
            return False
    return True


def start_redis_cluster(
    directory: Path, masters: int = 3, timeout: float = 30.0
) -> RedisClusterServers:
    """Start ``masters`` cluster nodes in ``directory``, join them and wait for ``ok``."""
    nodes: list[RedisServer] = []
    buses = [free_port() for _ in range(masters)]
    try:
        for index in range(masters):
            node_dir = directory / f"node{index}"
            node_dir.mkdir(parents=True, exist_ok=True)
            nodes.append(
                start_redis(
                    node_dir,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(node_dir / "nodes.conf"),
                    "--cluster-node-timeout",
                    "5000",
                    "--cluster-port",
                    str(buses[index]),
                )
            )
        ports = [node.port for node in nodes]
        step = SLOTS // masters
        for index, port in enumerate(ports):
            last = SLOTS - 1 if index == masters - 1 else (index + 1) * step - 1
            _command(port, "CLUSTER", "ADDSLOTSRANGE", index * step, last)
        for port, bus in zip(ports[1:], buses[1:], strict=True):
            _command(ports[0], "CLUSTER", "MEET", LOOPBACK, port, bus)
        deadline = time.monotonic() + timeout
        while not _cluster_ok(ports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not reach cluster_state:ok in {timeout}s")
            time.sleep(0.1)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return RedisClusterServers(nodes)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A three-master Redis Cluster for the whole session."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()
