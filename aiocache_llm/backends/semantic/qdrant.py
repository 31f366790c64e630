"""QdrantSemanticCache: a semantic cache on Qdrant through ``qdrant-client``'s async client.

* ``qdrant_api_base`` (a server URL) and ``qdrant_api_key``, or qdrant-client's local mode
  (``location=":memory:"`` or ``path=...``) for tests and single-process use.
* Semantic entries are points of ``qdrant_collection_name`` (cosine, dimension from the
  embedder), created on first use if missing and validated if present. Their payload holds
  the scope (``ctx``, ``ns``, ``uid``: keyword filters), the question text, the exact key, the
  value (through :mod:`aiocache_llm.codec`) and ``exp``, the expiry time: every read filters
  on it, and :meth:`QdrantSemanticCache.async_cleanup_expired` (run every
  ``cleanup_interval`` seconds by writes) deletes expired points.
* ``qdrant_quantization_config``: ``"binary"``, ``"scalar"``, ``"product"``, a qdrant-client
  quantization model, or ``None``. With quantization, searches rescore the
  ``oversampling``-times larger candidate set on the original vectors.
* Exact-key operations use a second, vector-less collection ``<name>_kv``. Qdrant has no
  atomic update, so increments are atomic within one event loop of one process only.

Local mode keeps one client for every event loop (its data lives in that client) and performs
exact search, so it accepts the quantization config but does not apply it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ...codec import Entry, decode, encode
from ...embeddings import Embedder, embedder_dimension
from ...errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    CorruptEntryError,
    InvalidArgumentError,
    MissingDependencyError,
)
from ...semantic_guard import PrecisionGuard
from ..base import USE_DEFAULT, IncrementOp, TTLArg, check_key, check_number, normalize_increments
from .base import (
    DEFAULT_SIMILARITY_THRESHOLD,
    DEFAULT_VERIFY_BELOW,
    Candidate,
    QueryExtractor,
    Scope,
    SemanticCache,
    Verifier,
)

try:
    from qdrant_client import AsyncQdrantClient, models
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("QdrantSemanticCache", "qdrant") from exc

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["QdrantSemanticCache", "quantization_config"]

logger = logging.getLogger("aiocache_llm.qdrant")

DEFAULT_COLLECTION_NAME = "aiocache_llm_semantic"
_NEVER = 1e18  # the ``exp`` of an entry without a TTL (Range filters need a number)
_ID_NAMESPACE = uuid.UUID("6f1c5c3e-3a51-4b8e-9a55-2f4a0f0c6b11")

Quantization = models.ScalarQuantization | models.ProductQuantization | models.BinaryQuantization


def quantization_config(config: str | Quantization | None) -> Quantization | None:
    """The qdrant-client quantization model for ``"binary"``, ``"scalar"``, ``"product"``."""
    if config is None or isinstance(
        config, (models.ScalarQuantization, models.ProductQuantization, models.BinaryQuantization)
    ):
        return config
    if config == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    if config == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
    if config == "product":
        return models.ProductQuantization(
            product=models.ProductQuantizationConfig(
                compression=models.CompressionRatio.X16, always_ram=True
            )
        )
    raise ConfigurationError(
        f"qdrant_quantization_config must be 'binary', 'scalar', 'product' or None, not {config!r}"
    )


def _translate(exc: Exception) -> CacheError:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, CacheError):
        return exc
    new: CacheError
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        new = BackendTimeout(f"Qdrant did not answer in time: {exc}")
    elif isinstance(exc, (httpx.TransportError, ResponseHandlingException, ConnectionError)):
        new = BackendUnavailable(f"Qdrant is unreachable: {exc}")
    elif isinstance(exc, UnexpectedResponse):
        new = BackendError(f"Qdrant answered {exc.status_code}: {exc.reason_phrase}")
    else:
        new = BackendError(f"Qdrant failed: {exc!r}")
    new.__cause__ = exc
    return new


def _point_id(text: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, text))


def _blob(data: bytes) -> str:
    return base64.b64encode(data).decode()


class QdrantSemanticCache(SemanticCache):
    """A semantic cache in Qdrant.

    Parameters: ``qdrant_api_base`` and ``qdrant_api_key`` (default: the ``QDRANT_API_BASE``
    or ``QDRANT_URL`` and ``QDRANT_API_KEY`` environment variables), ``qdrant_collection_name``,
    ``qdrant_quantization_config``, ``similarity_threshold``, ``embedder`` or
    ``qdrant_semantic_cache_embedding_model``, ``precision_guard`` (``False`` turns it off),
    ``query_extractor``, ``default_ttl``; ``location`` / ``path`` for local mode;
    ``oversampling`` for quantized searches; ``timeout`` in seconds.
    """

    backend_name = "qdrant-semantic"

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
        query_extractor: QueryExtractor | None = None,
        verifier: Verifier | None = None,
        verify_below: float = DEFAULT_VERIFY_BELOW,
        default_ttl: float | None = None,
        location: str | None = None,
        path: str | None = None,
        oversampling: float = 2.0,
        timeout: int = 10,
        cleanup_interval: float = 60.0,
    ) -> None:
        super().__init__(default_ttl=default_ttl)
        self._init_semantic(
            embedder=embedder or qdrant_semantic_cache_embedding_model,
            similarity_threshold=similarity_threshold,
            precision_guard=precision_guard,
            query_extractor=query_extractor,
            verifier=verifier,
            verify_below=verify_below,
        )
        if location is None and path is None:
            qdrant_api_base = (
                qdrant_api_base or os.environ.get("QDRANT_API_BASE") or os.environ.get("QDRANT_URL")
            )
            qdrant_api_key = qdrant_api_key or os.environ.get("QDRANT_API_KEY")
        if sum(x is not None for x in (qdrant_api_base, location, path)) != 1:
            raise ConfigurationError(
                "give exactly one of qdrant_api_base (or QDRANT_API_BASE), location or path"
            )
        self.collection_name = qdrant_collection_name or DEFAULT_COLLECTION_NAME
        self.kv_collection_name = f"{self.collection_name}_kv"
        self.quantization_config = quantization_config(qdrant_quantization_config)
        self.oversampling = float(check_number(oversampling, "oversampling"))
        self.cleanup_interval = cleanup_interval
        self.local = qdrant_api_base is None
        self._client_kwargs: dict[str, Any] = (
            {"url": qdrant_api_base, "api_key": qdrant_api_key, "timeout": timeout}
            if qdrant_api_base is not None
            else {"location": location}
            if location is not None
            else {"path": path}
        )
        self._clients: dict[asyncio.AbstractEventLoop | None, AsyncQdrantClient] = {}
        self._clients_lock = threading.Lock()
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._dimension: int | None = None
        self._ready: set[str] = set()
        self._last_cleanup = time.monotonic()

    # -- client ---------------------------------------------------------------------------
    def _client(self) -> AsyncQdrantClient:
        """One client per event loop; in local mode one client for all (it holds the data)."""
        loop = None if self.local else asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(loop)
                if client is None:
                    client = AsyncQdrantClient(**self._client_kwargs)
                    self._clients[loop] = client
        return client

    async def _run(self, call: Callable[[AsyncQdrantClient], Awaitable[Any]]) -> Any:
        try:
            return await call(self._client())
        except Exception as exc:
            self._ready.clear()  # check the collections again next time
            raise _translate(exc) from exc

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    # -- collections ----------------------------------------------------------------------
    def collection_config(self, dimension: int) -> dict[str, Any]:
        """The ``create_collection`` arguments of the vector collection."""
        return {
            "vectors_config": models.VectorParams(size=dimension, distance=models.Distance.COSINE),
            "quantization_config": self.quantization_config,
        }

    def search_params(self) -> models.SearchParams | None:
        """Search parameters: rescoring with oversampling when the vectors are quantized."""
        if self.quantization_config is None:
            return None
        return models.SearchParams(
            quantization=models.QuantizationSearchParams(
                rescore=True, oversampling=self.oversampling
            )
        )

    async def _ensure_vectors(self) -> int:
        if self._dimension is not None and self.collection_name in self._ready:
            return self._dimension
        dimension = await embedder_dimension(self.embedder)
        name = self.collection_name

        async def ensure(client: AsyncQdrantClient) -> int | None:
            if not await client.collection_exists(name):
                await client.create_collection(name, **self.collection_config(dimension))
                if not self.local:
                    for field in ("ctx", "ns", "uid"):
                        await client.create_payload_index(
                            name, field, models.PayloadSchemaType.KEYWORD
                        )
                    await client.create_payload_index(name, "exp", models.PayloadSchemaType.FLOAT)
                return dimension
            vectors = (await client.get_collection(name)).config.params.vectors
            return vectors.size if isinstance(vectors, models.VectorParams) else None

        existing = await self._run(ensure)
        if existing != dimension:
            raise ConfigurationError(
                f"the Qdrant collection {name!r} holds vectors of dimension {existing}, but the"
                f" embedder {self.embedder.name!r} makes {dimension}; use another"
                " qdrant_collection_name"
            )
        self._dimension = dimension
        self._ready.add(name)
        return dimension

    async def _ensure_kv(self) -> None:
        name = self.kv_collection_name
        if name in self._ready:
            return

        async def ensure(client: AsyncQdrantClient) -> None:
            if not await client.collection_exists(name):
                await client.create_collection(name, vectors_config={})

        await self._run(ensure)
        self._ready.add(name)

    # -- semantic storage -----------------------------------------------------------------
    @staticmethod
    def _live(now: float) -> models.FieldCondition:
        return models.FieldCondition(key="exp", range=models.Range(gt=now))

    async def _search(self, vector: list[float], scope: Scope, limit: int) -> list[Candidate]:
        await self._ensure_vectors()
        conditions: list[models.Condition] = [
            models.FieldCondition(key=field, match=models.MatchValue(value=value))
            for field, value in scope.as_dict().items()
        ]
        conditions.append(self._live(time.time()))
        params = None if self.local else self.search_params()
        response = await self._run(
            lambda client: client.query_points(
                self.collection_name,
                query=vector,
                query_filter=models.Filter(must=conditions),
                search_params=params,
                limit=limit,
                with_payload=True,
            )
        )
        out: list[Candidate] = []
        for point in response.points:
            payload = point.payload or {}
            try:
                value = decode(base64.b64decode(payload["val"])).value
                out.append(
                    Candidate(
                        similarity=min(1.0, max(0.0, float(point.score))),
                        key=str(payload["key"]),
                        question=str(payload["q"]),
                        value=value,
                    )
                )
            except (CorruptEntryError, KeyError, ValueError, TypeError):
                self.stats.corrupt_reads += 1
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
        await self._ensure_vectors()
        expires = None if seconds is None else now + seconds
        payload = {
            **scope.as_dict(),
            "q": question,
            "key": key,
            "val": _blob(encode(value, created_at=now, expires_at=expires)),
            "exp": _NEVER if expires is None else expires,
        }
        point = models.PointStruct(id=_point_id(entry_id), vector=vector, payload=payload)
        await self._run(lambda client: client.upsert(self.collection_name, points=[point]))
        await self._maybe_cleanup()

    async def _maybe_cleanup(self) -> None:
        if time.monotonic() - self._last_cleanup >= self.cleanup_interval:
            self._last_cleanup = time.monotonic()
            await self.async_cleanup_expired()

    async def async_cleanup_expired(self) -> None:
        """Delete the expired points of both collections."""
        expired = models.FilterSelector(
            filter=models.Filter(
                must=[models.FieldCondition(key="exp", range=models.Range(lte=time.time()))]
            )
        )
        for name in (self.collection_name, self.kv_collection_name):
            if name in self._ready:

                async def delete(client: AsyncQdrantClient, name: str = name) -> None:
                    await client.delete(name, points_selector=expired)

                await self._run(delete)

    # -- exact-key contract ---------------------------------------------------------------
    async def _get_payload(self, key: str) -> dict[str, Any] | None:
        await self._ensure_kv()
        records = await self._run(
            lambda client: client.retrieve(self.kv_collection_name, ids=[_point_id(key)])
        )
        if not records:
            return None
        payload = dict(records[0].payload or {})
        if payload.get("exp", _NEVER) <= time.time():
            return None
        return payload

    def _read_entry(self, payload: dict[str, Any] | None) -> Entry | None:
        if payload is None:
            return None
        if "num" in payload:  # a counter: no creation time
            number = payload["num"]
            expires = payload.get("exp", _NEVER)
            return Entry(
                int(number) if float(number).is_integer() else number,
                -math.inf,
                None if expires >= _NEVER else float(expires),
            )
        try:
            return decode(base64.b64decode(payload["val"]))
        except (CorruptEntryError, KeyError, ValueError, TypeError):
            self.stats.corrupt_reads += 1
            return None

    def _read(self, payload: dict[str, Any] | None) -> Any:
        entry = self._read_entry(payload)
        return None if entry is None else entry.value

    async def async_get_entry(self, key: str) -> Entry | None:
        """The entry under ``key`` with its creation and expiry times, in one read."""
        return self._read_entry(await self._get_payload(check_key(key)))

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        if not keys:
            return []
        await self._ensure_kv()
        ids = [_point_id(check_key(k)) for k in keys]
        records = await self._run(lambda client: client.retrieve(self.kv_collection_name, ids=ids))
        now = time.time()
        by_id = {str(r.id): dict(r.payload or {}) for r in records}
        out: list[Entry | None] = []
        for point_id in ids:
            payload = by_id.get(point_id)
            live = payload is not None and payload.get("exp", _NEVER) > now
            out.append(self._read_entry(payload if live else None))
        return out

    def _kv_point(self, key: str, fields: dict[str, Any], seconds: float | None) -> Any:
        expires = _NEVER if seconds is None else time.time() + seconds
        return models.PointStruct(
            id=_point_id(key), vector={}, payload={"k": key, "exp": expires, **fields}
        )

    async def async_get_cache(self, key: str) -> Any:
        return self._read(await self._get_payload(check_key(key)))

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        entries = await self.async_batch_get_entries(keys)
        return [None if entry is None else entry.value for entry in entries]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self.async_set_cache_pipeline([(key, value)], ttl)

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        seconds = self.resolve_ttl(ttl)
        now = time.time()
        expires = None if seconds is None else now + seconds
        points = [
            self._kv_point(
                check_key(k), {"val": _blob(encode(v, created_at=now, expires_at=expires))}, seconds
            )
            for k, v in items
        ]
        if not points:
            return
        await self._ensure_kv()
        await self._run(lambda client: client.upsert(self.kv_collection_name, points=points))
        await self._maybe_cleanup()

    async def _current_number(self, key: str) -> tuple[dict[str, Any] | None, float | None]:
        """The payload at ``key`` and the number it holds (a counter or a stored number)."""
        payload = await self._get_payload(key)
        entry = self._read_entry(payload)
        if entry is None:
            return None, None
        current = entry.value
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            raise InvalidArgumentError(f"the value at {key!r} is not a number")
        return payload, current

    async def _increment(self, key: str, by: float, ttl: TTLArg) -> float:
        payload, current = await self._current_number(key)
        if payload is None or current is None:
            seconds = self.resolve_ttl(ttl)
            new: float = by
            point = self._kv_point(key, {"num": new}, seconds)
        else:
            new = current + by
            kept = {"k": key, "exp": payload.get("exp", _NEVER), "num": new}
            point = models.PointStruct(id=_point_id(key), vector={}, payload=kept)
        await self._run(lambda client: client.upsert(self.kv_collection_name, points=[point]))
        return int(new) if float(new).is_integer() else new

    async def async_increment(self, key: str, value: float, ttl: TTLArg = USE_DEFAULT) -> float:
        key = check_key(key)
        check_number(value)
        if ttl is not USE_DEFAULT:
            self.resolve_ttl(ttl)
        async with self._lock():
            return await self._increment(key, value, ttl)

    async def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        checked = normalize_increments(ops)
        async with self._lock():
            for key in dict.fromkeys(key for key, _, _ in checked):  # all or nothing
                await self._current_number(key)
            return [await self._increment(key, by, ttl) for key, by, ttl in checked]

    async def async_delete_cache(self, key: str) -> None:
        """Delete ``key`` and the semantic entry of the answer stored under it."""
        await self._ensure_kv()
        point_id = _point_id(check_key(key))
        await self._run(
            lambda client: client.delete(
                self.kv_collection_name, points_selector=models.PointIdsList(points=[point_id])
            )
        )
        await self.async_semantic_delete(key)

    async def async_semantic_delete(self, key: str) -> None:
        """Delete the semantic entry of the answer stored under ``key`` (if any)."""
        name, point_id = self.collection_name, _point_id(self.entry_id(key))

        async def remove(client: AsyncQdrantClient) -> None:
            if name in self._ready or await client.collection_exists(name):
                selector = models.PointIdsList(points=[point_id])
                await client.delete(name, points_selector=selector)

        await self._run(remove)

    async def async_flush_cache(self) -> None:
        """Remove every entry of both collections (the collections stay)."""
        everything = models.FilterSelector(filter=models.Filter(must=[]))
        for name in (self.collection_name, self.kv_collection_name):

            async def clear(client: AsyncQdrantClient, name: str = name) -> None:
                if await client.collection_exists(name):
                    await client.delete(name, points_selector=everything)

            await self._run(clear)

    async def async_get_ttl(self, key: str) -> float | None:
        payload = await self._get_payload(check_key(key))
        if payload is None or payload.get("exp", _NEVER) >= _NEVER:
            return None
        return max(0.0, float(payload["exp"]) - time.time())

    async def async_ping(self) -> bool:
        await self._run(lambda client: client.get_collections())
        return True

    async def async_disconnect(self) -> None:
        """Close this event loop's client (local mode keeps its client: it holds the data)."""
        if self.local and self._client_kwargs.get("location") == ":memory:":
            return
        loop = None if self.local else asyncio.get_running_loop()
        with self._clients_lock:
            client = self._clients.pop(loop, None)
        if client is not None:
            await client.close()
            self._ready.clear()

    async def aclose(self) -> None:
        """Close every client, including a local-mode one (its in-memory data is lost)."""
        with self._clients_lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        self._ready.clear()

    def __repr__(self) -> str:
        return (
            f"QdrantSemanticCache(collection_name={self.collection_name!r},"
            f" similarity_threshold={self.similarity_threshold},"
            f" embedder={self.embedder.name!r})"
        )
