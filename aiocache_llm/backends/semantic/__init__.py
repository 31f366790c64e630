"""Semantic caches (kept importable here): see :mod:`aiocache_llm.semantic`."""

from ...semantic import DEFAULT_SIMILARITY_THRESHOLD, SemanticCache, SemanticHit

__all__ = ["DEFAULT_SIMILARITY_THRESHOLD", "SemanticCache", "SemanticHit"]
