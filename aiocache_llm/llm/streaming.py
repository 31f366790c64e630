"""Streams handed back by cached calls, and the broadcast behind concurrent identical streams.

:class:`CachedStream` is what a cached ``stream=True`` call returns, live or replayed: an async
iterator of the SDK's own chunk types that also closes like the SDK's stream (``aclose()``,
``close()``, ``async with``) and carries ``_hidden_params``. :class:`BlockingStream` is its
blocking form (the adapter's :class:`~aiocache_llm._sync.BlockingIterator`).

:class:`Broadcast` is one upstream stream shared by every concurrent identical request: a pump
task reads the upstream as fast as it sends, and each subscriber reads the chunks in order from
the first, so a late subscriber still sees the whole answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any

from .._sync import BlockingIterator
from .._sync import iterate_in_workers as aiter_blocking

__all__ = ["BlockingStream", "Broadcast", "CachedStream", "aiter_blocking", "replay"]


class CachedStream:
    """An async stream of chunks from a cached call (live from upstream, or replayed)."""

    def __init__(self, chunks: AsyncIterator[Any], hidden_params: dict[str, Any]) -> None:
        self._chunks = chunks
        self._hidden_params = hidden_params

    def __aiter__(self) -> CachedStream:
        return self

    async def __anext__(self) -> Any:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop reading; an upstream stream nobody else reads is cancelled."""
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()

    close = aclose

    async def __aenter__(self) -> CachedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class BlockingStream(BlockingIterator[Any]):
    """The blocking form of a :class:`CachedStream`: a plain iterator of chunks."""

    def __init__(self, stream: CachedStream) -> None:
        super().__init__(stream)
        self._hidden_params = stream._hidden_params

    def __enter__(self) -> BlockingStream:
        return self


async def replay(chunks: Iterable[Any]) -> AsyncIterator[Any]:
    """Yield stored chunks one by one, as a stream would."""
    for chunk in chunks:
        yield chunk


class Broadcast:
    """One upstream stream read once and delivered, chunk by chunk, to many subscribers.

    ``on_complete(objects, dumped)`` runs once the upstream finished (to store the stream), and
    ``on_finish(broadcast)`` once it ended in any way, both before the subscribers see the end.
    If every subscriber leaves early, the upstream is cancelled and nothing is stored.
    """

    def __init__(
        self,
        source: Any,
        dump: Callable[[Any], Any],
        on_complete: Callable[[list[Any], list[Any]], Coroutine[Any, Any, None]],
        on_finish: Callable[[Broadcast], None] | None = None,
    ) -> None:
        self.objects: list[Any] = []
        self.dumped: list[Any] = []
        self.done = False
        self.error: BaseException | None = None
        self._source = source
        self._dump = dump
        self._on_complete = on_complete
        self._on_finish = on_finish
        self._changed = asyncio.Event()
        self._subscribers = 0
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for chunk in self._source:
                self.objects.append(chunk)
                self.dumped.append(self._dump(chunk))
                self._wake()
            await self._on_complete(self.objects, self.dumped)
        except BaseException as exc:
            self.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self.done = True
            if self._on_finish is not None:
                self._on_finish(self)  # before any subscriber sees the end
            self._wake()
            closer = getattr(self._source, "aclose", None) or getattr(self._source, "close", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    result = closer()
                    if asyncio.iscoroutine(result):
                        await result

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def subscribe(self, convert: Callable[[int], Any]) -> AsyncIterator[Any]:
        """Yield ``convert(i)`` for every chunk ``i`` from the first, then end (or raise)."""
        self._subscribers += 1
        i = 0
        try:
            while True:
                if i < len(self.objects):
                    yield convert(i)
                    i += 1
                elif self.done:
                    if self.error is not None:
                        raise self.error
                    return
                else:
                    await self._changed.wait()
        finally:
            self._subscribers -= 1
            if self._subscribers == 0 and not self.done:
                self._task.cancel()

    async def wait(self) -> None:
        """Wait until the upstream finished (successfully or not)."""
        await asyncio.wait({self._task})
