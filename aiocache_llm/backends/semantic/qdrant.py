"""QdrantSemanticCache (kept importable here): see :mod:`aiocache_llm.semantic.qdrant`."""

from ...semantic.qdrant import DEFAULT_COLLECTION_NAME, QdrantSemanticCache, quantization_config

__all__ = ["DEFAULT_COLLECTION_NAME", "QdrantSemanticCache", "quantization_config"]
