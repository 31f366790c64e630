"""QdrantVectorIndex: a vector index in a Qdrant collection.

Entries are points of the collection (cosine, dimension of the first vector), created on first
use if missing and validated if present. Their payload holds the scope (``ctx``, ``ns``,
``uid``: keyword filters), the question text (``q``), the exact key (``key``), the encoded
answer (``val``, base64) and ``exp``, the expiry time: every search filters on it, and
expired points are deleted every ``cleanup_interval`` seconds by writes.

``quantization``: ``"binary"``, ``"scalar"``, ``"product"``, a qdrant-client quantization model,
or ``None``. With quantization, searches rescore the ``oversampling``-times larger candidate
set on the original vectors. Local mode performs exact search: it accepts the quantization
config but does not apply it.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from ..errors import ConfigurationError
from .index import Match, Record, Scope
from .qdrant_connection import NEVER, Cleanup, QdrantConnection, models, point_id

__all__ = ["Quantization", "QdrantVectorIndex", "quantization_config"]

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


class QdrantVectorIndex:
    """The collection ``collection_name`` through ``connection``."""

    def __init__(
        self,
        connection: QdrantConnection,
        collection_name: str,
        *,
        quantization: str | Quantization | None = None,
        oversampling: float = 2.0,
        cleanup_interval: float = 60.0,
    ) -> None:
        self.connection, self.collection_name = connection, collection_name
        self.quantization_config = quantization_config(quantization)
        self.oversampling = float(oversampling)
        self._dimension: int | None = None
        self._cleanup = Cleanup(cleanup_interval, self.cleanup_expired)

    def collection_config(self, dimension: int) -> dict[str, Any]:
        """The ``create_collection`` arguments of the collection."""
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

    async def _ensure(self, dimension: int) -> None:
        name, connection = self.collection_name, self.connection

        async def ensure(client: Any) -> int | None:
            if not await client.collection_exists(name):
                await client.create_collection(name, **self.collection_config(dimension))
                if not connection.local:
                    for field in ("ctx", "ns", "uid"):
                        await client.create_payload_index(
                            name, field, models.PayloadSchemaType.KEYWORD
                        )
                    await client.create_payload_index(name, "exp", models.PayloadSchemaType.FLOAT)
                return dimension
            vectors = (await client.get_collection(name)).config.params.vectors
            return vectors.size if isinstance(vectors, models.VectorParams) else None

        if self._dimension is None or name not in connection.ready:
            self._dimension = await connection.run(ensure)
            connection.ready.add(name)
        if self._dimension != dimension:
            existing, self._dimension = self._dimension, None
            connection.ready.discard(name)
            raise ConfigurationError(
                f"the Qdrant collection {name!r} holds vectors of dimension {existing}, but the"
                f" embedder makes {dimension}; use another qdrant_collection_name"
            )

    # -- the VectorIndex protocol ---------------------------------------------------------
    async def upsert(self, entry_id: str, record: Record) -> None:
        await self._ensure(len(record.vector))
        payload = {
            **record.scope.as_dict(),
            "q": record.question,
            "key": record.key,
            "val": base64.b64encode(record.blob).decode(),
            "exp": NEVER if record.expires_at is None else record.expires_at,
        }
        point = models.PointStruct(id=point_id(entry_id), vector=record.vector, payload=payload)
        await self.connection.run(
            lambda client: client.upsert(self.collection_name, points=[point])
        )
        await self._cleanup.due()

    async def search(self, vector: list[float], scope: Scope, limit: int) -> list[Match]:
        await self._ensure(len(vector))
        conditions: list[models.Condition] = [
            models.FieldCondition(key=field, match=models.MatchValue(value=value))
            for field, value in scope.as_dict().items()
        ]
        conditions.append(models.FieldCondition(key="exp", range=models.Range(gt=time.time())))
        params = None if self.connection.local else self.search_params()
        response = await self.connection.run(
            lambda client: client.query_points(
                self.collection_name,
                query=vector,
                query_filter=models.Filter(must=conditions),
                search_params=params,
                limit=limit,
                with_payload=True,
            )
        )
        out: list[Match] = []
        for point in response.points:
            payload = point.payload or {}
            try:
                blob = base64.b64decode(payload["val"])
                key, question = str(payload["key"]), str(payload["q"])
            except (KeyError, ValueError, TypeError):
                blob, key, question = b"", str(payload.get("key", "")), ""  # reads as corrupt
            similarity = min(1.0, max(0.0, float(point.score)))
            out.append(Match(similarity, key, question, blob))
        return out

    async def cleanup_expired(self) -> None:
        """Delete the expired points."""
        await self.connection.delete_expired(self.collection_name)

    async def delete(self, entry_id: str) -> None:
        await self.connection.delete(self.collection_name, entry_id)

    async def clear(self) -> None:
        await self.connection.clear(self.collection_name)

    async def drop(self) -> None:
        """Delete the collection with its points (it is made again on next use)."""
        name = self.collection_name

        async def drop(client: Any) -> None:
            if await client.collection_exists(name):
                await client.delete_collection(name)

        await self.connection.run(drop)
        self.connection.ready.discard(name)
        self._dimension = None

    async def ping(self) -> bool:
        return await self.connection.ping()

    async def close(self) -> None:
        await self.connection.close()

    def __repr__(self) -> str:
        return f"QdrantVectorIndex({self.collection_name!r})"
