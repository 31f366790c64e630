"""Reads and writes under a key of this library the caller names, as ``litellm.Cache`` takes
``cache_key=``.

``cache.add_cache(result, cache_key=cache.get_cache_key(**call))`` stores ``result`` under that
key and ``cache.get_cache(cache_key=key)`` reads it back, with no call arguments to key on. The
entry is this library's (bound to its key, complete answers only, the cache's TTL and failure
policy), so ``get_cache(**call)`` of the same call finds it too. (A key of LiteLLM's shape goes
to the cache's LiteLLM view instead, see :mod:`aiocache_llm.facade.litellm_methods`.)

A cache with an ``identity`` function refuses a named key: the identity could not be bound to
it, and one identity's entry must never be served to another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError
from .context import CallContext
from .controls import Controls
from .responses import dump
from .result_types import AS_STORED
from .storing import entry_of, store_entry

if TYPE_CHECKING:
    from .handler import Handler

__all__ = ["lookup_under_key", "store_under_key"]


def _context(handler: Handler, key: str, call_type: str, controls: Controls) -> CallContext:
    if handler.identity is not None:
        raise InvalidArgumentError(
            "a cache with an identity function takes no cache_key: pass the call's arguments"
        )
    ctx = CallContext(call_type, _no_upstream, {}, controls, AS_STORED, {}, key=key)
    ctx.budget = handler.deadline
    return ctx


async def _no_upstream(**_: Any) -> None:
    return None


async def store_under_key(
    handler: Handler, key: str, call_type: str, result: Any, controls: Controls
) -> None:
    """Store ``result`` under ``key`` (only a complete answer; ``no-store`` keeps nothing)."""
    ctx = _context(handler, key, call_type, controls)
    if controls.no_store:
        return
    entry = entry_of(handler, ctx, result)
    if entry is not None:
        await store_entry(handler, ctx, entry)


async def lookup_under_key(handler: Handler, key: str, call_type: str, controls: Controls) -> Any:
    """The answer stored under ``key``, as a dict, or ``None``."""
    ctx = _context(handler, key, call_type, controls)
    if controls.no_cache:
        return None
    found = await handler.exact_lookup(ctx)
    if found is None:
        return None
    answer = handler.answer(ctx, found, None)
    return None if answer is None else dump(answer)
