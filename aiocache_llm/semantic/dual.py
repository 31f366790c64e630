"""DualSemanticCache: the layered cache (:class:`~aiocache_llm.storage.dual.DualCache`) with a
semantic cache as its L2.

Exact-key operations are the layered cache's own: an in-memory L1 in front of the semantic
cache's exact store, coherent across processes when that store is Redis (writes and deletes
announced, L1 fills never outliving the L2 entry). An identical request (same question in the
same scope, so the same exact key) is answered from L1 before any embedding is computed or any
server is asked; everything else goes to the semantic cache.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from ..storage._registry import type_class
from ..storage.base import USE_DEFAULT, TTLArg
from ..storage.dual import DualCache
from ..storage.memory import InMemoryCache
from .backend import SemanticBackend
from .cache import Names, SemanticCache, SemanticHit
from .query import SemanticQuery
from .types import L2_TYPES, SEMANTIC_TYPES

__all__ = ["DualSemanticCache"]


class DualSemanticCache(DualCache, SemanticBackend):
    """``semantic_cache`` (or one built from ``semantic_type`` and the other keyword
    arguments) behind an in-memory L1 of ``max_size_in_memory`` entries, each kept at most
    ``in_memory_ttl`` seconds (``None``: the layered cache's default bound).
    """

    backend_name = "dual-semantic"

    def __init__(
        self,
        semantic_cache: SemanticCache | None = None,
        *,
        semantic_type: str = "redis-semantic",
        max_size_in_memory: int = 1000,
        in_memory_ttl: float | None = 300.0,
        default_ttl: float | None = None,
        **semantic_params: Any,
    ) -> None:
        if semantic_cache is None:
            cls = type_class(SEMANTIC_TYPES, semantic_type, L2_TYPES)
            built = cls(default_ttl=default_ttl, **semantic_params)
            assert isinstance(built, SemanticCache)
            semantic_cache = built
        elif semantic_params:
            raise ConfigurationError("give semantic_cache or its parameters, not both")
        assert semantic_cache is not None
        super().__init__(
            InMemoryCache(max_size_in_memory=max_size_in_memory),
            semantic_cache,
            default_in_memory_ttl=in_memory_ttl,
            default_redis_ttl=default_ttl
            if default_ttl is not None
            else semantic_cache.default_ttl,
        )
        self.semantic: SemanticCache = semantic_cache
        self.in_memory_ttl = in_memory_ttl

    @property
    def l1(self) -> InMemoryCache:
        """The in-memory level."""
        return self.in_memory_cache

    # -- semantic API ---------------------------------------------------------------------
    async def async_semantic_lookup(
        self, call_type: str, request: SemanticQuery, scope: Names
    ) -> SemanticHit | None:
        """An identical request from memory, else the semantic cache."""
        key = request.key
        value = await self.async_get_cache(key, local_only=True)
        if value is not None:
            return SemanticHit(value, 1.0, key, request.question)
        return await self.semantic.async_semantic_lookup(call_type, request, scope)

    async def async_semantic_store(
        self,
        call_type: str,
        request: SemanticQuery,
        scope: Names,
        value: Any,
        ttl: TTLArg = USE_DEFAULT,
    ) -> None:
        """Store ``value`` for similar requests, and under its exact key unless the layered
        cache holds it there already (the LLM layer writes the exact key first)."""
        seconds = self.resolve_ttl(ttl)
        await self.semantic.async_semantic_store(call_type, request, scope, value, seconds)
        key = request.key
        if await self.async_get_cache(key, local_only=True) is None:
            await self.async_set_cache(key, value, seconds)

    def semantic_binding(self, call_type: str, request: SemanticQuery, scope: Names) -> str | None:
        """The binding of the entry ``request`` is stored as (see :class:`SemanticCache`)."""
        return self.semantic.semantic_binding(call_type, request, scope)

    async def async_semantic_delete(self, key: str) -> None:
        """Delete the semantic entry of the answer stored under ``key``."""
        await self.semantic.async_semantic_delete(key)

    async def async_delete_cache(self, key: str) -> None:
        """Delete ``key`` (both levels, announced) and its semantic entry."""
        await super().async_delete_cache(key)
        await self.semantic.async_semantic_delete(key)

    async def semantic_warm(self) -> None:
        """Load the embedding model now (see :meth:`SemanticCache.semantic_warm`)."""
        await self.semantic.semantic_warm()

    def __repr__(self) -> str:
        return f"DualSemanticCache({self.semantic!r}, l1={self.in_memory_cache!r})"
