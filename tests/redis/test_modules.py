"""The Redis backends' package: the names users import, from where they import them."""

from __future__ import annotations

import subprocess
import sys


def test_the_former_module_names_give_the_same_classes() -> None:
    from aiocache_llm.storage import redis
    from aiocache_llm.storage.redis.cluster import RedisClusterCache as FormerCluster
    from aiocache_llm.storage.redis.gcp_iam import GCPIAMCredentialProvider
    from aiocache_llm.storage.redis.gcp_iam import GCPIAMCredentialProvider as FormerProvider

    assert FormerCluster is redis.RedisClusterCache
    assert FormerProvider is GCPIAMCredentialProvider


def test_the_backends_are_reachable_from_the_backends_package() -> None:
    import aiocache_llm.storage as backends
    from aiocache_llm.storage.redis import RedisCache, RedisClusterCache

    assert backends.RedisCache is RedisCache
    assert backends.RedisClusterCache is RedisClusterCache


def test_redis_settings_are_read_without_redis_py_installed() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from aiocache_llm.storage.redis.settings import wants_cluster\n"
        "print(wants_cluster({'startup_nodes': ['127.0.0.1:7000']}, {}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "True"
