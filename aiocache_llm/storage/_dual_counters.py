"""Counters and sets of a layered cache: L2 is authoritative and counters are not kept in L1
(an increment drops the key's L1 copy), except for ``local_only`` increments or a cache with no
L2; a set-add goes to both levels and other processes drop their copy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import BackendError
from .base import IncrementOp, TTLArg, normalize_increments

if TYPE_CHECKING:
    from .dual import DualCache

__all__ = ["layered_increments", "layered_sadd"]


async def layered_increments(
    dual: DualCache, ops: Iterable[IncrementOp], local_only: bool, refresh_ttl: bool = False
) -> list[float]:
    """Apply ``ops`` on L2 (L1 alone if ``local_only`` or there is none); ``refresh_ttl``
    comes with a single increment, which then sets its key's TTL even if it exists."""
    checked = normalize_increments(ops)
    if local_only or dual.redis_cache is None:
        if refresh_ttl:
            ((key, by, ttl),) = checked
            return [dual.in_memory_cache.increment_cache(key, by, ttl, refresh_ttl=True)]
        return dual.in_memory_cache.increment_pipeline(checked)
    l2_ops = [(key, by, dual.resolve_ttl(ttl)) for key, by, ttl in checked]
    dual._state.drop(key for key, _, _ in l2_ops)
    try:
        if refresh_ttl:
            ((key, by, seconds),) = l2_ops
            l2 = dual.redis_cache
            return [await l2.async_increment(key, by, seconds, refresh_ttl=True)]
        return await dual.redis_cache.async_increment_pipeline(l2_ops)
    except BackendError as exc:
        dual._l2_failed_quietly("increment", exc)
        raise


async def layered_sadd(
    dual: DualCache, key: str, members: Iterable[str], ttl: TTLArg, local_only: bool
) -> int:
    """Add ``members`` to the set ``key`` in L1 and (unless ``local_only``) L2; how many were
    new in the level that holds the truth (L2 when used). An L2 failure fails open."""
    values = [str(member) for member in members]
    seconds = dual.resolve_ttl(ttl)
    added = await dual.in_memory_cache.async_set_cache_sadd(key, values, dual._state.ttl(seconds))
    sadd = getattr(dual.redis_cache, "async_set_cache_sadd", None)
    if local_only or sadd is None:
        return added
    try:
        added = int(await sadd(key, values, seconds))
    except BackendError as exc:  # fail open, as every L2 write
        dual._l2_failed("set-add", exc)
        return added
    if dual.channel is not None:
        await dual.channel.announce([(key, 0)])  # other processes drop their copy
    return added
