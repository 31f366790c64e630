"""The vector index of a semantic cache: what it stores of an answer and the protocol it keeps.

An index holds, per stored answer, the question's vector, the exact-match scope it may be
found in, the question text (for the precision guard), the exact key of the answer and the
answer itself as an encoded blob (:mod:`aiocache_llm.core.codec`, which carries its expiry), so
one search returns everything a hit needs. Indexes know nothing of requests, embedders or
guards: :class:`~aiocache_llm.semantic.cache.SemanticCache` does that once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Match", "Record", "Scope", "VectorIndex", "similarity_from_cosine_distance"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The exact-match filter of an entry: three hex digests (safe as tags and payload)."""

    context: str
    namespace: str
    identity: str

    def as_dict(self) -> dict[str, str]:
        return {"ctx": self.context, "ns": self.namespace, "uid": self.identity}


@dataclass(frozen=True, slots=True)
class Record:
    """One stored answer as an index keeps it (``expires_at``: wall clock, ``None``: never)."""

    vector: list[float]
    scope: Scope
    question: str
    key: str
    blob: bytes
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Match:
    """An entry found near a query vector: its cosine similarity in [0, 1], what it holds, and
    the id it was found under (``None``: the index does not say)."""

    similarity: float
    key: str
    question: str
    blob: bytes
    entry_id: str | None = None


@runtime_checkable
class VectorIndex(Protocol):
    """Nearest-neighbour search over :class:`Record` entries, filtered by scope.

    Entry ids are opaque strings chosen by the caller (storing under an id again replaces the
    entry). Every method raises an :mod:`aiocache_llm.errors` type on a storage failure.
    """

    async def upsert(self, entry_id: str, record: Record) -> None:
        """Store (or replace) one entry; the index is created on first use, of the vector's
        dimension, and an existing one of another dimension is a ``ConfigurationError``."""
        ...

    async def search(self, vector: list[float], scope: Scope, limit: int) -> list[Match]:
        """Up to ``limit`` unexpired entries of ``scope`` nearest to ``vector``."""
        ...

    async def delete(self, entry_id: str) -> None:
        """Remove one entry; a missing one is not an error."""
        ...

    async def clear(self) -> None:
        """Remove every entry of this index (and nothing else)."""
        ...

    async def drop(self) -> None:
        """Drop the index structure itself (it is made again on next use)."""
        ...

    async def ping(self) -> bool:
        """Whether the index's server answers."""
        ...

    async def close(self) -> None:
        """Release this event loop's connections (the index may be used again)."""
        ...


def similarity_from_cosine_distance(distance: float) -> float:
    """Cosine similarity in [0, 1] from a cosine distance (``1 - cos``)."""
    return min(1.0, max(0.0, 1.0 - distance))
