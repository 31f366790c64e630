"""The ``store`` fixture: each object-store backend against its emulator, with its own prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aiocache_llm.storage._object_store import ObjectStoreCache

StoreFactory = Callable[..., ObjectStoreCache[Any]]


def _s3(request: pytest.FixtureRequest) -> StoreFactory:
    from aiocache_llm.storage.s3 import S3Cache

    params = request.getfixturevalue("s3_server").cache_params()
    return lambda prefix, **kw: S3Cache(**params, s3_path=prefix, **kw)


def _gcs(request: pytest.FixtureRequest) -> StoreFactory:
    from aiocache_llm.storage.gcs import GCSCache

    params = request.getfixturevalue("gcs_server").cache_params()
    return lambda prefix, **kw: GCSCache(**params, gcs_path=prefix, **kw)


def _azure(request: pytest.FixtureRequest) -> StoreFactory:
    from aiocache_llm.storage.azure_blob import AzureBlobCache

    params = request.getfixturevalue("azure_server").cache_params()
    return lambda prefix, **kw: AzureBlobCache(**params, azure_path=prefix, **kw)


FAMILIES = {"s3": _s3, "gcs": _gcs, "azure-blob": _azure}


#: The per-request timeout of the stores these tests use: a hang catcher, far above what an
#: emulator needs even on a busy machine (timeouts themselves are tested in test_outage.py).
STORE_TIMEOUT = 30


@pytest.fixture(params=sorted(FAMILIES))
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Build a cache of this family: ``make_store(prefix, **options)``."""
    return FAMILIES[request.param](request)


@pytest.fixture
def prefix() -> str:
    return f"tests/{uuid.uuid4().hex}"


@pytest.fixture
async def store(make_store: StoreFactory, prefix: str) -> AsyncIterator[ObjectStoreCache[Any]]:
    cache = make_store(prefix, timeout=STORE_TIMEOUT)
    try:
        yield cache
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def object_names(cache: ObjectStoreCache[Any]) -> list[str]:
    """Names of the objects under the cache's prefix, read from the store itself."""
    client = await cache.store._client()
    pages = cache.store._list_names(client, cache.prefix)
    return sorted([name async for page in pages for name in page])
