"""LocalSemanticCache (``local-semantic``): the embedded semantic cache, nothing to run.

Exact keys in an :class:`~aiocache_llm.storage.memory.InMemoryCache` (or any ``store``),
similar questions in an :class:`~aiocache_llm.semantic.memory_index.InProcessIndex` (numpy
brute force per scope) and, by default, the offline all-MiniLM-L6-v2
:class:`~aiocache_llm.semantic.embedders.LocalEmbedder` with the precision guard. A lookup costs one
embedding (batched with concurrent lookups, and skipped for a text embedded before) plus well
under a millisecond of search at 10,000 entries.
"""

from __future__ import annotations

from typing import Any

from ..storage.base import BaseCache
from ..storage.memory import InMemoryCache
from .cache import DEFAULT_SIMILARITY_THRESHOLD, SemanticCache
from .embedders import Embedder
from .guard import PrecisionGuard
from .memory_index import InProcessIndex

__all__ = ["LocalSemanticCache"]


class LocalSemanticCache(SemanticCache):
    """A semantic cache in this process (see the module doc).

    Parameters: ``similarity_threshold``, ``embedder`` (default ``"local"``),
    ``precision_guard``, ``max_entries`` (of the index), ``default_ttl`` and ``store`` (the
    exact-key cache; default an in-memory one of ``max_entries``); the other keyword
    arguments are :class:`SemanticCache`'s
    (``context_threshold``, ``turn_threshold``, ``verifier``, ``verify_below``,
    ``verify_sample``, ``max_error_rate``, ``query_extractor``, ...).
    """

    backend_name = "local-semantic"
    index: InProcessIndex

    def __init__(
        self,
        similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        *,
        embedder: Embedder | str | None = "local",
        precision_guard: PrecisionGuard | bool | None = True,
        max_entries: int = 100_000,
        default_ttl: float | None = None,
        store: BaseCache | None = None,
        **options: Any,
    ) -> None:
        if store is None:
            store = InMemoryCache(max_size_in_memory=max_entries, default_ttl=default_ttl)
        index = InProcessIndex(max_entries)
        threshold = similarity_threshold
        super().__init__(
            store, index, embedder, precision_guard, similarity_threshold=threshold, **options
        )
        if default_ttl is not None:
            self.default_ttl = default_ttl

    def _parts(self) -> str:
        return repr(self.index)
