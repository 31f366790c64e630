"""DualCache's blocking API: an L1 hit is answered in the caller's thread, an L1 miss on the
library's loop thread."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator

import pytest

from aiocache_llm import InMemoryCache
from aiocache_llm._sync import loop_thread_loop
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer


@pytest.fixture
def dual(redis_server: RedisServer) -> Iterator[DualCache]:
    l2 = RedisCache(url=redis_server.url, namespace=f"blocking-{uuid.uuid4().hex[:8]}", env={})
    cache = DualCache(InMemoryCache(), l2, default_in_memory_ttl=60)
    cache.ready()  # L1 takes fills once invalidations can reach it
    try:
        yield cache
    finally:
        cache.flush_cache()
        cache.disconnect()


def _on_the_loop_thread(dual: DualCache, key: str, local_only: bool = False) -> object:
    """``dual.get_cache(key)`` called on the library's own loop thread: an answer needs no
    hop to that thread, an L2 read would deadlock there and is refused instead."""
    done: concurrent.futures.Future[object] = concurrent.futures.Future()

    def call() -> None:
        try:
            done.set_result(dual.get_cache(key, local_only=local_only))
        except RuntimeError as exc:
            done.set_result(exc)

    loop_thread_loop().call_soon_threadsafe(call)
    return done.result(timeout=60)


def test_an_l1_hit_is_answered_without_a_hop_to_the_loop_thread(dual: DualCache) -> None:
    dual.set_cache("held", {"v": 1})
    assert _on_the_loop_thread(dual, "held") == {"v": 1}


def test_an_l1_miss_reads_l2_on_the_loop_thread(dual: DualCache) -> None:
    assert dual.redis_cache is not None
    dual.redis_cache.set_cache("only-in-l2", "x")
    refused = _on_the_loop_thread(dual, "only-in-l2")
    assert isinstance(refused, RuntimeError) and "deadlock" in str(refused)
    assert dual.get_cache("only-in-l2") == "x"  # from any other thread: L2's value


def test_a_local_only_miss_is_answered_without_l2(dual: DualCache) -> None:
    assert dual.redis_cache is not None
    dual.redis_cache.set_cache("only-in-l2", "x")
    assert _on_the_loop_thread(dual, "only-in-l2", local_only=True) is None
