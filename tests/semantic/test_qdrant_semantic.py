"""QdrantSemanticCache on qdrant-client's local mode: collections, quantization, expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qdrant_client")

from qdrant_client import models

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.semantic.embedders import FunctionEmbedder, LocalEmbedder
from aiocache_llm.semantic.qdrant import QdrantSemanticCache, quantization_config

from .conftest import chat, query, unique_name

SCOPE = {"namespace": "app", "identity": "u1"}


def make(embedder: Any, **kwargs: Any) -> QdrantSemanticCache:
    kwargs.setdefault("location", ":memory:")
    return QdrantSemanticCache(
        qdrant_collection_name=unique_name("col"), embedder=embedder, **kwargs
    )


@pytest.mark.parametrize("kind", ["binary", "scalar", "product"])
async def test_each_quantization_config_works_end_to_end(
    local_embedder: LocalEmbedder, kind: str
) -> None:
    cache = make(local_embedder, qdrant_quantization_config=kind)
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    hit = await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
    )
    assert hit is not None and hit.value == 1
    assert await cache.async_semantic_lookup(
        "acompletion", query("acompletion", chat("How do I bake sourdough bread?"), SCOPE), SCOPE
    ) is None  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("binary", models.BinaryQuantization(
            binary=models.BinaryQuantizationConfig(always_ram=True))),
        ("scalar", models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=0.99, always_ram=True))),
        ("product", models.ProductQuantization(product=models.ProductQuantizationConfig(
            compression=models.CompressionRatio.X16, always_ram=True))),
    ],
)  # fmt: skip
def test_the_collection_is_created_with_the_quantization_asked_for(
    kind: str, expected: Any
) -> None:
    cache = QdrantSemanticCache(
        qdrant_api_base="http://127.0.0.1:1", qdrant_quantization_config=kind
    )
    config = cache.collection_config(384)
    assert config["quantization_config"] == expected
    assert config["vectors_config"] == models.VectorParams(
        size=384, distance=models.Distance.COSINE
    )


def test_quantized_searches_rescore_with_oversampling() -> None:
    cache = QdrantSemanticCache(
        qdrant_api_base="http://127.0.0.1:1", qdrant_quantization_config="binary", oversampling=3
    )
    assert cache.search_params() == models.SearchParams(
        quantization=models.QuantizationSearchParams(rescore=True, oversampling=3.0)
    )


def test_without_quantization_searches_are_plain() -> None:
    cache = QdrantSemanticCache(qdrant_api_base="http://127.0.0.1:1")
    assert cache.collection_config(8)["quantization_config"] is None
    assert cache.search_params() is None


def test_a_quantization_model_is_passed_through() -> None:
    config = models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8)
    )
    assert quantization_config(config) is config


def test_an_unknown_quantization_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        quantization_config("lossy")


def test_exactly_one_location_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QDRANT_API_BASE", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    with pytest.raises(ConfigurationError):
        QdrantSemanticCache()
    with pytest.raises(ConfigurationError):
        QdrantSemanticCache(qdrant_api_base="http://127.0.0.1:1", location=":memory:")


def test_the_server_url_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_API_BASE", "http://127.0.0.1:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "qk")
    cache = QdrantSemanticCache()
    assert not cache.local
    assert cache.connection.client_kwargs["url"] == "http://127.0.0.1:6333"
    assert cache.connection.client_kwargs["api_key"] == "qk"


async def test_a_new_cache_object_reuses_the_collection_and_its_entries(
    local_embedder: LocalEmbedder, tmp_path: Path
) -> None:
    name = unique_name("col")
    first = QdrantSemanticCache(
        path=str(tmp_path / "q"), qdrant_collection_name=name, embedder=local_embedder
    )
    await first.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await first.async_disconnect()
    second = QdrantSemanticCache(
        path=str(tmp_path / "q"), qdrant_collection_name=name, embedder=local_embedder
    )
    try:
        hit = await second.async_semantic_lookup(
            "acompletion", query("acompletion", chat("France's capital city?"), SCOPE), SCOPE
        )
        assert hit is not None and hit.value == 1
    finally:
        await second.async_disconnect()


async def test_a_collection_of_another_dimension_is_a_clear_error(
    local_embedder: LocalEmbedder, tmp_path: Path
) -> None:
    name = unique_name("col")
    first = QdrantSemanticCache(
        path=str(tmp_path / "q"), qdrant_collection_name=name, embedder=local_embedder
    )
    await first.async_semantic_store(
        "acompletion", query("acompletion", chat("What is the capital of France?"), SCOPE), SCOPE, 1
    )
    await first.async_disconnect()

    async def small(texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]

    other = QdrantSemanticCache(
        path=str(tmp_path / "q"),
        qdrant_collection_name=name,
        embedder=FunctionEmbedder(small, dimension=3),
    )
    try:
        with pytest.raises(ConfigurationError, match="dimension 384"):
            await other.async_semantic_lookup(
                "acompletion", query("acompletion", chat("Hello?"), SCOPE), SCOPE
            )
    finally:
        await other.async_disconnect()


async def test_cleanup_deletes_expired_points(local_embedder: LocalEmbedder) -> None:
    cache = make(local_embedder)
    await cache.async_semantic_store(
        "acompletion",
        query("acompletion", chat("What is the capital of France?"), SCOPE),
        SCOPE,
        1,
        ttl=0.05,
    )
    await cache.async_semantic_store(
        "acompletion", query("acompletion", chat("Who wrote Hamlet?"), SCOPE), SCOPE, 2, ttl=100
    )
    await cache.async_set_cache("short", "v", ttl=0.05)
    await asyncio.sleep(0.1)
    await cache.async_cleanup_expired()
    client = cache._client()
    assert (await client.count(cache.collection_name)).count == 1
    assert (await client.count(cache.kv_collection_name)).count == 0


async def test_writes_clean_up_expired_points_every_interval(
    local_embedder: LocalEmbedder,
) -> None:
    cache = make(local_embedder, cleanup_interval=0.0)
    await cache.async_set_cache("short", "v", ttl=0.05)
    await asyncio.sleep(0.1)
    await cache.async_set_cache("other", "v")
    assert (await cache._client().count(cache.kv_collection_name)).count == 1
