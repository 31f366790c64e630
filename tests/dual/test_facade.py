"""The Cache facade puts a coherent L1 in front of remote backends, and ``type="dual"`` takes
the L2's settings."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.keys import make_key
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.layered import DEFAULT_L1_SIZE
from aiocache_llm.storage.redis import RedisCache, RedisClusterCache
from tests.harness.redis import RedisServer


def _chat(question: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": question}]}


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    async def acompletion(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        text = f"answer {self.calls}: {kwargs['messages'][-1]['content']}"
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": kwargs["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def test_a_redis_cache_gets_a_coherent_l1_by_default(redis_server: RedisServer) -> None:
    cache = Cache(type="redis", url=redis_server.url)
    assert isinstance(cache.backend, DualCache)
    assert isinstance(cache.backend.redis_cache, RedisCache)
    assert cache.backend.coherent
    assert cache.backend.in_memory_cache.max_size_in_memory == DEFAULT_L1_SIZE
    assert cache.backend.backend_name == "redis"


def test_l1_false_turns_it_off(redis_server: RedisServer) -> None:
    assert isinstance(Cache(type="redis", url=redis_server.url, l1=False).backend, RedisCache)


def test_the_l1_takes_its_settings_from_l1(redis_server: RedisServer) -> None:
    settings = {"default_in_memory_ttl": 5, "max_size_in_memory": 50}
    backend = Cache(type="redis", url=redis_server.url, l1=settings).backend
    assert isinstance(backend, DualCache)
    assert backend.default_in_memory_ttl == 5
    assert backend.in_memory_cache.max_size_in_memory == 50


@pytest.mark.parametrize("l1", [{"ttl": 5}, "yes", {"max_size_in_memory": 0}])
def test_bad_l1_settings_are_a_configuration_error(redis_server: RedisServer, l1: Any) -> None:
    with pytest.raises(ConfigurationError):
        Cache(type="redis", url=redis_server.url, l1=l1)


def test_a_cluster_cache_gets_an_l1_too() -> None:
    backend = Cache(type="redis", startup_nodes=[("127.0.0.1", 7000)]).backend
    assert isinstance(backend, DualCache)
    assert isinstance(backend.redis_cache, RedisClusterCache)


def test_dual_takes_the_l2_settings(redis_server: RedisServer) -> None:
    backend = Cache(
        type="dual", host=redis_server.host, port=redis_server.port, default_in_memory_ttl=7
    ).backend
    assert isinstance(backend, DualCache)
    assert isinstance(backend.redis_cache, RedisCache)
    assert backend.redis_cache.settings["port"] == redis_server.port
    assert backend.default_in_memory_ttl == 7
    by_url = Cache(type="dual", url=redis_server.url).backend
    assert isinstance(by_url, DualCache) and by_url.redis_cache is not None


def test_dual_given_nothing_still_has_an_l2() -> None:
    backend = Cache(type="dual", env={}).backend
    assert isinstance(backend, DualCache) and isinstance(backend.redis_cache, RedisCache)
    with pytest.raises(ConfigurationError):
        Cache(type="dual", l1=False)


async def test_a_write_through_one_cache_is_served_by_another_after_invalidation(
    redis_server: RedisServer,
) -> None:
    namespace = uuid.uuid4().hex[:8]
    first = Cache(type="redis", url=redis_server.url, namespace=namespace)
    second = Cache(type="redis", url=redis_server.url, namespace=namespace)
    upstream = Upstream()
    ask_first, ask_second = first.cached(upstream.acompletion), second.cached(upstream.acompletion)
    for cache in (first, second):
        assert isinstance(cache.backend, DualCache)
        await cache.backend.async_ready()
    await ask_first(**_chat("q"))
    assert cache_info(await ask_second(**_chat("q")))["cache_hit"] is True  # now in its L1
    key = make_key("acompletion", _chat("q"), namespace=namespace)
    await first.backend.async_set_cache(key, {"replaced": True})
    deadline = time.monotonic() + 5
    assert isinstance(second.backend, DualCache)
    while second.backend.in_memory_cache.get_cache(key) is not None:
        assert time.monotonic() < deadline, "the invalidation did not arrive"
        await asyncio.sleep(0.005)
    assert await second.backend.async_get_cache(key) == {"replaced": True}
    await first.backend.async_delete_cache(key)
    for cache in (first, second):
        await cache.async_disconnect()
