"""GCP IAM authentication on a real Redis Cluster: every node requires the current token (ACL
users set on each node), tokens come from the IAM Credentials stand-in, and open connections
re-authenticate with the next token before the current one expires."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from aiocache_llm.storage.redis import RedisClusterCache
from tests.harness.redis_cluster import RedisClusterServers, start_redis_cluster
from tests.redis.test_gcp_iam import ADMIN, IAMStandIn, iam, provider_for

__all__ = ["iam"]  # the IAM Credentials stand-in fixture, shared with tests/redis

KEYS = [f"k{i}" for i in range(60)]


def _admin(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, username=ADMIN[0], password=ADMIN[1])


def _set_tokens(cluster: RedisClusterServers, *rules: str) -> None:
    """Apply ACL password ``rules`` (``">token"``, ``"<token"``) to ``default`` on every node."""
    for node in cluster.nodes:
        with _admin(node.port) as client:
            client.execute_command("ACL", "SETUSER", "default", *rules)


def _auth_stats(cluster: RedisClusterServers) -> list[tuple[int, int]]:
    """``(AUTH calls, failed AUTH calls)`` per node."""
    out = []
    for node in cluster.nodes:
        with _admin(node.port) as client:
            stats = client.info("commandstats").get("cmdstat_auth", {})
        out.append((int(stats.get("calls", 0)), int(stats.get("failed_calls", 0))))
    return out


@pytest.fixture(scope="module")
def iam_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A three-master cluster whose ``default`` user needs an IAM token on every node."""
    cluster = start_redis_cluster(tmp_path_factory.mktemp("iam-cluster"))
    try:
        for node in cluster.nodes:
            with redis.Redis(host=node.host, port=node.port) as client:
                client.acl_setuser(
                    ADMIN[0],
                    enabled=True,
                    passwords=[f"+{ADMIN[1]}"],
                    keys=["*"],
                    channels=["*"],
                    commands=["+@all"],
                )
                client.execute_command("ACL", "SETUSER", "default", "resetpass", ">token-1")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def iam_cluster_cache(
    iam: IAMStandIn, iam_cluster: RedisClusterServers, tmp_path: Path
) -> AsyncIterator[RedisClusterCache]:
    iam.token, iam.lifetime = "token-1", 3600
    _set_tokens(iam_cluster, "resetpass", ">token-1")
    provider = provider_for(iam, lifetime=3, refresh_margin=2)
    nodes = iam_cluster.startup_nodes
    async with RedisClusterCache(
        startup_nodes=nodes, credential_provider=provider, namespace="iam", env={}
    ) as cache:
        assert isinstance(cache, RedisClusterCache)
        yield cache


async def _until(condition: object, bound: float = 15.0) -> None:
    deadline = time.monotonic() + bound
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not hold within the bound"
        await asyncio.sleep(0.1)


async def test_every_node_serves_a_cache_authenticated_with_the_token(
    iam_cluster_cache: RedisClusterCache, iam_cluster: RedisClusterServers
) -> None:
    await iam_cluster_cache.async_set_cache_pipeline([(key, key) for key in KEYS])
    assert await iam_cluster_cache.async_batch_get_cache(KEYS) == KEYS
    for node in iam_cluster.nodes:
        with _admin(node.port) as client:
            users = {entry["user"] for entry in client.client_list()}
        assert "default" in users  # this node holds connections of the cache


async def test_open_connections_re_authenticate_with_the_next_token_before_expiry(
    iam: IAMStandIn, iam_cluster_cache: RedisClusterCache, iam_cluster: RedisClusterServers
) -> None:
    iam.lifetime = 3  # a token lives 3 s and the next one is fetched 2 s before that
    await iam_cluster_cache.async_set_cache_pipeline([(key, key) for key in KEYS])
    provider = iam_cluster_cache.credential_provider
    _set_tokens(iam_cluster, ">token-2")  # both accepted while the token rotates
    iam.token = "token-2"
    fetched = provider.fetches
    await _until(lambda: provider.fetches >= fetched + 2)  # one refresh surely got token-2
    _set_tokens(iam_cluster, "<token-1")  # from now on only the new token authenticates
    before = _auth_stats(iam_cluster)

    def every_node_re_authenticated() -> bool:
        return all(
            now[0] > then[0] for now, then in zip(_auth_stats(iam_cluster), before, strict=True)
        )

    await _until(every_node_re_authenticated)
    after = _auth_stats(iam_cluster)
    assert [failed for _, failed in after] == [failed for _, failed in before]
    assert await iam_cluster_cache.async_batch_get_cache(KEYS) == KEYS
