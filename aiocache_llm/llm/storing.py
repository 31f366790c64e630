"""The store side of a miss: what is kept of an upstream answer (only a complete one, see
:mod:`.completeness`), a stream passed through to every identical caller and stored once whole,
and the store itself with its ttl (extended for stale serving) and the semantic index."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..storage.base import USE_DEFAULT, TTLArg
from .answers import without_usage
from .completeness import incomplete_answer, incomplete_stream
from .context import CHAT_FAMILIES, CallContext, maybe_await
from .controls import Controls
from .entries import StoredEntry, make_entry
from .events import now
from .keys import call_family
from .lease import release_lease
from .responses import dump, type_name
from .singleflight import Flight
from .stale import grace
from .streaming import Broadcast, CachedStream

if TYPE_CHECKING:
    from .handler import Handler

__all__ = ["entry_of", "lead_stream", "store_entry"]

logger = logging.getLogger("aiocache_llm.llm.handler")


def entry_of(handler: Handler, ctx: CallContext, result: Any) -> StoredEntry | None:
    """The entry that keeps the plain answer ``result``; ``None`` when it must not be
    kept (see :mod:`.completeness`) or cannot be read (counted, never raised)."""
    try:
        ctx.shape.learn(result)
        data = dump(result)
        why = incomplete_answer(data)
        if why is None:
            return make_entry("response", data, type_name(result))
    except Exception as exc:  # the caller gets its answer all the same
        handler.report.store_failed(ctx.key, ctx.call_type, exc)
        return None
    handler.report.not_stored(ctx.key, ctx.call_type, why)
    return None


def lead_stream(
    handler: Handler, ctx: CallContext, flight: Flight, source: Any, leased: bool, called: float
) -> CachedStream:
    """Pass the upstream's stream through as it arrives, shared with identical callers,
    and store it once complete."""
    key = ctx.key

    unreadable: list[Exception] = []

    def dump_chunk(chunk: Any) -> Any:
        try:
            return dump(chunk)
        except Exception as exc:  # the chunk still goes to the caller, unstored
            unreadable.append(exc)
            return chunk

    async def complete(objects: list[Any], dumped: list[Any]) -> None:
        ctx.upstream_latency = now() - called
        try:
            if unreadable:
                raise unreadable[0]
            why = incomplete_stream(dumped)
            if why is not None:  # passed through as it came, never kept
                handler.report.not_stored(key, ctx.call_type, why)
                return
            entry = make_entry("chunks", dumped, type_name(objects[0]))
            ctx.shape.learn(objects[0], chunk=True)
        except Exception as exc:  # the caller got its stream all the same
            handler.report.store_failed(key, ctx.call_type, exc)
            return
        flight.resolve(entry)
        if not ctx.controls.no_store:
            await store_entry(handler, ctx, entry)

    def finish(broadcast: Broadcast) -> None:
        if broadcast.error is not None:
            flight.fail(broadcast.error)
        flight.resolve(None)
        handler.flights.finish(key, flight)

    broadcast = Broadcast(source, dump_chunk, complete, finish)
    flight.broadcast = broadcast
    chunks = without_usage(
        ctx, broadcast.subscribe(int), broadcast.dumped, broadcast.objects.__getitem__
    )
    if leased:

        async def release() -> None:
            await broadcast.wait()
            await release_lease(handler, ctx)

        handler.spawn(release())
    return CachedStream(chunks, {"cache_hit": False, "cache_key": key})


def _ttl(handler: Handler, controls: Controls, entry: StoredEntry) -> tuple[TTLArg, StoredEntry]:
    """The ttl to store ``entry`` with, and the entry (marked with its fresh-until time
    when it is kept past its ttl for stale serving)."""
    ttl: TTLArg = USE_DEFAULT if controls.ttl is None else controls.ttl
    kept = max(grace(handler, controls))
    if kept:
        seconds = handler.backend.default_ttl if controls.ttl is None else controls.ttl
        if seconds is not None:
            return seconds + kept, {**entry, "f": time.time() + seconds}
    return ttl, entry


async def store_entry(handler: Handler, ctx: CallContext, entry: StoredEntry) -> None:
    key, kwargs = ctx.key, ctx.kwargs
    if ctx.budget is not None and ctx.budget <= 0:  # a failed lookup spent it all
        logger.debug("the call's cache deadline is spent: the answer is not stored")
        return
    ttl, entry = _ttl(handler, ctx.controls, entry)
    start = now()
    try:
        if handler.custom_add is not None:
            await maybe_await(handler.custom_add(entry, **kwargs, cache_key=key))
        else:
            await handler.within(ctx, handler.backend.async_set_cache(key, entry, ttl))
        if handler.semantic and call_family(ctx.call_type) in CHAT_FAMILIES:
            if not handler._warmed:
                await handler._warm()
            scope = handler._scope(kwargs, ctx.controls)
            query = handler.semantic_query(ctx.call_type, ctx.keyed, scope)
            if query is not None:
                store = handler.backend.async_semantic_store  # type: ignore[attr-defined]
                await handler.within(ctx, store(ctx.call_type, query, scope, entry, ttl))
    except Exception as exc:  # a store's or an add_cache hook's failure never fails the call
        handler.report.backend_error("store", key, ctx.call_type, exc)
        return
    handler.report.event("store", key, ctx.call_type, start, upstream=ctx.upstream_latency)
