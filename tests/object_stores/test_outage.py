"""A store that stops answering mid-run: typed errors within the timeout, and the LLM layer
answers from upstream instead of failing.

Each test gets its own server process, so freezing or stopping it touches no other test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm.errors import BackendTimeout, BackendUnavailable
from aiocache_llm.storage._object_store import ObjectStoreCache
from tests.harness.azure import start_azure
from tests.harness.gcs import start_gcs
from tests.harness.s3 import start_s3
from tests.timing import eventually

TIMEOUT = 0.5


async def stored(cache: ObjectStoreCache[Any]) -> None:
    """Store ``k`` before the outage. On a busy machine the first request (which also opens the
    client) can outlast the short timeout; that is not the outage under test, so try again."""

    async def attempt() -> bool:
        try:
            await cache.async_set_cache("k", "v")
        except BackendTimeout:
            return False
        return True

    await eventually(attempt, what="storing an entry before the outage")


def _s3(directory: Path) -> tuple[Any, Callable[[], ObjectStoreCache[Any]]]:
    from aiocache_llm.storage.s3 import S3Cache

    server = start_s3(directory)
    return server, lambda: S3Cache(**server.cache_params(), s3_path="outage", timeout=TIMEOUT)


def _gcs(directory: Path) -> tuple[Any, Callable[[], ObjectStoreCache[Any]]]:
    from aiocache_llm.storage.gcs import GCSCache

    server = start_gcs(directory)
    return server, lambda: GCSCache(**server.cache_params(), gcs_path="outage", timeout=TIMEOUT)


def _azure(directory: Path) -> tuple[Any, Callable[[], ObjectStoreCache[Any]]]:
    from aiocache_llm.storage.azure_blob import AzureBlobCache

    server = start_azure(directory)
    return server, lambda: AzureBlobCache(
        **server.cache_params(), azure_path="outage", timeout=TIMEOUT
    )


@pytest.fixture(params=["s3", "gcs", "azure-blob"])
def doomed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Any, ObjectStoreCache[Any]]]:
    """A server of this test's own, and a cache on it with a short timeout."""
    start = {"s3": _s3, "gcs": _gcs, "azure-blob": _azure}[request.param]
    server, make_cache = start(tmp_path)
    try:
        yield server, make_cache()
    finally:
        server.stop()


async def test_a_frozen_store_gives_backend_timeout(
    doomed: tuple[Any, ObjectStoreCache[Any]],
) -> None:
    server, cache = doomed
    await stored(cache)
    server.process.pause()
    try:
        with pytest.raises(BackendTimeout):
            await cache.async_get_cache("k")
    finally:
        server.process.resume()
        await cache.async_disconnect()


async def test_a_stopped_store_gives_backend_unavailable(
    doomed: tuple[Any, ObjectStoreCache[Any]],
) -> None:
    server, cache = doomed
    await stored(cache)
    server.stop()
    try:
        with pytest.raises(BackendUnavailable):
            await cache.async_get_cache("k")
        assert (await cache.async_test_connection())["status"] == "unhealthy"
    finally:
        await cache.async_disconnect()


async def test_the_llm_layer_answers_from_upstream_when_the_store_is_down(
    doomed: tuple[Any, ObjectStoreCache[Any]],
) -> None:
    from aiocache_llm.facade import Cache

    server, backend = doomed
    cache = Cache(backend=backend)
    calls: list[dict[str, Any]] = []

    async def upstream(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return {"id": "chatcmpl-1", "object": "chat.completion", "choices": []}

    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    server.process.pause()
    try:
        answer = await cache.handler.call("acompletion", upstream, dict(request))
    finally:
        server.process.resume()
        await backend.async_disconnect()
    assert answer["id"] == "chatcmpl-1"
    assert len(calls) == 1
    assert backend.stats.errors >= 1
