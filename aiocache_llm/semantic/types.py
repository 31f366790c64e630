"""The semantic cache types: the rows the facade's one type table takes from this layer."""

from __future__ import annotations

from typing import Final

from ..storage._registry import TypeRow

__all__ = ["L2_TYPES", "SEMANTIC_TYPES"]

#: type -> (module, class, extra that installs its client)
SEMANTIC_TYPES: Final[dict[str, TypeRow]] = {
    "redis-semantic": ("aiocache_llm.semantic.redis", "RedisSemanticCache", "semantic"),
    "qdrant-semantic": ("aiocache_llm.semantic.qdrant", "QdrantSemanticCache", "qdrant"),
    "local-semantic": ("aiocache_llm.semantic.local", "LocalSemanticCache", "local-embeddings"),
    "dual-semantic": ("aiocache_llm.semantic.dual", "DualSemanticCache", "semantic"),
}

#: The types a DualSemanticCache can put behind its in-memory level.
L2_TYPES: Final = ("redis-semantic", "qdrant-semantic")
