"""Deletes and flushes of a layered cache: L1 first, then L2, then the other processes (the
deletion's version travels with its announcement, so an older copy anywhere is dropped)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..core.to_the_end import to_the_end
from ..errors import BackendError
from ._invalidation import InvalidationChannel

if TYPE_CHECKING:
    from .dual import DualCache

__all__ = ["layered_delete", "layered_flush"]


async def layered_delete(dual: DualCache, key: str) -> None:
    """Drop ``key`` from L1, delete it from L2 with a version, and announce the deletion."""
    dual._state.invalidate([(key, 0)])  # also refuses the fills of reads begun before
    dual._reads.forget([key])
    l2 = dual.redis_cache
    if l2 is None:
        return
    channel = dual.channel
    if channel is not None:
        channel.ensure_listening()
    announcement, sent = None, time.time()
    try:
        if dual._versioned:
            if isinstance(channel, InvalidationChannel):
                announcement = channel.announcement([key])
            version = await l2.async_delete_versioned(  # type: ignore[attr-defined]
                key, announcement=announcement
            )
        else:
            await l2.async_delete_cache(key)
            version = 0
    except BaseException as exc:  # cancelled or failed, perhaps applied
        dual._write_failed([key], exc, "delete")
        return
    dual._state.invalidate([(key, version)])
    if channel is not None:
        if announcement is not None:
            channel.announced([(key, version)], sent)  # type: ignore[union-attr]
        else:
            await channel.announce([(key, version)])


async def layered_flush(dual: DualCache) -> None:
    """Empty L1 and L2 (this cache's namespace) and tell the other processes. Once begun, the
    flush and its announcement run to the end even if the caller is cancelled, and a flush that
    fails midway is announced too: part of L2 may be gone either way."""
    dual._state.reset()
    dual._reads.clear()
    if dual.redis_cache is not None:
        await to_the_end(_flush_l2(dual))


async def _flush_l2(dual: DualCache) -> None:
    assert dual.redis_cache is not None
    try:
        await dual.redis_cache.async_flush_cache()
    except BackendError as exc:
        dual._l2_failed("flush", exc)
    finally:
        dual._state.reset()  # reads that raced the flush do not fill L1
        if dual.channel is not None:
            await dual.channel.announce_flush()
