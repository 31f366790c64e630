"""Fixtures for the Redis backend tests: a namespaced cache and a raw client on the session's
shared redis-server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer

_namespaces = itertools.count()


@pytest.fixture
def namespace() -> str:
    return f"t{next(_namespaces)}"


@pytest.fixture
async def cache(redis_server: RedisServer, namespace: str) -> AsyncIterator[RedisCache]:
    """A RedisCache under its own namespace, used through the async API."""
    backend = RedisCache(url=redis_server.url, namespace=namespace, env={})
    try:
        yield backend
    finally:
        await backend.async_flush_cache()
        await backend.async_disconnect()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A plain redis-py client, to look at what the cache stored."""
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()
