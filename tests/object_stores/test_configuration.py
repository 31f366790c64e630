"""How each object store is configured and connected, and what it writes besides the value."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import pytest

from aiocache_llm.errors import ConfigurationError, MissingDependencyError
from aiocache_llm.facade import Cache
from aiocache_llm.storage._object_store import ObjectStoreCache
from aiocache_llm.storage.azure_blob import AzureBlobCache
from aiocache_llm.storage.gcs import GCSCache
from aiocache_llm.storage.s3 import S3Cache
from tests.harness.azure import ACCOUNT, ACCOUNT_KEY, AzureServer
from tests.harness.gcs import GCSServer
from tests.harness.s3 import S3Server

from .conftest import object_names


async def test_s3_object_names_turn_colons_into_folders(s3_server: S3Server) -> None:
    cache = S3Cache(**s3_server.cache_params(), s3_path="/colons/")
    try:
        await cache.async_set_cache("litellm:chat:abc", 1)
        assert await object_names(cache) == ["colons/litellm/chat/abc"]
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_s3_writes_the_expiry_as_the_objects_expires_header(s3_server: S3Server) -> None:
    cache = S3Cache(**s3_server.cache_params(), s3_path=f"meta/{uuid.uuid4().hex}")
    try:
        await cache.async_set_cache("k", 1, ttl=3600)
        entry = await cache.async_get_entry("k")
        client = await cache.store._client()
        head = await client.head_object(Bucket=cache.store.bucket, Key=cache.object_name("k"))
        assert entry is not None and entry.expires_at is not None
        assert abs(head["Expires"].timestamp() - entry.expires_at) < 1
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_azure_writes_the_expiry_as_blob_metadata(azure_server: AzureServer) -> None:
    cache = AzureBlobCache(**azure_server.cache_params(), azure_path=f"meta/{uuid.uuid4().hex}")
    try:
        await cache.async_set_cache("k", 1, ttl=3600)
        await cache.async_set_cache("forever", 1, ttl=None)
        client = await cache.store._client()
        blob = client.container.get_blob_client(cache.object_name("k"))
        forever = client.container.get_blob_client(cache.object_name("forever"))
        assert "expires_at" in (await blob.get_blob_properties()).metadata
        assert "expires_at" not in (await forever.get_blob_properties()).metadata
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_gcs_finds_the_emulator_through_storage_emulator_host(
    gcs_server: GCSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.api_root)
    bucket = gcs_server.cache_params()["gcs_bucket_name"]
    cache = GCSCache(bucket, gcs_path=f"env/{uuid.uuid4().hex}")
    try:
        await cache.async_set_cache("k", "v")
        assert await cache.async_get_cache("k") == "v"
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_azure_creates_its_container_when_missing(azure_server: AzureServer) -> None:
    params = {**azure_server.cache_params(), "azure_blob_container": f"new-{uuid.uuid4().hex}"}
    cache = AzureBlobCache(**params, azure_path="p")
    try:
        await cache.async_set_cache("k", "v")
        assert await cache.async_get_cache("k") == "v"
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_azure_connects_with_an_account_url_and_a_credential(
    azure_server: AzureServer,
) -> None:
    from azure.core.credentials import AzureNamedKeyCredential

    cache = AzureBlobCache(
        azure_server.blob_endpoint,
        azure_server.cache_params()["azure_blob_container"],
        azure_credential=AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY),
        azure_path=f"url/{uuid.uuid4().hex}",
    )
    try:
        await cache.async_set_cache("k", "v")
        assert await cache.async_get_cache("k") == "v"
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_blocking_calls_from_many_threads_share_one_client(
    s3_server: S3Server,
) -> None:
    cache: ObjectStoreCache[Any] = S3Cache(
        **s3_server.cache_params(), s3_path=f"threads/{uuid.uuid4().hex}"
    )

    def work(i: int) -> Any:
        cache.set_cache(f"k{i}", i)
        return cache.get_cache(f"k{i}")

    try:
        assert await asyncio.gather(*(asyncio.to_thread(work, i) for i in range(8))) == list(
            range(8)
        )
        assert len([s for s in cache.store._loops.values() if s.client is not None]) == 1
    finally:
        await asyncio.to_thread(cache.flush_cache)
        await asyncio.to_thread(cache.disconnect)


@pytest.mark.parametrize(
    "build",
    [
        lambda: S3Cache(""),
        lambda: S3Cache("bucket", timeout=0),
        lambda: GCSCache("bucket", max_concurrency=0),
        lambda: AzureBlobCache(),
    ],
    ids=["s3-no-bucket", "zero-timeout", "no-concurrency", "azure-no-account"],
)
def test_settings_that_cannot_work_are_a_configuration_error(build: Any) -> None:
    with pytest.raises(ConfigurationError):
        build()


async def test_the_cache_facade_builds_each_store_from_its_type_name(
    s3_server: S3Server, gcs_server: GCSServer, azure_server: AzureServer
) -> None:
    from aiocache_llm.facade import Cache

    built = {
        "s3": Cache(type="s3", **s3_server.cache_params(), s3_path="facade", ttl=60),
        "gcs": Cache(type="gcs", **gcs_server.cache_params(), gcs_path="facade", ttl=60),
        "azure-blob": Cache(
            type="azure-blob", **azure_server.cache_params(), azure_path="facade", ttl=60
        ),
    }
    for type_name, cache in built.items():
        assert cache.backend.backend_name == type_name
        assert cache.backend.default_ttl == 60
        assert await cache.backend.async_ping() is True
        await cache.backend.async_disconnect()


def test_a_missing_s3_client_names_aiobotocore_and_the_s3_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "aiocache_llm.storage.s3")
    for name in [m for m in sys.modules if m == "aiobotocore" or m.startswith("aiobotocore.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r"aiobotocore .*aiocache-llm\[s3\]") as info:
        Cache(type="s3", s3_bucket_name="bucket")
    assert info.value.missing == "aiobotocore"
