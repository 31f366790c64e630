"""The semantic cache's shared names (kept importable here): see
:mod:`aiocache_llm.semantic.cache` and :mod:`aiocache_llm.semantic.index`."""

from ...llm.requests import QueryExtractor, query_text, split_question
from ...semantic import DEFAULT_SIMILARITY_THRESHOLD, DEFAULT_VERIFY_BELOW, SemanticCache
from ...semantic.cache import SemanticHit, Verifier, make_embedder
from ...semantic.index import Match, Scope, similarity_from_cosine_distance

#: The old name of :class:`~aiocache_llm.semantic.index.Match`.
Candidate = Match

__all__ = [
    "DEFAULT_SIMILARITY_THRESHOLD",
    "DEFAULT_VERIFY_BELOW",
    "Candidate",
    "QueryExtractor",
    "Scope",
    "SemanticCache",
    "SemanticHit",
    "Verifier",
    "make_embedder",
    "query_text",
    "similarity_from_cosine_distance",
    "split_question",
]
