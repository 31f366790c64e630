"""The semantic layer: answer a request with the stored answer of a similar one.

:class:`SemanticCache` composes an exact-key store (any backend), a vector index
(:class:`VectorIndex`: :mod:`.memory_index` in process, :mod:`.redis_index` on Redis with
vector search, :mod:`.qdrant_index` on Qdrant), an embedder and the precision guard
(:mod:`.guard`), with an optional verifier for borderline similarities and an error budget.
``RedisSemanticCache`` (``redis-semantic``, :mod:`.redis`), ``QdrantSemanticCache``
(``qdrant-semantic``, :mod:`.qdrant`), ``LocalSemanticCache`` (``local-semantic``,
:mod:`.local`: everything in process, the embedded default) and ``DualSemanticCache``
(``dual-semantic``: an in-process exact-match L1 in front of either, :mod:`.dual`) build one;
each imports its client library only in its own module. The LLM layer hands every lookup a
:class:`SemanticQuery` (:mod:`.query`): the semantic layer never reads a request.
"""

from .backend import SemanticBackend, semantic_backend
from .cache import (
    DEFAULT_CONTEXT_THRESHOLD,
    DEFAULT_SIMILARITY_THRESHOLD,
    DEFAULT_TURN_THRESHOLD,
    DEFAULT_VERIFY_BELOW,
    SemanticCache,
    SemanticHit,
    Verifier,
    make_embedder,
)
from .index import Match, Record, Scope, VectorIndex
from .memory_index import InProcessIndex
from .query import SemanticQuery, StoredQuestion, Turn

__all__ = [
    "DEFAULT_CONTEXT_THRESHOLD",
    "DEFAULT_TURN_THRESHOLD",
    "DEFAULT_SIMILARITY_THRESHOLD",
    "InProcessIndex",
    "SemanticQuery",
    "StoredQuestion",
    "Turn",
    "DEFAULT_VERIFY_BELOW",
    "Match",
    "Record",
    "Scope",
    "SemanticBackend",
    "SemanticCache",
    "SemanticHit",
    "VectorIndex",
    "Verifier",
    "make_embedder",
    "semantic_backend",
]
