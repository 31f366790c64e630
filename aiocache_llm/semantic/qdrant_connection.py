"""One Qdrant connection shared by a Qdrant index and a Qdrant point store: a client per event
loop (one for all in local mode, where the client holds the data), errors mapped to
:mod:`aiocache_llm.errors`, collections checked once, expired points deleted."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from .. import errors
from ..core.loops import PerLoop
from ..errors import CacheError, MissingDependencyError

try:
    from qdrant_client import AsyncQdrantClient, models
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("QdrantSemanticCache", "qdrant") from exc

__all__ = ["NEVER", "Cleanup", "QdrantConnection", "models", "point_id", "translate_qdrant_error"]

#: The ``exp`` payload of an entry without a TTL (Range filters need a number).
NEVER: Final = 1e18
_ID_NAMESPACE = uuid.UUID("6f1c5c3e-3a51-4b8e-9a55-2f4a0f0c6b11")
#: Seconds a client of another running event loop is given to close (see ``PerLoop.close``).
_CLOSE_TIMEOUT: Final = 5.0


def point_id(text: str) -> str:
    """The Qdrant point id (a UUID) of an entry id or key."""
    return str(uuid.uuid5(_ID_NAMESPACE, text))


def translate_qdrant_error(exc: Exception) -> CacheError:
    """The :mod:`aiocache_llm.errors` type of a qdrant-client (or transport) failure."""
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    if isinstance(exc, CacheError):
        return exc
    new: CacheError
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        new = errors.BackendTimeout(f"Qdrant did not answer in time: {exc}")
    elif isinstance(exc, (httpx.TransportError, ResponseHandlingException, ConnectionError)):
        new = errors.BackendUnavailable(f"Qdrant is unreachable: {exc}")
    elif isinstance(exc, UnexpectedResponse):
        new = errors.BackendError(f"Qdrant answered {exc.status_code}: {exc.reason_phrase}")
    else:
        new = errors.BackendError(f"Qdrant failed: {exc!r}")
    new.__cause__ = exc
    return new


class QdrantConnection:
    """Clients for ``client_kwargs`` (``url``/``api_key``/``timeout``, ``location`` or
    ``path``); ``local`` when it is qdrant-client's local mode."""

    def __init__(self, client_kwargs: dict[str, Any]) -> None:
        self.client_kwargs = client_kwargs
        self.local = "url" not in client_kwargs
        self.ready: set[str] = set()  # collections checked since the last failure
        self._loops: PerLoop[AsyncQdrantClient] = PerLoop(self._new_client)
        self._local: AsyncQdrantClient | None = None
        self._local_lock = threading.Lock()

    def _new_client(self) -> AsyncQdrantClient:
        return AsyncQdrantClient(**self.client_kwargs)

    def client(self) -> AsyncQdrantClient:
        """This event loop's client (in local mode one client for all: it holds the data)."""
        if not self.local:
            return self._loops.get()
        client = self._local
        if client is None:
            with self._local_lock:
                client = self._local
                if client is None:
                    client = self._local = self._new_client()
        return client

    async def run(self, call: Callable[[AsyncQdrantClient], Awaitable[Any]]) -> Any:
        """``call(client)``, its failure translated (and the collections checked again next
        time)."""
        try:
            return await call(self.client())
        except Exception as exc:
            self.ready.clear()
            raise translate_qdrant_error(exc) from exc

    async def ensure(self, name: str, create: Callable[[AsyncQdrantClient], Awaitable[Any]]) -> Any:
        """Run ``create(client)`` (which makes or checks collection ``name``) unless ``name``
        was checked since the last failure; its result, or ``None`` when skipped."""
        if name in self.ready:
            return None
        result = await self.run(create)
        self.ready.add(name)
        return result

    async def ping(self) -> bool:
        """Whether the server (or local client) answers."""
        await self.run(lambda client: client.get_collections())
        return True

    async def delete_expired(self, name: str) -> None:
        """Delete the points of collection ``name`` whose ``exp`` has passed."""
        if name not in self.ready:
            return
        expired = models.FilterSelector(
            filter=models.Filter(
                must=[models.FieldCondition(key="exp", range=models.Range(lte=time.time()))]
            )
        )
        await self.run(lambda client: client.delete(name, points_selector=expired))

    async def clear(self, name: str) -> None:
        """Delete every point of collection ``name`` (the collection stays)."""
        everything = models.FilterSelector(filter=models.Filter(must=[]))

        async def clear(client: AsyncQdrantClient) -> None:
            if await client.collection_exists(name):
                await client.delete(name, points_selector=everything)

        await self.run(clear)

    async def delete(self, name: str, key: str) -> None:
        """Delete the point of ``key`` from collection ``name`` (if both exist)."""
        selector = models.PointIdsList(points=[point_id(key)])

        async def remove(client: AsyncQdrantClient) -> None:
            if name in self.ready or await client.collection_exists(name):
                await client.delete(name, points_selector=selector)

        await self.run(remove)

    async def close(self) -> None:
        """Close the clients (each event loop's on its loop, see
        :class:`~aiocache_llm.core.loops.PerLoop`); an in-memory local client is kept:
        it holds the data."""
        if self.local and self.client_kwargs.get("location") == ":memory:":
            return
        await self.aclose()

    async def aclose(self) -> None:
        """Close every client, including a local-mode one (its in-memory data is lost)."""
        with self._local_lock:
            local, self._local = self._local, None
        try:
            if local is not None:
                await local.close()
            await self._loops.close(_close_client, _CLOSE_TIMEOUT)
        finally:
            self.ready.clear()


async def _close_client(client: AsyncQdrantClient) -> None:
    await client.close()


class Cleanup:
    """Runs ``work`` at most every ``interval`` seconds, when :meth:`due` is awaited."""

    def __init__(self, interval: float, work: Callable[[], Awaitable[None]]) -> None:
        self.interval, self.work = interval, work
        self._last = time.monotonic()

    async def due(self) -> None:
        if time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            await self.work()
