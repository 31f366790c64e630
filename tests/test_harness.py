"""The real-server harness: a redis-server started for the session answers over loopback."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from tests.harness.process import free_port, port_open
from tests.harness.redis import RedisServer, redis_running


async def test_session_redis_server_answers_commands(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.set("harness:smoke", "ok")
        assert await client.get("harness:smoke") == b"ok"
        info = await client.info("server")
        assert int(str(info["redis_version"]).split(".")[0]) >= 7
    finally:
        await client.delete("harness:smoke")
        await client.aclose()


async def test_session_redis_server_has_vector_search(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        modules = {m[b"name"].decode().lower() for m in await client.module_list()}
    finally:
        await client.aclose()
    assert "search" in modules


def test_a_server_is_stopped_by_pid_when_its_context_ends(tmp_path: Path) -> None:
    port = free_port()
    with redis_running(tmp_path, port=port) as server:
        assert port_open(port)
        pid = server.process.process.pid
    assert server.process.process.poll() is not None, f"redis-server {pid} still running"
    assert not port_open(port)
