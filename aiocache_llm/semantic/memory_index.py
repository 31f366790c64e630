"""InProcessIndex: a vector index in this process's memory, numpy brute force per scope.

The embedded default of the semantic cache: no server, no client library beyond numpy. Entries
are kept per :class:`~aiocache_llm.semantic.index.Scope` (the exact-match filter), each scope
as one float32 matrix, so a search is one matrix-vector product over that scope's entries only
(10,000 entries of 384 dimensions: well under a millisecond). Deleting an entry swaps the last
row into its place. ``max_entries`` bounds the whole index: past it the oldest entry goes.
The index lives as long as the process; it is not shared with other processes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, MissingDependencyError
from .index import Match, Record, Scope

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["InProcessIndex"]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:
        raise MissingDependencyError("InProcessIndex", "local-embeddings") from exc
    return numpy


@dataclass
class _Partition:
    """The entries of one scope: a matrix of unit rows and, per row, its entry id."""

    matrix: npt.NDArray[np.float32]
    ids: list[str] = field(default_factory=list)


class InProcessIndex:
    """A :class:`~aiocache_llm.semantic.index.VectorIndex` in memory (see the module doc)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError("max_entries must be a positive int")
        self.max_entries = max_entries
        self.dimension: int | None = None
        self._np = _numpy()
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._rows: dict[str, int] = {}
        self._parts: dict[Scope, _Partition] = {}

    def __len__(self) -> int:
        return len(self._records)

    async def upsert(self, entry_id: str, record: Record) -> None:
        np = self._np
        vector = np.asarray(record.vector, dtype=np.float32)
        if self.dimension is None:
            self.dimension = int(vector.shape[0])
        elif vector.shape[0] != self.dimension:
            raise ConfigurationError(
                f"the index holds vectors of dimension {self.dimension}, not {vector.shape[0]}"
            )
        self._remove(entry_id)
        while len(self._records) >= self.max_entries:
            self._remove(next(iter(self._records)))
        part = self._parts.get(record.scope)
        if part is None:
            part = self._parts[record.scope] = _Partition(
                np.empty((16, self.dimension), dtype=np.float32)
            )
        row = len(part.ids)
        if row == part.matrix.shape[0]:
            grown = np.empty((row * 2, self.dimension), dtype=np.float32)
            grown[:row] = part.matrix[:row]
            part.matrix = grown
        norm = float(np.linalg.norm(vector))
        part.matrix[row] = vector / norm if norm else vector
        part.ids.append(entry_id)
        self._rows[entry_id] = row
        self._records[entry_id] = record

    def _remove(self, entry_id: str) -> None:
        record = self._records.pop(entry_id, None)
        if record is None:
            return
        part = self._parts[record.scope]
        row = self._rows.pop(entry_id)
        last = len(part.ids) - 1
        if row != last:
            moved = part.ids[last]
            part.matrix[row] = part.matrix[last]
            part.ids[row] = moved
            self._rows[moved] = row
        part.ids.pop()
        if not part.ids:
            del self._parts[record.scope]

    async def search(self, vector: list[float], scope: Scope, limit: int) -> list[Match]:
        part = self._parts.get(scope)
        if part is None:
            return []
        np = self._np
        count = len(part.ids)
        query = np.asarray(vector, dtype=np.float32)
        if query.shape[0] != part.matrix.shape[1]:
            return []
        sims = part.matrix[:count] @ query
        take = min(count, max(limit, 1) * 2)  # a few extra, for expired entries
        top = np.argpartition(-sims, take - 1)[:take] if take < count else np.arange(count)
        now = time.time()
        found: list[Match] = []
        for row in top[np.argsort(-sims[top], kind="stable")]:
            entry_id = part.ids[int(row)]
            record = self._records[entry_id]
            if record.expires_at is not None and record.expires_at <= now:
                continue
            similarity = min(1.0, max(0.0, float(sims[row])))
            found.append(Match(similarity, record.key, record.question, record.blob))
            if len(found) == limit:
                break
        return found

    async def delete(self, entry_id: str) -> None:
        self._remove(entry_id)

    async def clear(self) -> None:
        self._records.clear()
        self._rows.clear()
        self._parts.clear()

    async def drop(self) -> None:
        await self.clear()
        self.dimension = None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"InProcessIndex(entries={len(self._records)}, max_entries={self.max_entries})"
