"""RedisVectorIndex: a vector index in Redis with the search module (RediSearch / Redis 8).

Entries are hashes under ``prefix`` holding the vector (float32), the scope tags (``ctx``,
``ns``, ``uid``), the question text (``q``), the exact key (``key``) and the encoded answer
(``val``). They expire with their TTL (``PEXPIRE``). The index (HNSW, cosine, float32, TAG
fields for the scope) is created on first use, of the first vector's dimension, if missing,
and validated if present: an index of another dimension, kind or key prefix raises
:class:`~aiocache_llm.errors.ConfigurationError`. Commands go through a
:class:`~aiocache_llm.storage.redis.RedisCache`'s connection (its settings, error mapping
and auto-pipeline), usually the semantic cache's own store.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from typing import Any

from ..errors import BackendError, ConfigurationError
from ..storage.redis import RedisCache
from .index import Match, Record, Scope, similarity_from_cosine_distance

__all__ = ["RedisVectorIndex", "check_index_name", "search_rows"]

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


def search_rows(reply: Any) -> list[dict[str, Any]]:
    """The documents of an ``FT.SEARCH`` reply (RESP2 or RESP3) as field dicts."""
    if isinstance(reply, Mapping):
        return [
            _pairs(_pairs(row).get("extra_attributes", {}))
            for row in _pairs(reply).get("results", [])
        ]
    return [_pairs(reply[i]) for i in range(2, len(reply), 2)]


def search_ids(reply: Any) -> list[str]:
    """The document names of an ``FT.SEARCH`` reply (RESP2 or RESP3), in order."""
    if isinstance(reply, Mapping):
        return [_text(_pairs(row).get("id", b"")) for row in _pairs(reply).get("results", [])]
    return [_text(reply[i]) for i in range(1, len(reply), 2)]


def _index_prefixes(info: Any) -> list[str]:
    definition = _pairs(_pairs(info).get("index_definition", []))
    return [_text(p) for p in definition.get("prefixes", [])]


def _vector_dimension(info: Any) -> tuple[str, int | None]:
    """(type, dim) of the ``vec`` attribute of an ``FT.INFO`` reply."""
    for attribute in _pairs(info).get("attributes", []):
        lowered = {k.lower(): v for k, v in _pairs(attribute).items()}
        if _text(lowered.get("identifier", b"")) == "vec":
            dim = lowered.get("dim")
            return _text(lowered.get("type", b"")).upper(), None if dim is None else int(dim)
    return "", None


def _missing(exc: BackendError, words: str = "unknown index") -> bool:
    return words in str(exc.__cause__ or exc).lower()


def check_index_name(name: str) -> str:
    """``name`` if it is safe in a query (letters, digits, ``_``, ``-``), else an error."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigurationError("the index name may hold letters, digits, '_' and '-' only")
    return name


def _pack(vector: list[float]) -> bytes:
    return struct.pack(f"<{len(vector)}f", *vector)


class RedisVectorIndex:
    """The index ``name`` over hashes under ``prefix``, through ``redis``'s connection."""

    def __init__(
        self,
        redis: RedisCache,
        name: str,
        prefix: str,
        *,
        hnsw_m: int = 16,
        hnsw_ef_construction: int = 200,
    ) -> None:
        self.redis, self.name, self.prefix = redis, check_index_name(name), prefix
        self.hnsw_m, self.hnsw_ef_construction = hnsw_m, hnsw_ef_construction
        self._dimension: int | None = None

    async def _info(self) -> Any:
        """``FT.INFO`` of the index, or ``None`` if it does not exist."""
        try:
            return await self.redis._call("FT.INFO", self.name)
        except BackendError as exc:
            if not _missing(exc):
                raise
            return None

    def _check(self, info: Any, dimension: int) -> None:
        kind, existing = _vector_dimension(info)
        if kind != "VECTOR" or existing != dimension:
            raise ConfigurationError(
                f"the Redis index {self.name!r} holds {kind or 'no'} vectors of dimension"
                f" {existing}, but the embedder makes {dimension}; use another"
                " redis_semantic_cache_index_name"
            )
        if self.prefix not in _index_prefixes(info):
            raise ConfigurationError(
                f"the Redis index {self.name!r} indexes keys under {_index_prefixes(info)},"
                f" not this cache's {self.prefix!r}: use another"
                " redis_semantic_cache_index_name or the namespace it was made with"
            )

    async def _ensure(self, dimension: int) -> None:
        """Create the index if missing, validate it if present."""
        if self._dimension is not None:
            if dimension != self._dimension:
                raise ConfigurationError(
                    f"a vector of {dimension} dimensions for an index of {self._dimension}"
                )
            return
        info = await self._info()
        if info is None:
            try:
                await self.redis._call(*self._create_command(dimension))
            except BackendError as exc:
                if not _missing(exc, "already exists"):
                    raise
                info = await self._info()  # created meanwhile
        if info is not None:
            self._check(info, dimension)
        self._dimension = dimension

    def _create_command(self, dimension: int) -> tuple[Any, ...]:
        return (
            "FT.CREATE", self.name, "ON", "HASH", "PREFIX", 1, self.prefix,
            "SCHEMA", "ctx", "TAG", "ns", "TAG", "uid", "TAG",
            "vec", "VECTOR", "HNSW", 10, "TYPE", "FLOAT32", "DIM", dimension,
            "DISTANCE_METRIC", "COSINE", "M", self.hnsw_m,
            "EF_CONSTRUCTION", self.hnsw_ef_construction,
        )  # fmt: skip

    # -- the VectorIndex protocol ---------------------------------------------------------
    async def upsert(self, entry_id: str, record: Record) -> None:
        await self._ensure(len(record.vector))
        name = self.prefix + entry_id
        fields: list[Any] = []
        for field, data in (
            ("vec", _pack(record.vector)),
            *record.scope.as_dict().items(),
            ("q", record.question),
            ("key", record.key),
            ("val", record.blob),
        ):
            fields += [field, data]
        expiry: tuple[Any, ...] = ("PERSIST", name)
        if record.expires_at is not None:
            milliseconds = round((record.expires_at - time.time()) * 1000)
            expiry = ("PEXPIRE", name, max(1, milliseconds))
        await self.redis._call_many([("HSET", name, *fields), expiry])

    async def search(self, vector: list[float], scope: Scope, limit: int) -> list[Match]:
        await self._ensure(len(vector))
        query = (
            f"(@ctx:{{{scope.context}}} @ns:{{{scope.namespace}}} @uid:{{{scope.identity}}})"
            f"=>[KNN {limit} @vec $vec AS dist]"
        )
        command = (
            "FT.SEARCH", self.name, query, "PARAMS", 2, "vec", _pack(vector),
            "SORTBY", "dist", "RETURN", len(_FIELDS), *_FIELDS,
            "LIMIT", 0, limit, "DIALECT", 2,
        )  # fmt: skip
        try:
            reply = await self.redis._call(*command)
        except BackendError as exc:
            if not _missing(exc, "index"):
                raise
            self._dimension = None  # dropped behind our back (FLUSHALL, a restart): recreate
            await self._ensure(len(vector))
            reply = await self.redis._call(*command)
        return [
            Match(
                similarity=similarity_from_cosine_distance(float(_text(row["dist"]))),
                key=_text(row["key"]),
                question=_text(row["q"]),
                blob=bytes(row["val"]),
                entry_id=name.removeprefix(self.prefix),
            )
            for row, name in zip(search_rows(reply), search_ids(reply), strict=True)
            if all(field in row for field in _FIELDS)  # else expired while the query ran
        ]

    async def delete(self, entry_id: str) -> None:
        await self.redis._call("DEL", self.prefix + entry_id)

    async def clear(self) -> None:
        """Drop the index with its documents (``FT.DROPINDEX ... DD``) if it indexes this
        prefix; it is made again on next use."""
        info = await self._info()
        if info is not None and _index_prefixes(info) == [self.prefix]:
            await self.drop(documents=True)

    async def drop(self, *, documents: bool = False) -> None:
        """Drop the index; its entries stay (until flushed or expired) unless ``documents``."""
        try:
            await self.redis._call("FT.DROPINDEX", self.name, *(("DD",) if documents else ()))
        except BackendError as exc:
            if not _missing(exc):
                raise
        self._dimension = None

    async def ping(self) -> bool:
        """Whether the server has the search module (the store's ping asks the same server);
        raises :class:`~aiocache_llm.errors.ConfigurationError` saying so when it has none."""
        try:
            await self.redis._call("FT._LIST")
        except BackendError as exc:
            if "unknown command" in str(exc).lower():
                raise ConfigurationError(
                    "this Redis has no search module (FT.* commands), which redis-semantic"
                    " needs: use Redis 8, Redis Stack, or load RediSearch"
                ) from exc
            raise
        return True

    async def close(self) -> None:
        """Nothing to release: the connection is ``redis``'s."""

    def __repr__(self) -> str:
        return f"RedisVectorIndex({self.name!r}, prefix={self.prefix!r})"
