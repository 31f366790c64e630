"""RedisSemanticCache: a :class:`SemanticCache` whose store is a ``RedisCache`` and whose index
is a :class:`RedisVectorIndex` on the same server and connection.

* Exact-key operations are the :class:`~aiocache_llm.storage.redis.RedisCache`'s (same
  connection settings: ``host``, ``port``, ``password``, ``url``, ``REDIS_*`` variables, ...);
  its other operations (``async_publish``, versioned writes, ...) are reachable on this cache
  too, so a :class:`~aiocache_llm.semantic.dual.DualSemanticCache` in front of it is coherent.
* Semantic entries are hashes under ``<namespace>:sem:<index name>:`` (see
  :mod:`aiocache_llm.semantic.redis_index`).
* ``namespace`` defaults to the index name, so ``async_flush_cache`` removes this cache's exact
  and semantic entries and nothing else.
"""

from __future__ import annotations

from typing import Any

from ..storage.redis import RedisCache, namespace_prefix
from .cache import DEFAULT_SIMILARITY_THRESHOLD, DEFAULT_VERIFY_BELOW, SemanticCache, Verifier
from .embedders import Embedder
from .guard import PrecisionGuard
from .redis_index import RedisVectorIndex, check_index_name

__all__ = ["DEFAULT_INDEX_NAME", "RedisSemanticCache"]

DEFAULT_INDEX_NAME = "aiocache_llm_semantic"


class RedisSemanticCache(SemanticCache):
    """A semantic cache in Redis with vector search.

    ``similarity_threshold`` (cosine, in [0, 1]), ``embedder`` (an
    :class:`~aiocache_llm.semantic.embedders.Embedder`) or
    ``redis_semantic_cache_embedding_model`` (a
    model name for an OpenAI-compatible endpoint, or ``"local"``),
    ``redis_semantic_cache_index_name``, ``precision_guard`` (``False`` turns it off),
    ``query_extractor``, ``verifier`` / ``verify_below``, ``hnsw_m`` /
    ``hnsw_ef_construction``, and every :class:`~aiocache_llm.storage.redis.RedisCache`
    parameter.
    """

    backend_name = "redis-semantic"
    index: RedisVectorIndex

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        password: str | None = None,
        *,
        similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        embedder: Embedder | None = None,
        redis_semantic_cache_embedding_model: str | None = None,
        redis_semantic_cache_index_name: str | None = None,
        precision_guard: PrecisionGuard | bool | None = True,
        query_extractor: Any = None,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
        namespace: str | None = None,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        **redis_params: Any,
    ) -> None:
        index_name = redis_semantic_cache_index_name or DEFAULT_INDEX_NAME
        namespace = namespace or index_name
        check_index_name(index_name)
        store = RedisCache(host, port, password, namespace=namespace, **redis_params)
        index = RedisVectorIndex(
            store,
            index_name,
            f"{namespace_prefix(store.namespace)}sem:{index_name}:",
            hnsw_m=hnsw_m,
            hnsw_ef_construction=hnsw_ef_construction,
        )
        super().__init__(
            store,
            index,
            embedder or redis_semantic_cache_embedding_model,
            precision_guard,
            similarity_threshold=similarity_threshold,
            query_extractor=query_extractor,
            verifier=verifier,
            verify_below=verify_below,
        )

    @property
    def index_name(self) -> str:
        """The name of the Redis search index."""
        return self.index.name

    @property
    def entry_prefix(self) -> str:
        """The key prefix of the semantic entries' hashes."""
        return self.index.prefix

    def _parts(self) -> str:
        return f"index_name={self.index_name!r}"
