"""A stored entry turned into the caller's own answer, in the caller's own types.

Every answer is decoded anew from the entry (:func:`~aiocache_llm.llm.responses.rebuild`), so a
caller that changes its answer never changes what the next caller gets. The call's
:class:`~aiocache_llm.llm.responses.Shape` picks the types: one entry serves a dict-returning
function, an SDK client, a stream or a plain call. A stream gets its usage chunk only if it
asked for one (``stream_options.include_usage``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from typing import Any

from .context import CallContext
from .entries import StoredEntry
from .responses import (
    aggregate_chunks,
    is_usage_chunk,
    mark,
    rebuild,
    response_to_chunks,
    type_name,
    usage_tokens,
)
from .streaming import Broadcast, CachedStream, replay

__all__ = ["answer_from_entry", "entry_tokens", "follow_stream", "usage_source", "without_usage"]

logger = logging.getLogger("aiocache_llm.llm.handler")


def answer_from_entry(
    ctx: CallContext,
    entry: StoredEntry,
    similarity: float | None,
    facts: Mapping[str, Any] | None = None,
) -> Any:
    """The caller's own answer (a fresh object) from ``entry``. Raises whatever rebuilding a
    damaged entry raises; the caller treats that as a miss."""
    kind, data, stored = entry["kind"], entry["data"], entry["type"]
    if ctx.stream:
        hidden: dict[str, Any] = {"cache_hit": True, "cache_key": ctx.key, **(facts or {})}
        if similarity is not None:
            hidden["similarity"] = similarity
        chunk_type = ctx.shape.chunk_type(kind, stored)
        if kind == "response":
            data = response_to_chunks(data, ctx.wants_usage)
        elif not ctx.wants_usage:
            data = [chunk for chunk in data if not is_usage_chunk(chunk)]
        chunks = [rebuild(chunk, chunk_type) for chunk in data]
        return CachedStream(replay(chunks), hidden)
    if kind == "chunks":
        data = aggregate_chunks(data)
    answer = rebuild(data, ctx.shape.response_type(kind, stored))
    return mark(answer, ctx.key, True, similarity, facts)


async def without_usage(
    ctx: CallContext,
    indexes: AsyncGenerator[Any, None],
    dumped: list[Any],
    convert: Callable[[int], Any],
) -> AsyncIterator[Any]:
    """``convert(i)`` for every chunk ``i``, leaving out the usage chunk unless it was asked
    for. Closing it closes ``indexes`` at once (a caller that leaves is gone at once)."""
    async with aclosing(indexes):
        async for i in indexes:
            if ctx.wants_usage or not is_usage_chunk(dumped[i]):
                yield convert(i)


def follow_stream(ctx: CallContext, broadcast: Broadcast, facts: Mapping[str, Any]) -> Any:
    """A stream in flight, replayed to another caller chunk by chunk as it arrives, each chunk
    decoded anew in the caller's types."""
    shape, dumped, objects = ctx.shape, broadcast.dumped, broadcast.objects

    def convert(i: int) -> Any:
        return rebuild(dumped[i], shape.chunk_type("chunks", type_name(objects[i])))

    return CachedStream(
        without_usage(ctx, broadcast.subscribe(int), dumped, convert),
        {"cache_hit": True, "cache_key": ctx.key, **facts},
    )


def usage_source(entry: StoredEntry) -> Any:
    """The stored data that carries ``entry``'s usage: the response, or a stream's last chunk."""
    data = entry["data"]
    if entry["kind"] != "chunks":
        return data
    return data[-1] if data else None


def entry_tokens(entry: StoredEntry) -> int:
    """The tokens a hit on ``entry`` saved: its usage's total (a stream's last usage), or an
    embedding input's share."""
    if entry["kind"] == "embedding":
        tokens = entry.get("tokens", 0)
        return tokens if isinstance(tokens, int) else 0
    return usage_tokens(entry["data"])
