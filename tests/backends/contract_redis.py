"""RedisCache (single node) and RedisClusterCache in the contract suite, a namespace per test."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aiocache_llm.storage.base import BaseCache
from aiocache_llm.storage.redis import RedisCache, RedisClusterCache

_namespaces = itertools.count()


def redis_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    server = request.getfixturevalue("redis_server")
    cache = RedisCache(url=server.url, namespace=f"contract{next(_namespaces)}", env={})
    request.addfinalizer(cache.disconnect)  # the blocking API's client lives on the loop thread
    return cache


def redis_cluster_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    cluster = request.getfixturevalue("redis_cluster")
    cache = RedisClusterCache(
        startup_nodes=cluster.startup_nodes, namespace=f"contract{next(_namespaces)}", env={}
    )
    request.addfinalizer(cache.disconnect)
    return cache


FACTORIES = {"redis": redis_factory, "redis-cluster": redis_cluster_factory}
