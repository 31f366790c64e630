"""Semantic caches: answer a request with the stored answer of a similar one.

``RedisSemanticCache`` (``redis-semantic``), ``QdrantSemanticCache`` (``qdrant-semantic``) and
``DualSemanticCache`` (``dual-semantic``: an in-process exact-match L1 in front of either) live
in their own modules and import their client library only there.
"""

from .base import DEFAULT_SIMILARITY_THRESHOLD, SemanticCache, SemanticHit

__all__ = ["DEFAULT_SIMILARITY_THRESHOLD", "SemanticCache", "SemanticHit"]
