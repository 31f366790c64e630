"""QdrantPointStore: the exact-key contract emulated on vector-less Qdrant points, for a
Qdrant semantic cache that is given no other store.

Each key is a point of the collection (id: a UUID of the key) whose payload holds the key
(``k``), the expiry time (``exp``) and either the encoded value (``val``, base64) or a counter
(``num``). Reads filter out expired points; writes delete expired points every
``cleanup_interval`` seconds.

**Atomicity**: Qdrant has no conditional or atomic update, so an increment is a read and a
write. Increments are atomic only among the callers of this object on one event loop (an
``asyncio.Lock``); two processes (or two loops) incrementing one key can lose an update. Give
``QdrantSemanticCache`` a real exact-key store (``store=RedisCache(...)``, or any backend) where
counters must be exact across processes.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..backends import USE_DEFAULT, BaseCache
from ..backends.base import IncrementOp, TTLArg, check_key, check_number, normalize_increments
from ..codec import Entry, decode, encode
from ..errors import CorruptEntryError, InvalidArgumentError
from .qdrant_connection import NEVER, Cleanup, QdrantConnection, models, point_id

__all__ = ["QdrantPointStore"]


class QdrantPointStore(BaseCache):
    """Exact keys in the vector-less collection ``collection_name`` through ``connection``."""

    backend_name = "qdrant"

    def __init__(
        self,
        connection: QdrantConnection,
        collection_name: str,
        *,
        default_ttl: float | None = None,
        cleanup_interval: float = 60.0,
    ) -> None:
        super().__init__(default_ttl=default_ttl)
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

    async def _payloads(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """The live payload of each key, in order (``None``: missing or expired)."""
        ids = [point_id(check_key(k)) for k in keys]
        await self._ensure()
        records = await self.connection.run(
            lambda client: client.retrieve(self.collection_name, ids=ids)
        )
        now = time.time()
        by_id = {str(r.id): dict(r.payload or {}) for r in records}
        live = [by_id.get(i) for i in ids]
        return [p if p is not None and p.get("exp", NEVER) > now else None for p in live]

    def _entry(self, payload: dict[str, Any] | None) -> Entry | None:
        if payload is None:
            return None
        if "num" in payload:  # a counter: no creation time
            number, expires = payload["num"], payload.get("exp", NEVER)
            value = int(number) if float(number).is_integer() else number
            return Entry(value, -math.inf, None if expires >= NEVER else float(expires))
        try:
            return decode(base64.b64decode(payload["val"]))
        except (CorruptEntryError, KeyError, ValueError, TypeError):
            self.stats.corrupt_reads += 1
            return None

    def _point(self, key: str, fields: dict[str, Any], expires: float | None) -> Any:
        payload = {"k": key, "exp": NEVER if expires is None else expires, **fields}
        return models.PointStruct(id=point_id(key), vector={}, payload=payload)

    async def _upsert(self, points: list[Any]) -> None:
        await self._ensure()
        await self.connection.run(lambda client: client.upsert(self.collection_name, points=points))
        await self._cleanup.due()

    # -- reads ----------------------------------------------------------------------------
    async def async_get_entry(self, key: str) -> Entry | None:
        """The entry under ``key`` with its creation and expiry times, in one read."""
        [payload] = await self._payloads([key])
        return self._entry(payload)

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        return [self._entry(p) for p in await self._payloads(keys)] if keys else []

    async def async_get_cache(self, key: str) -> Any:
        entry = await self.async_get_entry(key)
        return None if entry is None else entry.value

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        entries = await self.async_batch_get_entries(keys)
        return [None if entry is None else entry.value for entry in entries]

    async def async_get_ttl(self, key: str) -> float | None:
        [payload] = await self._payloads([key])
        if payload is None or payload.get("exp", NEVER) >= NEVER:
            return None
        return max(0.0, float(payload["exp"]) - time.time())

    # -- writes ---------------------------------------------------------------------------
    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self.async_set_cache_pipeline([(key, value)], ttl)

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        now = time.time()
        expires = self.expires_at(ttl, now)
        points = [
            self._point(
                check_key(k),
                {"val": base64.b64encode(encode(v, created_at=now, expires_at=expires)).decode()},
                expires,
            )
            for k, v in items
        ]
        if points:
            await self._upsert(points)

    async def _number(self, key: str) -> tuple[dict[str, Any] | None, float | None]:
        """The payload at ``key`` and the number it holds (a counter or a stored number)."""
        [payload] = await self._payloads([key])
        entry = self._entry(payload)
        if entry is None:
            return None, None
        current = entry.value
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            raise InvalidArgumentError(f"the value at {key!r} is not a number")
        return payload, current

    async def _increment(self, key: str, by: float, ttl: TTLArg, refresh_ttl: bool) -> float:
        payload, current = await self._number(key)
        new: float = by if current is None else current + by
        if payload is None or current is None or refresh_ttl:
            point = self._point(key, {"num": new}, self.expires_at(ttl))
        else:
            kept = {"k": key, "exp": payload.get("exp", NEVER), "num": new}
            point = models.PointStruct(id=point_id(key), vector={}, payload=kept)
        await self._upsert([point])
        return int(new) if float(new).is_integer() else new

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        """Add ``value`` to the number at ``key`` (atomic on this object's event loop only)."""
        key = check_key(key)
        check_number(value)
        self.resolve_ttl(ttl)
        async with self._lock():
            return await self._increment(key, value, ttl, refresh_ttl)

    async def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        checked = normalize_increments(ops)
        async with self._lock():
            for key in dict.fromkeys(key for key, _, _ in checked):  # all or nothing
                await self._number(key)
            return [await self._increment(key, by, ttl, False) for key, by, ttl in checked]

    async def async_delete_cache(self, key: str) -> None:
        await self._ensure()
        await self.connection.delete(self.collection_name, check_key(key))

    async def async_flush_cache(self) -> None:
        """Remove every point of the collection (the collection stays)."""
        await self.connection.clear(self.collection_name)

    async def cleanup_expired(self) -> None:
        """Delete the expired points."""
        await self.connection.delete_expired(self.collection_name)

    async def async_ping(self) -> bool:
        return await self.connection.ping()

    async def async_disconnect(self) -> None:
        await self.connection.close()

    def __repr__(self) -> str:
        return f"QdrantPointStore({self.collection_name!r})"
