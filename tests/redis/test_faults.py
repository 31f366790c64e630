"""Faults on a dedicated redis-server: killed, paused (SIGSTOP), restarted, unreachable.

Every failure is a typed BackendError raised within the socket timeout (pytest's timeout
catches a hang), and the same cache object works again once the server is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.errors import BackendTimeout, BackendUnavailable
from aiocache_llm.storage.redis import RedisCache
from tests.harness.process import free_port
from tests.harness.redis import RedisServer, start_redis

TIMEOUT = 0.5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone: tests kill and pause it."""
    process = start_redis(tmp_path / "redis")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def cache(server: RedisServer) -> AsyncIterator[RedisCache]:
    backend = RedisCache(
        server.host, server.port, namespace="faults", socket_timeout=TIMEOUT, env={}
    )
    try:
        yield backend
    finally:
        await backend.async_disconnect()


CALLS: dict[str, Callable[[RedisCache], Awaitable[Any]]] = {
    "get": lambda c: c.async_get_cache("k"),
    "set": lambda c: c.async_set_cache("k", "v"),
    "batch_get": lambda c: c.async_batch_get_cache(["k", "j"]),
    "set_pipeline": lambda c: c.async_set_cache_pipeline([("k", 1), ("j", 2)]),
    "increment": lambda c: c.async_increment("n", 1),
    "increment_pipeline": lambda c: c.async_increment_pipeline([("n", 1)]),
    "delete": lambda c: c.async_delete_cache("k"),
    "flush": lambda c: c.async_flush_cache(),
    "get_ttl": lambda c: c.async_get_ttl("k"),
    "ping": lambda c: c.async_ping(),
}


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_every_operation_on_a_stopped_server_raises_backend_unavailable(
    cache: RedisCache, server: RedisServer, call: str
) -> None:
    await cache.async_ping()  # a pooled connection exists when the server goes away
    server.stop()
    with pytest.raises(BackendUnavailable):
        await CALLS[call](cache)


async def test_an_unreachable_port_raises_backend_unavailable() -> None:
    cache = RedisCache("127.0.0.1", free_port(), socket_timeout=TIMEOUT, env={})
    try:
        with pytest.raises(BackendUnavailable):
            await cache.async_get_cache("k")
    finally:
        await cache.async_disconnect()


async def test_a_paused_server_raises_backend_timeout(
    cache: RedisCache, server: RedisServer
) -> None:
    await cache.async_set_cache("k", "v")
    server.process.pause()
    try:
        with pytest.raises(BackendTimeout):
            await cache.async_get_cache("k")
    finally:
        server.process.resume()


async def test_concurrent_callers_of_a_paused_server_each_get_a_timeout(
    cache: RedisCache, server: RedisServer
) -> None:
    await cache.async_ping()
    server.process.pause()
    try:
        results = await asyncio.gather(
            *(cache.async_get_cache(f"k{i}") for i in range(20)), return_exceptions=True
        )
    finally:
        server.process.resume()
    assert all(isinstance(result, BackendTimeout) for result in results)
    assert len({id(result) for result in results}) == 20


async def test_the_cache_works_again_after_a_pause_ends(
    cache: RedisCache, server: RedisServer
) -> None:
    await cache.async_set_cache("k", "v")
    server.process.pause()
    with pytest.raises(BackendTimeout):
        await cache.async_get_cache("k")
    server.process.resume()
    assert await cache.async_get_cache("k") == "v"


async def test_the_same_cache_resumes_after_a_restart(
    cache: RedisCache, server: RedisServer, tmp_path: Path
) -> None:
    await cache.async_set_cache("k", "before")
    server.stop()
    with pytest.raises(BackendUnavailable):
        await cache.async_get_cache("k")
    restarted = start_redis(tmp_path / "restarted", port=server.port)
    try:
        await cache.async_set_cache("k", "after")
        assert await cache.async_get_cache("k") == "after"
    finally:
        restarted.stop()


async def test_a_restart_between_calls_goes_unnoticed(
    cache: RedisCache, server: RedisServer, tmp_path: Path
) -> None:
    await cache.async_ping()
    server.stop()
    restarted = start_redis(tmp_path / "restarted", port=server.port)
    try:
        assert await cache.async_ping() is True
    finally:
        restarted.stop()


def test_the_blocking_api_raises_the_same_typed_errors(server: RedisServer) -> None:
    cache = RedisCache(server.host, server.port, socket_timeout=TIMEOUT, env={})
    try:
        cache.ping()
        server.process.pause()
        try:
            with pytest.raises(BackendTimeout):
                cache.get_cache("k")
        finally:
            server.process.resume()
        server.stop()
        with pytest.raises(BackendUnavailable):
            cache.get_cache("k")
    finally:
        cache.disconnect()


async def test_a_health_check_on_a_stopped_server_reports_unhealthy(
    cache: RedisCache, server: RedisServer
) -> None:
    server.stop()
    report = await cache.async_test_connection()
    assert report["status"] == "unhealthy"
