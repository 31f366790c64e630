"""A semantic cache on a Redis without the search module says so in ``test_connection()``."""

from __future__ import annotations

from pathlib import Path

from aiocache_llm import Cache
from tests.harness.redis import redis_running


async def test_a_redis_without_search_is_reported_unhealthy_with_the_reason(
    tmp_path: Path,
) -> None:
    with redis_running(tmp_path, search=False) as server:
        cache = Cache(type="redis-semantic", host=server.host, port=server.port, namespace="s")
        try:
            report = await cache.async_test_connection()
        finally:
            await cache.async_disconnect()
    assert report["status"] == "unhealthy"
    assert "search module" in report["error"]
