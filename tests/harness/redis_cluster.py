"""A three-master Redis Cluster on loopback for the test session, and an opt-in 3+3 one.

Slots are assigned with ``CLUSTER ADDSLOTSRANGE`` and the nodes joined with ``CLUSTER MEET``
from Python (no redis-cli needed), then every node is polled until ``cluster_state:ok``. With
replicas, each extra node is made a replica of one master (``CLUSTER REPLICATE``) and polled
until its link to the master is up, so killing a master promotes its replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from .process import LOOPBACK, free_port
from .redis import RedisServer, start_redis

SLOTS = 16384


@dataclass
class RedisClusterServers:
    """The running nodes of a Redis Cluster (masters first, then their replicas)."""

    nodes: list[RedisServer]
    masters: int = 0

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(node.host, node.port) for node in self.nodes]

    def stop(self) -> None:
        # every node is asked first, so an interrupt while waiting for one leaves none running
        for node in self.nodes:
            node.process.terminate()
        for node in self.nodes:
            node.stop()

    def master_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now."""
        from redis.cluster import key_slot

        slot = key_slot(key.encode())
        for node in self.nodes:
            if node.process.process.poll() is not None:
                continue
            for start, end in _slots(node):
                if start <= slot <= end:
                    return node
        raise LookupError(f"no live master serves slot {slot}")

    def kill(self, node: RedisServer) -> None:
        """Kill ``node`` at once (SIGKILL, by its PID), as a crashed master would go."""
        node.process.process.kill()
        node.process.process.wait(10)


def _command(port: int, *args: object) -> object:
    import redis

    with redis.Redis(host=LOOPBACK, port=port, socket_timeout=5) as client:
        return client.execute_command(*args)


def _slots(node: RedisServer) -> list[tuple[int, int]]:
    """The slot ranges ``node`` serves as a master (none as a replica)."""
    ranges: list[tuple[int, int]] = []
    for line in _text(_command(node.port, "CLUSTER", "NODES")).splitlines():
        fields = line.split()
        if "myself" in fields[2] and "master" in fields[2]:
            for part in fields[8:]:
                if not part.startswith("["):
                    first, _, last = part.partition("-")
                    ranges.append((int(first), int(last or first)))
    return ranges


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _cluster_ok(ports: list[int]) -> bool:
    for port in ports:
        text = _text(_command(port, "CLUSTER", "INFO"))
        if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(ports)}" not in text:
            return False
    return True


def _replicas_linked(ports: list[int]) -> bool:
    for port in ports:
        info = _command(port, "INFO", "replication")  # parsed by redis-py into a dict
        assert isinstance(info, dict)
        if info.get("role") != "slave" or info.get("master_link_status") != "up":
            return False
    return True


def _wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout}s")
        time.sleep(0.1)


def start_redis_cluster(
    directory: Path,
    masters: int = 3,
    timeout: float = 30.0,
    *,
    replicas: int = 0,
    node_timeout: int = 5000,
    extra: Sequence[str] = (),
) -> RedisClusterServers:
    """Start ``masters`` cluster nodes (and ``replicas`` per master) in ``directory``, join
    them and wait for ``ok``. ``node_timeout`` (ms) is how long a master may be silent before
    its replica takes over; ``extra`` goes on every node's command line."""
    nodes: list[RedisServer] = []
    total = masters * (1 + replicas)
    buses = [free_port() for _ in range(total)]
    try:
        for index in range(total):
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
                    str(node_timeout),
                    "--cluster-port",
                    str(buses[index]),
                    "--repl-diskless-sync-delay",
                    "0",
                    *extra,
                )
            )
        ports = [node.port for node in nodes]
        step = SLOTS // masters
        for index, port in enumerate(ports[:masters]):
            last = SLOTS - 1 if index == masters - 1 else (index + 1) * step - 1
            _command(port, "CLUSTER", "ADDSLOTSRANGE", index * step, last)
        for port, bus in zip(ports[1:], buses[1:], strict=True):
            _command(ports[0], "CLUSTER", "MEET", LOOPBACK, port, bus)
        _wait(lambda: _cluster_ok(ports), "the cluster did not reach cluster_state:ok", timeout)
        for index, port in enumerate(ports[masters:]):
            master_id = _text(_command(ports[index % masters], "CLUSTER", "MYID"))
            _command(port, "CLUSTER", "REPLICATE", master_id)
        _wait(lambda: _replicas_linked(ports[masters:]), "replicas did not link", timeout)
        _wait(lambda: _cluster_ok(ports), "the cluster did not settle", timeout)
    except BaseException:
        RedisClusterServers(nodes, masters).stop()
        raise
    return RedisClusterServers(nodes, masters)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A three-master Redis Cluster for the whole session."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_replicas(tmp_path: Path) -> Iterator[RedisClusterServers]:
    """A fresh 3-master, 3-replica cluster for one test (which may kill a master); a silent
    master is replaced after one second."""
    cluster = start_redis_cluster(tmp_path / "cluster", replicas=1, node_timeout=1000)
    try:
        yield cluster
    finally:
        cluster.stop()
