"""QdrantSemanticCache: a :class:`SemanticCache` whose index is a Qdrant collection.

* ``qdrant_api_base`` (a server URL) and ``qdrant_api_key``, or qdrant-client's local mode
  (``location=":memory:"`` or ``path=...``) for tests and single-process use.
* The index is :class:`~aiocache_llm.semantic.qdrant_index.QdrantVectorIndex` on
  ``qdrant_collection_name`` (quantization with ``qdrant_quantization_config``).
* The exact-key store is ``store`` when given (any backend: a ``RedisCache``, a ``DiskCache``,
  ..., or its configuration: ``{"type": "redis", "host": ...}``); otherwise
  the :mod:`~aiocache_llm.semantic.qdrant_store` points of a second, vector-less
  collection ``<name>_kv``, whose increments are atomic within one event loop of one process
  only (Qdrant has no atomic update).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..storage._registry import STORE_TYPES, type_class
from ..storage.base import BaseCache, check_number
from .cache import DEFAULT_SIMILARITY_THRESHOLD, DEFAULT_VERIFY_BELOW, SemanticCache, Verifier
from .embedders import Embedder
from .guard import PrecisionGuard
from .qdrant_connection import QdrantConnection, models
from .qdrant_index import QdrantVectorIndex, Quantization, quantization_config
from .qdrant_store import QdrantKeys

__all__ = ["DEFAULT_COLLECTION_NAME", "QdrantSemanticCache", "build_store", "quantization_config"]

DEFAULT_COLLECTION_NAME = "aiocache_llm_semantic"


def _client_kwargs(
    api_base: str | None, api_key: str | None, location: str | None, path: str | None, timeout: int
) -> dict[str, Any]:
    if location is None and path is None:
        api_base = api_base or os.environ.get("QDRANT_API_BASE") or os.environ.get("QDRANT_URL")
        api_key = api_key or os.environ.get("QDRANT_API_KEY")
    if sum(x is not None for x in (api_base, location, path)) != 1:
        raise ConfigurationError(
            "give exactly one of qdrant_api_base (or QDRANT_API_BASE), location or path"
        )
    if api_base is not None:
        return {"url": api_base, "api_key": api_key, "timeout": timeout}
    return {"location": location} if location is not None else {"path": path}


def build_store(config: Mapping[str, Any]) -> BaseCache:
    """An exact-key store from ``{"type": <cache type>, **its parameters}`` (any type but a
    semantic one), so a configuration file can name it."""
    params = dict(config)
    type_ = params.pop("type", None)
    if not isinstance(type_, str):
        raise ConfigurationError(f"store needs a 'type', one of {sorted(STORE_TYPES)}")
    return type_class(STORE_TYPES, type_)(**params)


class QdrantSemanticCache(SemanticCache):
    """A semantic cache in Qdrant.

    Parameters: ``qdrant_api_base`` and ``qdrant_api_key`` (default: the ``QDRANT_API_BASE``
    or ``QDRANT_URL`` and ``QDRANT_API_KEY`` environment variables), ``qdrant_collection_name``,
    ``qdrant_quantization_config``, ``similarity_threshold``, ``embedder`` or
    ``qdrant_semantic_cache_embedding_model``, ``precision_guard`` (``False`` turns it off),
    ``query_extractor``, ``verifier`` / ``verify_below``, ``default_ttl``; ``location`` /
    ``path`` for local mode; ``oversampling`` for quantized searches; ``timeout`` in seconds;
    ``cleanup_interval``: how often writes delete expired points; ``store``: the exact-key
    cache, or ``{"type": "redis", **its parameters}`` (default: points of ``<collection>_kv``).
    """

    backend_name = "qdrant-semantic"
    index: QdrantVectorIndex

    def __init__(
        self,
        qdrant_api_base: str | None = None,
        qdrant_api_key: str | None = None,
        qdrant_collection_name: str | None = None,
        qdrant_quantization_config: str | Quantization | None = None,
        similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        *,
        embedder: Embedder | None = None,
        qdrant_semantic_cache_embedding_model: str | None = None,
        precision_guard: PrecisionGuard | bool | None = True,
        query_extractor: Any = None,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
        default_ttl: float | None = None,
        location: str | None = None,
        path: str | None = None,
        oversampling: float = 2.0,
        timeout: int = 10,
        cleanup_interval: float = 60.0,
        store: BaseCache | Mapping[str, Any] | None = None,
    ) -> None:
        kwargs = _client_kwargs(qdrant_api_base, qdrant_api_key, location, path, timeout)
        connection = QdrantConnection(kwargs)
        name = qdrant_collection_name or DEFAULT_COLLECTION_NAME
        index = QdrantVectorIndex(
            connection,
            name,
            quantization=qdrant_quantization_config,
            oversampling=float(check_number(oversampling, "oversampling")),
            cleanup_interval=cleanup_interval,
        )
        if store is None:
            store = QdrantKeys(
                connection, f"{name}_kv", default_ttl=default_ttl, cleanup_interval=cleanup_interval
            )
        elif isinstance(store, Mapping):
            store = build_store(store)
        super().__init__(
            store,
            index,
            embedder or qdrant_semantic_cache_embedding_model,
            precision_guard,
            similarity_threshold=similarity_threshold,
            query_extractor=query_extractor,
            verifier=verifier,
            verify_below=verify_below,
        )
        if default_ttl is not None:
            self.default_ttl = default_ttl
        self.connection = connection

    # -- the index's settings, where they were before ------------------------------------
    @property
    def collection_name(self) -> str:
        return self.index.collection_name

    @property
    def kv_collection_name(self) -> str | None:
        """The collection of exact keys, when the store is the Qdrant point store."""
        store = self.store
        return store.collection_name if isinstance(store, QdrantKeys) else None

    @property
    def local(self) -> bool:
        return self.connection.local

    @property
    def quantization_config(self) -> Quantization | None:
        return self.index.quantization_config

    def collection_config(self, dimension: int) -> dict[str, Any]:
        """The ``create_collection`` arguments of the vector collection."""
        return self.index.collection_config(dimension)

    def search_params(self) -> models.SearchParams | None:
        """Search parameters: rescoring with oversampling when the vectors are quantized."""
        return self.index.search_params()

    def _client(self) -> Any:
        return self.connection.client()

    async def async_cleanup_expired(self) -> None:
        """Delete the expired points of the index (and of the point store, if it is one)."""
        await self.index.cleanup_expired()
        if isinstance(self.store, QdrantKeys):
            await self.store.cleanup_expired()

    async def aclose(self) -> None:
        """Close every client, including a local-mode one (its in-memory data is lost)."""
        await self.connection.aclose()

    def _parts(self) -> str:
        return f"collection_name={self.collection_name!r}"
