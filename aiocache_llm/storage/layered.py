"""The in-memory L1 the ``Cache`` facade puts in front of remote backends.

``Cache(type="redis" | "redis-cluster" | "s3" | "gcs" | "azure-blob", ...)`` builds a
:class:`~aiocache_llm.storage.dual.DualCache` around the remote backend: coherent through
Redis pub/sub (sharded pub/sub on a cluster), bounded by the L1 TTL on object stores.
``l1=False`` turns it off; ``l1={"default_in_memory_ttl": 10, "max_size_in_memory": 5000}``
tunes it. ``type="dual"`` takes the L2's (Redis) settings directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..errors import CacheError, ConfigurationError
from .base import BaseCache

__all__ = ["DEFAULT_L1_SIZE", "L1_OPTIONS", "L1_TYPES", "dual_options", "with_l1"]

#: Backend types that get an L1 by default.
L1_TYPES: Final = frozenset({"redis", "redis-cluster", "s3", "gcs", "azure-blob"})
#: Settings of the L1 (LiteLLM's DualCache names), in ``l1={...}`` or beside ``type="dual"``.
L1_OPTIONS: Final = frozenset(
    {
        "default_in_memory_ttl",
        "max_size_in_memory",
        "max_size_per_item",
        "redis_batch_cache_expiry",
        "invalidation_channel",
        "invalidation",
    }
)
DEFAULT_L1_SIZE = 1000


def dual_options(l1: object, given: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The L1 settings from an ``l1`` parameter (``None`` for no L1), plus any L1 settings
    popped from ``given`` (the ``type="dual"`` form)."""
    if l1 is False or l1 is None:
        return None
    if l1 is True:
        options: dict[str, Any] = {}
    elif isinstance(l1, Mapping):
        options = dict(l1)
    else:
        raise ConfigurationError("l1 must be True, False or a dict of L1 settings")
    if given is not None:
        options.update({k: given.pop(k) for k in list(given) if k in L1_OPTIONS})
    unknown = sorted(set(options) - L1_OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"unknown l1 setting(s) {unknown}; known: {', '.join(sorted(L1_OPTIONS))}"
        )
    return options


def with_l1(l2: BaseCache, options: Mapping[str, Any]) -> BaseCache:
    """``l2`` behind an in-memory L1 that raises L2 failures, for the facade's guard to apply
    its failure policy to."""
    from .dual import DualCache
    from .memory import InMemoryCache

    memory = {k: options[k] for k in ("max_size_in_memory", "max_size_per_item") if k in options}
    memory.setdefault("max_size_in_memory", DEFAULT_L1_SIZE)
    dual = {k: v for k, v in options.items() if k not in memory}
    try:
        cache = DualCache(InMemoryCache(**memory), l2, fail_open=False, **dual)
    except (CacheError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid l1 settings ({type(exc).__name__})") from exc
    cache.backend_name = l2.backend_name  # events and reports name the store
    return cache
