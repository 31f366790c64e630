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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterable
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

    ``on_complete(objects, dumped)`` runs once the upstream finished and a subscriber read the
    whole stream (to store it), and ``on_finish(broadcast)`` once it ended in any way, both
    before the subscribers see the end. If every subscriber leaves before the end, the upstream
    is cancelled and nothing is stored, even when the upstream had sent everything already; a
    stream nobody reads to its end within ``UNREAD_WAIT`` seconds of its last chunk is not
    stored either (its readers still get all of it).
    """

    #: seconds a finished upstream stream waits for a reader to reach its end
    UNREAD_WAIT: float = 300.0

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
        #: the upstream sent its last chunk (the stream is complete once a subscriber read it)
        self.exhausted = False
        #: every subscriber left before the end: the upstream is being cancelled
        self.abandoned = False
        self.error: BaseException | None = None
        self._source = source
        self._dump = dump
        self._on_complete = on_complete
        self._on_finish = on_finish
        self._changed = asyncio.Event()
        self._subscribers = 0
        loop = asyncio.get_running_loop()
        self._read_to_end: asyncio.Future[None] = loop.create_future()
        self._task = loop.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for chunk in self._source:
                self.objects.append(chunk)
                self.dumped.append(self._dump(chunk))
                self._wake()
            await self._close_source()  # its connection is free while readers catch up
            self.exhausted = True
            self._wake()
            try:  # a stream its every reader left is never stored
                await asyncio.wait_for(asyncio.shield(self._read_to_end), self.UNREAD_WAIT)
            except asyncio.TimeoutError:
                return  # nobody read it to its end: passed through, not stored
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
            await self._close_source()

    async def _close_source(self) -> None:
        source, self._source = self._source, None
        closer = getattr(source, "aclose", None) or getattr(source, "close", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                result = closer()
                if asyncio.iscoroutine(result):
                    await result

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def subscribe(self, convert: Callable[[int], Any]) -> AsyncGenerator[Any, None]:
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
                    if self.exhausted and not self._read_to_end.done():
                        self._read_to_end.set_result(None)
                    await self._changed.wait()
        finally:
            self._subscribers -= 1
            if self._subscribers == 0 and not self.done:
                self.abandoned = True
                self._task.cancel()

    async def wait(self) -> None:
        """Wait until the upstream finished (successfully or not)."""
        await asyncio.wait({self._task})
