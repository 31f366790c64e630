"""The exact keys of a Qdrant semantic cache that is given no other store: a
:class:`~aiocache_llm.storage._store.Store` of vector-less Qdrant points, under the one cache
class (:class:`~aiocache_llm.storage._store_cache.StoreCache`: keys, TTLs, codec, expiry,
stats and counters are written there once, for every store).

Each name is a point of the collection (id: a UUID of the name) whose payload holds the name
(``k``), the expiry time (``exp``) and the encoded entry (``val``, base64). Writes delete the
expired points every ``cleanup_interval`` seconds.

**Atomicity**: Qdrant has no conditional or atomic update, so an update (an increment) is a
read and a write. Updates are atomic only among the callers of this store on one event loop
(an ``asyncio.Lock``); two processes (or two loops) incrementing one key can lose an update.
Give ``QdrantSemanticCache`` a real exact-key store (``store=RedisCache(...)``, or any backend)
where counters must be exact across processes.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.codec import DEFAULT_COMPRESS_THRESHOLD
from ..errors import ConfigurationError
from ..storage._store import Change, Store, Stored
from ..storage._store_cache import StoreCache
from .qdrant_connection import NEVER, Cleanup, QdrantConnection, models, point_id

__all__ = ["QdrantKeys", "QdrantPointStore"]


class QdrantPointStore(Store[bytes]):
    """Payloads as points of the vector-less collection ``collection_name``."""

    def __init__(
        self, connection: QdrantConnection, collection_name: str, cleanup_interval: float = 60.0
    ) -> None:
        self.connection, self.collection_name = connection, collection_name
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._cleanup = Cleanup(cleanup_interval, self.cleanup_expired)

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def _ensure(self) -> None:
        name = self.collection_name

        async def ensure(client: Any) -> None:
            if not await client.collection_exists(name):
                await client.create_collection(name, vectors_config={})

        await self.connection.ensure(name, ensure)

    @staticmethod
    def _point(name: str, data: bytes, expires_at: float | None) -> Any:
        payload = {
            "k": name,
            "exp": NEVER if expires_at is None else expires_at,
            "val": base64.b64encode(data).decode(),
        }
        return models.PointStruct(id=point_id(name), vector={}, payload=payload)

    async def _write(self, points: list[Any]) -> None:
        await self._ensure()
        name = self.collection_name
        await self.connection.run(lambda client: client.upsert(name, points=points))
        await self._cleanup.due()

    # -- the Store primitives -------------------------------------------------------------
    async def get(self, name: str) -> Stored[bytes] | None:
        return (await self.get_many([name]))[0]

    async def get_many(self, names: Sequence[str]) -> list[Stored[bytes] | None]:
        await self._ensure()
        ids = [point_id(n) for n in names]
        records = await self.connection.run(
            lambda client: client.retrieve(self.collection_name, ids=ids)
        )
        by_id = {str(r.id): r.payload or {} for r in records}
        out: list[Stored[bytes] | None] = []
        for point in ids:
            try:
                out.append(Stored(base64.b64decode(by_id[point]["val"])))
            except (KeyError, ValueError, TypeError):  # absent, or not this store's payload
                out.append(None)
        return out

    async def set(self, name: str, data: bytes, expires_at: float | None) -> None:
        await self._write([self._point(name, data, expires_at)])

    async def set_many(self, items: Sequence[tuple[str, bytes]], expires_at: float | None) -> None:
        if items:
            await self._write([self._point(n, d, expires_at) for n, d in items])

    async def delete(self, name: str) -> None:
        await self.connection.delete(self.collection_name, name)

    async def update(self, changes: Mapping[str, Change[bytes]]) -> None:
        """Read, change and write every name: atomic on this store's event loop only."""
        async with self._lock():
            current = await self.get_many(list(changes))
            written = [
                (name, *change(None if stored is None else stored.data))
                for (name, change), stored in zip(changes.items(), current, strict=True)
            ]
            await self._write([self._point(n, d, e) for n, d, e in written])

    async def clear(self, prefix: str) -> None:
        if prefix:
            raise ConfigurationError("a Qdrant point store clears its whole collection only")
        await self.connection.clear(self.collection_name)

    async def ping(self) -> None:
        await self.connection.ping()

    async def close(self) -> None:
        await self.connection.close()

    async def cleanup_expired(self) -> None:
        """Delete the expired points."""
        await self.connection.delete_expired(self.collection_name)

    def details(self) -> dict[str, Any]:
        return {"collection": self.collection_name}


class QdrantKeys(StoreCache[bytes]):
    """The exact-key contract on a :class:`QdrantPointStore` (see the module on atomicity)."""

    backend_name = "qdrant"
    store: QdrantPointStore

    def __init__(
        self,
        connection: QdrantConnection,
        collection_name: str,
        *,
        default_ttl: float | None = None,
        cleanup_interval: float = 60.0,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
    ) -> None:
        store = QdrantPointStore(connection, collection_name, cleanup_interval)
        super().__init__(store, default_ttl=default_ttl, compress_threshold=compress_threshold)
        self.collection_name = collection_name

    async def cleanup_expired(self) -> None:
        """Delete the expired points."""
        await self.store.cleanup_expired()
