"""DualCache (in-memory L1 over a real Redis L2) in the contract suite."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aiocache_llm import InMemoryCache
from aiocache_llm.storage.base import BaseCache


def _dual(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.storage.dual import DualCache
    from aiocache_llm.storage.redis import RedisCache

    server = request.getfixturevalue("redis_server")
    l2 = RedisCache(url=server.url, namespace=f"contract-dual-{uuid.uuid4().hex[:8]}", env={})
    return DualCache(InMemoryCache(max_size_in_memory=10_000), l2)


FACTORIES = {"dual": _dual}
