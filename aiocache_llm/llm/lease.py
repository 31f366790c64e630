"""Cross-process single-flight: a short lease in the backend.

A miss first takes a lease of ``lease_ttl`` seconds (an atomic increment); a process that finds
the lease taken polls the backend for the holder's entry for up to ``lease_wait`` seconds, then
calls upstream itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..errors import CacheError
from .context import CallContext
from .entries import ANSWER_KINDS, StoredEntry, parse_entry

if TYPE_CHECKING:
    from .handler import Handler

__all__ = ["release_lease", "take_lease"]

logger = logging.getLogger("aiocache_llm.llm.handler")

_LEASE = ":lease"
_LEASE_POLL = 0.05


async def take_lease(handler: Handler, ctx: CallContext) -> tuple[bool, StoredEntry | None]:
    """Take the lease on ``ctx.key`` -> (True, None); or wait for its holder's entry ->
    (False, entry), or (False, None) after ``lease_wait`` seconds."""
    key, backend = ctx.key, handler.backend
    try:
        holders = await handler.within(
            ctx, backend.async_increment(key + _LEASE, 1, handler.lease_ttl)
        )
    except CacheError as exc:
        handler.report.backend_error("lease", key, ctx.call_type, exc)
        return False, None
    if holders == 1:
        return True, None
    deadline = time.monotonic() + handler.lease_wait
    while time.monotonic() < deadline:
        await asyncio.sleep(_LEASE_POLL)
        try:
            raw = await handler.within(ctx, backend.async_get_cache(key))
        except CacheError as exc:
            handler.report.backend_error("lookup", key, ctx.call_type, exc)
            return False, None
        entry = parse_entry(raw, ctx.controls.max_age, ANSWER_KINDS, backend.stats)
        if entry is not None:
            return False, entry
    return False, None


async def release_lease(handler: Handler, ctx: CallContext) -> None:
    """Give the lease on ``ctx.key`` back (it expires on its own if this fails)."""
    try:
        await handler.backend.async_delete_cache(ctx.key + _LEASE)
    except CacheError:  # the lease expires on its own
        logger.debug("could not release a single-flight lease", exc_info=True)
