"""More middleware stacks in the contract suite: the library's whole chain over a network
backend (its blocking API hops to the library's loop thread), over a layered cache, and in the
other order (encryption outside the guard). Each must answer every input as its backend does."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aiocache_llm import DiskCache, InMemoryCache
from aiocache_llm.middleware import Breaker, Deadline, Middleware, compose
from aiocache_llm.middleware.builders import GuardedCache
from aiocache_llm.storage.base import BaseCache

from .contract_middleware import KEY


def _redis(request: pytest.FixtureRequest, prefix: str) -> BaseCache:
    from aiocache_llm.storage.redis import RedisCache

    server = request.getfixturevalue("redis_server")
    cache = RedisCache(url=server.url, namespace=f"{prefix}-{uuid.uuid4().hex[:8]}", env={})
    request.addfinalizer(cache.disconnect)  # the blocking API's client lives on the loop thread
    return cache


def _encryption() -> Middleware:
    pytest.importorskip("cryptography")
    from aiocache_llm.middleware import Encryption

    return Encryption(KEY)


def composed_redis(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    chain = [Breaker(policy="fail_closed"), Deadline(10.0), _encryption()]
    return compose(_redis(request, "contract-composed"), chain)


def guarded_encrypted_dual(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.storage.dual import DualCache

    dual = DualCache(InMemoryCache(max_size_in_memory=10_000), _redis(request, "contract-gd"))
    return compose(dual, [Breaker(), Deadline(10.0), _encryption()])


def encrypted_guarded_disk(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    guarded = GuardedCache(DiskCache(tmp_path / "eg"), deadline=10.0)
    return compose(guarded, [_encryption()])


FACTORIES = {
    "composed-redis": composed_redis,
    "guarded-encrypted-dual": guarded_encrypted_dual,
    "encrypted-guarded-disk": encrypted_guarded_disk,
}
