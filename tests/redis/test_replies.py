"""How replies are read off a connection: straight from hiredis's reader (RESP2), or through
redis-py's ``read_response`` (no hiredis, RESP3). Both give each command its own reply."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.exceptions

from aiocache_llm.errors import InvalidArgumentError
from aiocache_llm.storage.redis import RedisCache, connection
from tests.harness.redis import RedisServer

BIG = secrets.token_hex(100_000)  # 200,000 characters that compress to about half


@pytest.fixture(params=["hiredis reader", "read_response"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "read_response":
        monkeypatch.setattr(connection, "_HiredisParser", None)
    return str(request.param)


async def test_every_kind_of_reply_reaches_its_own_command(
    reader: str, redis_server: RedisServer
) -> None:
    cache = RedisCache(url=redis_server.url, namespace=f"replies-{reader}", env={})
    try:
        await cache.async_set_cache("text", "not a number")
        await cache.async_set_cache("k", {"big": BIG})  # spans many socket reads
        replies = await cache._loop_client().pipeline.call(
            [
                ("GET", cache.object_name("missing")),
                ("INCRBY", cache.object_name("text"), 1),
                ("PING",),
                ("MGET", cache.object_name("k"), cache.object_name("missing")),
                ("INCRBY", cache.object_name("counter"), 7),
                ("EVALSHA", "0" * 40, 0),
            ]
        )
        assert replies[0] is None
        assert isinstance(replies[1], InvalidArgumentError)
        assert replies[2] == b"PONG"
        assert replies[3][1] is None and len(replies[3][0]) > 100_000
        assert replies[4] == 7
        assert isinstance(replies[5].__cause__, redis.exceptions.NoScriptError)
        results = await asyncio.gather(
            *(cache.async_get_cache("k") for _ in range(20)),
            cache.async_increment("text", 1),
            return_exceptions=True,
        )
        assert results[:20] == [{"big": BIG}] * 20
        assert isinstance(results[20], InvalidArgumentError)
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()
