"""Stale entries: kept a grace window past their ttl.

An entry stored with a grace window carries ``"f"``, the time it stops being fresh. Past it,
the entry is served at once, flagged stale, while one caller refreshes it in the background
(stale-while-revalidate), or served if the upstream fails (stale-if-error); otherwise it is a
miss.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .context import CallContext
from .controls import Controls
from .entries import StoredEntry

if TYPE_CHECKING:
    from .handler import Handler

__all__ = ["grace", "serve_stale"]

logger = logging.getLogger("aiocache_llm.llm.handler")


def grace(handler: Handler, controls: Controls) -> tuple[float, float]:
    """(stale-if-error, stale-while-revalidate) seconds for a call (0: off)."""
    sie = handler.stale_if_error if controls.stale_if_error is None else controls.stale_if_error
    swr = (
        handler.stale_while_revalidate
        if controls.stale_while_revalidate is None
        else controls.stale_while_revalidate
    )
    return sie or 0.0, swr or 0.0


async def serve_stale(
    handler: Handler,
    ctx: CallContext,
    entry: StoredEntry,
    similarity: float | None,
    start: float,
) -> Any:
    """Answer ``ctx`` with ``entry``, past its fresh-until time (see the module's text)."""
    stale_if_error, while_revalidate = grace(handler, ctx.controls)
    overdue = time.time() - entry["f"]
    if overdue <= while_revalidate:
        answer = handler.answer(ctx, entry, similarity)
        if answer is not None:
            _refresh(handler, ctx)
            return _stale_hit(handler, answer, ctx, start, "stale-while-revalidate")
    if overdue > stale_if_error:
        return await handler.fly(ctx, start, "stale")
    try:
        return await handler.fly(ctx, start, "stale")
    except Exception:  # the upstream failed: the stale entry is served instead
        answer = handler.answer(ctx, entry, similarity)
        if answer is None:
            raise
        return _stale_hit(handler, answer, ctx, None, "stale-if-error")


def _stale_hit(
    handler: Handler, answer: Any, ctx: CallContext, start: float | None, reason: str
) -> Any:
    hidden = getattr(answer, "_hidden_params", None)
    if isinstance(hidden, dict):
        hidden["stale"] = True
    handler.events.counters["stale_hit"] += 1
    handler.report.event("hit", ctx.key, ctx.call_type, start, reason=reason)
    return answer


def _refresh(handler: Handler, ctx: CallContext) -> None:
    """Refresh ``ctx.key`` in the background, unless a refresh or a call for it runs."""
    key = ctx.key
    if key in handler.refreshing or handler.flights.join(key) is not None:
        return
    handler.refreshing.add(key)
    fresh = {k: v for k, v in ctx.kwargs.items() if k not in ("stream", "stream_options")}
    background = replace(ctx, kwargs=fresh, stream=False, budget=handler.deadline)

    async def refresh() -> None:
        try:
            await handler.lead(background)
        except Exception as exc:  # the stale answer was served; the next call retries
            logger.debug("a background refresh failed (%s)", type(exc).__name__)
        finally:
            handler.refreshing.discard(key)

    handler.spawn(refresh())
