"""The process-wide default cache that wrapped functions given no cache use at call time.

:func:`~aiocache_llm.facade.enable_cache` and :func:`~aiocache_llm.facade.update_cache` set it;
:func:`disable_cache` clears it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["default_cache", "disable_cache", "set_default_cache"]

#: read on every call of a wrapper given no cache (a module attribute: one lookup)
current: Cache | None = None


def default_cache() -> Cache | None:
    """The process-wide default cache, or ``None`` when caching is disabled."""
    return current


def set_default_cache(cache: Cache | None) -> None:
    """Make ``cache`` the process-wide default (``None``: no caching by default)."""
    global current
    current = cache


def disable_cache() -> None:
    """Stop caching by default (wrapped calls go straight upstream)."""
    set_default_cache(None)
