"""What makes a cache semantic, declared by type: the LLM layer asks ``isinstance``, never
``hasattr``, so a renamed method is an error at class creation, not semantic caching silently
turned off."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from ..middleware import ComposedCache
from ..storage.base import USE_DEFAULT, BaseCache, TTLArg

if TYPE_CHECKING:
    from .cache import Names, SemanticHit
    from .query import SemanticQuery

__all__ = ["SemanticBackend", "semantic_backend"]


class SemanticBackend(abc.ABC):
    """A cache that also answers a request with the stored answer of a similar one."""

    @abc.abstractmethod
    async def async_semantic_lookup(
        self, call_type: str, query: SemanticQuery, scope: Names
    ) -> SemanticHit | None:
        """The stored answer of the most similar request in the same scope, or ``None``."""

    @abc.abstractmethod
    async def async_semantic_store(
        self,
        call_type: str,
        query: SemanticQuery,
        scope: Names,
        value: Any,
        ttl: TTLArg = USE_DEFAULT,
    ) -> None:
        """Store ``value`` as the answer of ``query`` for later similar requests."""

    @abc.abstractmethod
    async def async_semantic_delete(self, key: str) -> None:
        """Delete the semantic entry of the answer stored under the exact ``key``."""

    @abc.abstractmethod
    def semantic_binding(self, call_type: str, query: SemanticQuery, scope: Names) -> str | None:
        """What the answer of ``query`` is stored as is bound to (its exact key and question:
        the encryption middleware seals it with this as associated data); ``None``: nothing
        is stored for it."""

    @abc.abstractmethod
    async def semantic_warm(self) -> None:
        """Load the embedding model now (outside any deadline)."""


def semantic_backend(cache: BaseCache) -> SemanticBackend | None:
    """The semantic cache ``cache`` is, or is built around (through middleware), else ``None``."""
    while isinstance(cache, ComposedCache):
        cache = cache.inner
    return cache if isinstance(cache, SemanticBackend) else None
