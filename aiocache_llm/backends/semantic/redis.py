"""RedisSemanticCache: a semantic cache on Redis with the search module (RediSearch / Redis 8).

* Exact-key operations are :class:`~aiocache_llm.backends.redis.RedisCache`'s (same connection
  settings: ``host``, ``port``, ``password``, ``url``, ``REDIS_*`` variables, ...).
* Semantic entries are hashes under ``<namespace>:sem:<index name>:`` holding the vector
  (float32), the scope tags (``ctx``, ``ns``, ``uid``), the question text, the exact key and the
  value (through :mod:`aiocache_llm.codec`). They expire with their TTL (``PEXPIRE``).
* The vector index (HNSW, cosine, float32, dimension from the embedder, TAG fields for the
  scope) is created on first use if missing and validated if present: an index of another
  dimension or kind raises :class:`~aiocache_llm.errors.ConfigurationError`.
* ``namespace`` defaults to the index name, so ``async_flush_cache`` removes this cache's exact
  and semantic entries and nothing else.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping
from typing import Any

from ...codec import decode, encode
from ...embeddings import Embedder, embedder_dimension
from ...errors import BackendError, ConfigurationError, CorruptEntryError
from ...semantic_guard import PrecisionGuard
from ..redis import RedisCache
from .base import (
    DEFAULT_SIMILARITY_THRESHOLD,
    DEFAULT_VERIFY_BELOW,
    Candidate,
    QueryExtractor,
    Scope,
    SemanticCache,
    Verifier,
    similarity_from_cosine_distance,
)

__all__ = ["RedisSemanticCache"]

DEFAULT_INDEX_NAME = "aiocache_llm_semantic"
_FIELDS = ("dist", "q", "key", "val")


def _text(data: Any) -> str:
    return data.decode() if isinstance(data, (bytes, bytearray)) else str(data)


def _pairs(items: Any) -> dict[str, Any]:
    """A RESP2 flat ``[k, v, k, v]`` list or a RESP3 map, as a dict with str keys."""
    if items is None:  # a document that expired while the query ran
        return {}
    if isinstance(items, Mapping):
        return {_text(k): v for k, v in items.items()}
    return {_text(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _search_rows(reply: Any) -> list[dict[str, Any]]:
    """The documents of an ``FT.SEARCH`` reply (RESP2 or RESP3) as field dicts."""
    if isinstance(reply, Mapping):
        out = []
        for row in _pairs(reply).get("results", []):
            row = _pairs(row)
            out.append(_pairs(row.get("extra_attributes", {})))
        return out
    return [_pairs(reply[i]) for i in range(2, len(reply), 2)]


def _index_prefixes(info: Any) -> list[str]:
    definition = _pairs(_pairs(info).get("index_definition", []))
    return [_text(p) for p in definition.get("prefixes", [])]


def _vector_dimension(info: Any) -> tuple[str, int | None]:
    """(type, dim) of the ``vec`` attribute of an ``FT.INFO`` reply."""
    for attribute in _pairs(info).get("attributes", []):
        fields = _pairs(attribute)
        lowered = {k.lower(): v for k, v in fields.items()}
        if _text(lowered.get("identifier", b"")) == "vec":
            dim = lowered.get("dim")
            return _text(lowered.get("type", b"")).upper(), None if dim is None else int(dim)
    return "", None


class RedisSemanticCache(SemanticCache, RedisCache):
    """A semantic cache in Redis with vector search.

    ``similarity_threshold`` (cosine, in [0, 1]), ``embedder`` (an
    :class:`~aiocache_llm.embeddings.Embedder`) or ``redis_semantic_cache_embedding_model`` (a
    model name for an OpenAI-compatible endpoint, or ``"local"``),
    ``redis_semantic_cache_index_name``, ``precision_guard`` (``False`` turns it off),
    ``query_extractor``, and every :class:`~aiocache_llm.backends.redis.RedisCache` parameter.
    """

    backend_name = "redis-semantic"

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
        query_extractor: QueryExtractor | None = None,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
        namespace: str | None = None,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
        **redis_params: Any,
    ) -> None:
        index_name = redis_semantic_cache_index_name or DEFAULT_INDEX_NAME
        if not index_name.replace("_", "").replace("-", "").isalnum():
            raise ConfigurationError("the index name may hold letters, digits, '_' and '-' only")
        super().__init__(host, port, password, namespace=namespace or index_name, **redis_params)
        self._init_semantic(
            embedder=embedder or redis_semantic_cache_embedding_model,
            similarity_threshold=similarity_threshold,
            precision_guard=precision_guard,
            query_extractor=query_extractor,
            verifier=verifier,
            verify_below=verify_below,
        )
        self.index_name = index_name
        self.entry_prefix = f"{self._prefix}sem:{index_name}:"
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self._dimension: int | None = None
        self._index_ready = False
        self._index_lock = threading.Lock()

    # -- the index ------------------------------------------------------------------------
    async def _ensure_index(self) -> int:
        """Create the index if missing, validate it if present; return its dimension."""
        if self._index_ready and self._dimension is not None:
            return self._dimension
        dimension = await embedder_dimension(self.embedder)
        try:
            info = await self._call("FT.INFO", self.index_name)
        except BackendError as exc:
            if "unknown index" not in str(exc.__cause__ or exc).lower():
                raise
            info = None
        if info is None:
            try:
                await self._call(*self._create_command(dimension))
            except BackendError as exc:
                if "already exists" not in str(exc.__cause__ or exc).lower():
                    raise
                info = await self._call("FT.INFO", self.index_name)  # created meanwhile
        if info is not None:
            kind, existing = _vector_dimension(info)
            if kind != "VECTOR" or existing != dimension:
                raise ConfigurationError(
                    f"the Redis index {self.index_name!r} holds {kind or 'no'} vectors of"
                    f" dimension {existing}, but the embedder {self.embedder.name!r} makes"
                    f" {dimension}; use another redis_semantic_cache_index_name"
                )
            if self.entry_prefix not in _index_prefixes(info):
                raise ConfigurationError(
                    f"the Redis index {self.index_name!r} indexes keys under"
                    f" {_index_prefixes(info)}, not this cache's {self.entry_prefix!r}: use"
                    " another redis_semantic_cache_index_name or the namespace it was made with"
                )
        self._dimension = dimension
        self._index_ready = True
        return dimension

    def _create_command(self, dimension: int) -> tuple[Any, ...]:
        return (
            "FT.CREATE", self.index_name, "ON", "HASH", "PREFIX", 1, self.entry_prefix,
            "SCHEMA", "ctx", "TAG", "ns", "TAG", "uid", "TAG",
            "vec", "VECTOR", "HNSW", 10, "TYPE", "FLOAT32", "DIM", dimension,
            "DISTANCE_METRIC", "COSINE", "M", self.hnsw_m,
            "EF_CONSTRUCTION", self.hnsw_ef_construction,
        )  # fmt: skip

    async def async_drop_index(self) -> None:
        """Drop the vector index (the entries stay until flushed or expired)."""
        try:
            await self._call("FT.DROPINDEX", self.index_name)
        except BackendError as exc:
            if "unknown index" not in str(exc.__cause__ or exc).lower():
                raise
        self._index_ready = False

    # -- storage --------------------------------------------------------------------------
    @staticmethod
    def _pack(vector: list[float]) -> bytes:
        return struct.pack(f"<{len(vector)}f", *vector)

    async def _search(self, vector: list[float], scope: Scope, limit: int) -> list[Candidate]:
        dimension = await self._ensure_index()
        if len(vector) != dimension:
            raise ConfigurationError(
                f"a vector of {len(vector)} dimensions for an index of {dimension}"
            )
        query = (
            f"(@ctx:{{{scope.context}}} @ns:{{{scope.namespace}}} @uid:{{{scope.identity}}})"
            f"=>[KNN {limit} @vec $vec AS dist]"
        )
        command = (
            "FT.SEARCH", self.index_name, query, "PARAMS", 2, "vec", self._pack(vector),
            "SORTBY", "dist", "RETURN", len(_FIELDS), *_FIELDS,
            "LIMIT", 0, limit, "DIALECT", 2,
        )  # fmt: skip
        try:
            reply = await self._call(*command)
        except BackendError as exc:
            if "index" not in str(exc.__cause__ or exc).lower():
                raise
            self._index_ready = False  # dropped behind our back (FLUSHALL, a restart): recreate
            await self._ensure_index()
            reply = await self._call(*command)
        out: list[Candidate] = []
        for row in _search_rows(reply):
            if any(field not in row for field in _FIELDS):
                continue  # expired while the query ran
            try:
                entry = decode(row["val"])
            except CorruptEntryError:
                self.stats.corrupt_reads += 1
                continue
            if entry.expired():
                continue
            out.append(
                Candidate(
                    similarity=similarity_from_cosine_distance(float(_text(row["dist"]))),
                    key=_text(row["key"]),
                    question=_text(row["q"]),
                    value=entry.value,
                )
            )
        return out

    async def _upsert(
        self,
        entry_id: str,
        vector: list[float],
        scope: Scope,
        *,
        question: str,
        key: str,
        value: Any,
        seconds: float | None,
        now: float,
    ) -> None:
        await self._ensure_index()
        blob = encode(value, created_at=now, expires_at=None if seconds is None else now + seconds)
        name = self.entry_prefix + entry_id
        fields: list[Any] = []
        for field, data in (
            ("vec", self._pack(vector)),
            *scope.as_dict().items(),
            ("q", question),
            ("key", key),
            ("val", blob),
        ):
            fields += [field, data]
        expiry: tuple[Any, ...] = (
            ("PERSIST", name)
            if seconds is None
            else ("PEXPIRE", name, max(1, round(seconds * 1000)))
        )
        await self._call_many([("HSET", name, *fields), expiry])

    async def async_delete_cache(self, key: str) -> None:
        """Delete ``key`` and the semantic entry of the answer stored under it."""
        await super().async_delete_cache(key)
        await self.async_semantic_delete(key)

    async def async_semantic_delete(self, key: str) -> None:
        """Delete the semantic entry of the answer stored under ``key`` (if any)."""
        await self._call("DEL", self.entry_prefix + self.entry_id(key))

    def __repr__(self) -> str:
        return (
            f"RedisSemanticCache(index_name={self.index_name!r},"
            f" similarity_threshold={self.similarity_threshold},"
            f" embedder={self.embedder.name!r})"
        )
