"""DualSemanticCache: an in-process exact-match L1 in front of a semantic cache.

An identical request (same question text in the same scope) is answered from process memory
before any embedding is computed or any server is asked; everything else goes to the semantic
cache. Entries stored through this object fill the L1. Exact-key operations read the L1 first
and write both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...codec import Entry
from ...errors import ConfigurationError
from .._registry import SEMANTIC_TYPES, backend_type_class
from ..base import USE_DEFAULT, BaseCache, IncrementOp, TTLArg
from ..memory import InMemoryCache
from .base import SemanticCache, SemanticHit

__all__ = ["DualSemanticCache"]


class DualSemanticCache(BaseCache):
    """``semantic_cache`` (or one built from ``semantic_type`` and the other keyword
    arguments) behind an :class:`~aiocache_llm.backends.memory.InMemoryCache` of
    ``max_size_in_memory`` entries kept at most ``in_memory_ttl`` seconds.
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
        super().__init__(default_ttl=default_ttl)
        if semantic_cache is None:
            cls = backend_type_class(semantic_type, SEMANTIC_TYPES)
            built = cls(default_ttl=default_ttl, **semantic_params)
            assert isinstance(built, SemanticCache)
            semantic_cache = built
        elif semantic_params:
            raise ConfigurationError("give semantic_cache or its parameters, not both")
        self.semantic: SemanticCache = semantic_cache
        self.l1 = InMemoryCache(max_size_in_memory=max_size_in_memory, default_ttl=in_memory_ttl)
        self.in_memory_ttl = in_memory_ttl

    def _l1_ttl(self, ttl: TTLArg) -> float | None:
        seconds = self.resolve_ttl(ttl)
        if self.in_memory_ttl is None:
            return seconds
        return self.in_memory_ttl if seconds is None else min(seconds, self.in_memory_ttl)

    def _l1_key(
        self, call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]
    ) -> str | None:
        question, entry_scope = self.semantic.question_and_scope(call_type, request, scope)
        if question is None:
            return None
        return "semantic:" + self.semantic.entry_id(entry_scope, question)

    # -- semantic API ---------------------------------------------------------------------
    async def async_semantic_lookup(
        self, call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]
    ) -> SemanticHit | None:
        """An identical request from memory, else the semantic cache.

        The memory holds the requests stored through this object (for at most their TTL and
        ``in_memory_ttl``); a repeated paraphrase is not embedded again either, as embeddings
        are cached.
        """
        l1_key = self._l1_key(call_type, request, scope)
        if l1_key is not None:
            hit = self.l1.get_cache(l1_key)
            if hit is not None:
                return SemanticHit(hit["value"], hit["similarity"], hit["key"])
        return await self.semantic.async_semantic_lookup(call_type, request, scope)

    async def async_semantic_store(
        self,
        call_type: str,
        request: Mapping[str, Any],
        scope: Mapping[str, str],
        value: Any,
        ttl: TTLArg = USE_DEFAULT,
    ) -> None:
        from ...keys import make_key

        await self.semantic.async_semantic_store(call_type, request, scope, value, ttl)
        l1_key = self._l1_key(call_type, request, scope)
        if l1_key is not None:
            key = make_key(
                call_type,
                request,
                namespace=scope.get("namespace"),
                identity=scope.get("identity"),
            )
            entry = {"value": value, "key": key, "similarity": 1.0}
            self.l1.set_cache(l1_key, entry, ttl=self._l1_ttl(ttl))

    # -- exact-key contract ---------------------------------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        value = self.l1.get_cache(key)
        if value is not None:
            return value
        value = await self.semantic.async_get_cache(key)
        if value is not None:
            remaining = await self.semantic.async_get_ttl(key)
            ttl = self.in_memory_ttl if remaining is None else remaining
            if self.in_memory_ttl is not None and ttl is not None:
                ttl = min(ttl, self.in_memory_ttl)
            if ttl is None or ttl > 0:
                self.l1.set_cache(key, value, ttl=ttl)
        return value

    async def async_get_entry(self, key: str) -> Entry | None:
        """The semantic cache's entry (with its times): the memory does not keep them."""
        return await self.semantic.async_get_entry(key)

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        return await self.semantic.async_batch_get_entries(keys)

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        return [await self.async_get_cache(key) for key in keys]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self.semantic.async_set_cache(key, value, self.resolve_ttl(ttl))
        self.l1.set_cache(key, value, ttl=self._l1_ttl(ttl))

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        pairs = list(items)
        await self.semantic.async_set_cache_pipeline(pairs, self.resolve_ttl(ttl))
        self.l1.set_cache_pipeline(pairs, ttl=self._l1_ttl(ttl))

    async def async_increment(self, key: str, value: float, ttl: TTLArg = USE_DEFAULT) -> float:
        self.l1.delete_cache(key)
        ttl = ttl if ttl is not USE_DEFAULT else self.default_ttl
        return await self.semantic.async_increment(key, value, ttl)

    async def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        from ..base import normalize_increments

        checked = normalize_increments(ops)
        for key, _, _ in checked:
            self.l1.delete_cache(key)
        return await self.semantic.async_increment_pipeline(
            [(k, by, self.default_ttl if t is USE_DEFAULT else t) for k, by, t in checked]
        )

    async def async_delete_cache(self, key: str) -> None:
        self.l1.delete_cache(key)
        await self.semantic.async_delete_cache(key)

    async def async_flush_cache(self) -> None:
        self.l1.flush_cache()
        await self.semantic.async_flush_cache()

    async def async_get_ttl(self, key: str) -> float | None:
        return await self.semantic.async_get_ttl(key)

    async def async_ping(self) -> bool:
        return await self.semantic.async_ping()

    async def async_disconnect(self) -> None:
        await self.semantic.async_disconnect()

    def __repr__(self) -> str:
        return f"DualSemanticCache({self.semantic!r}, l1={self.l1!r})"
