"""Settings a LiteLLM user types first, behaving as on ``litellm.Cache``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aiocache_llm import Cache
from aiocache_llm.errors import ConfigurationError
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.storage.azure_blob import AzureBlobCache
from aiocache_llm.storage.gcs import GCSCache
from aiocache_llm.storage.s3 import S3Cache
from tests.harness.redis import RedisServer
from tests.harness.upstream import Upstream

from ._support import ask


async def test_flush_of_a_namespaced_redis_cache_empties_only_its_namespace(
    redis_server: RedisServer, openai_client: Any
) -> None:
    settings: dict[str, Any] = {"host": redis_server.host, "port": redis_server.port}
    mine = Cache(type="redis", namespace=f"prod-{uuid.uuid4().hex[:6]}", **settings)
    other = Cache(type="redis", namespace=f"dev-{uuid.uuid4().hex[:6]}", **settings)
    try:
        clients = [cache.wrap_openai(openai_client) for cache in (mine, other)]
        for client in clients:
            await client.chat.completions.create(model="m", messages=ask())
        await mine.async_flush()
        again = [
            await client.chat.completions.create(model="m", messages=ask()) for client in clients
        ]
        assert [cache_info(answer)["cache_hit"] for answer in again] == [False, True]
    finally:
        await other.async_flush()
        await mine.async_disconnect()
        await other.async_disconnect()


async def test_ttl_zero_keeps_nothing(openai_client: Any, llm_upstream: Upstream) -> None:
    client = Cache(ttl=0).wrap_openai(openai_client)
    await client.chat.completions.create(model="m", messages=ask())
    again = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is False
    assert llm_upstream.calls() == 2


async def test_a_calls_own_ttl_still_stores_under_ttl_zero(
    openai_client: Any, llm_upstream: Upstream
) -> None:
    client = Cache(ttl=0).wrap_openai(openai_client)
    create = client.chat.completions.create
    await create(model="m", messages=ask(), cache={"ttl": 60})
    again = await create(model="m", messages=ask())
    assert cache_info(again)["cache_hit"] is True


def test_object_stores_name_their_bucket_and_container() -> None:
    assert S3Cache("answers").bucket == "answers"
    assert GCSCache("answers").bucket == "answers"
    assert AzureBlobCache("http://127.0.0.1:1/acct", "box").container_name == "box"
    with pytest.raises(AttributeError):
        S3Cache("answers").bucket = "other"  # type: ignore[misc]


def test_a_misspelt_redis_setting_is_named() -> None:
    with pytest.raises(ConfigurationError, match="'prot'"):
        Cache(type="redis", prot=3, password="not-shown")
