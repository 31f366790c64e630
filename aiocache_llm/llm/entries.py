"""The stored entry: one format, one version, for every call shape and every backend.

An entry is plain JSON data (so every backend's codec stores it as is)::

    {"v": 1,                 ENTRY_VERSION
     "t": 1700000000.0,      created (wall clock), for s-maxage
     "kind": "response",     "response" (one answer), "chunks" (a stream), "embedding" (one input)
     "type": "openai...:ChatCompletion" or None,   the stored type's name (None: plain data)
     "data": {...},          the answer, its chunks, or one embedding item
     "f": 1700000600.0,      optional: fresh until (kept past its ttl for stale serving)
     "model": "...",         optional: an embedding's model
     "tokens": 3}            optional: an embedding input's share of the prompt tokens

:func:`parse_entry` is the one reader: anything else found under a key — an older version,
garbage, a foreign value — is a miss.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any, Final, Literal, Protocol, TypeAlias

__all__ = [
    "ANSWER_KINDS",
    "EMBEDDING_KINDS",
    "ENTRY_VERSION",
    "EntryKind",
    "StoredEntry",
    "make_entry",
    "parse_entry",
]

#: The version of the entry format. Raising it turns every older entry into a miss.
ENTRY_VERSION: Final = 1

EntryKind: TypeAlias = Literal["response", "chunks", "embedding"]
#: A stored entry (see the module's documentation for its fields).
StoredEntry: TypeAlias = dict[str, Any]

#: The entry kinds an answer key may hold, and those an embedding key may hold.
ANSWER_KINDS: Final = frozenset({"response", "chunks"})
EMBEDDING_KINDS: Final = frozenset({"embedding"})
_ANY_KIND: Final = ANSWER_KINDS | EMBEDDING_KINDS


class Counters(Protocol):
    """Where a malformed entry is counted (a backend's ``stats``)."""

    corrupt_reads: int


_NUMBER: Final = (float, int)
#: entry kind -> the classes its data may have (a transcription can answer plain text)
_DATA: Final[dict[Any, tuple[type, ...]]] = {
    "response": (dict, list, str),
    "chunks": (list,),
    "embedding": (dict,),
}


def make_entry(kind: EntryKind, data: Any, type_: str | None) -> StoredEntry:
    """A new entry of ``kind`` holding ``data`` (of the stored type ``type_``), created now."""
    return {"v": ENTRY_VERSION, "t": time.time(), "kind": kind, "type": type_, "data": data}


def parse_entry(
    raw: Any,
    max_age: float | None = None,
    kinds: Collection[str] = _ANY_KIND,
    stats: Counters | None = None,
) -> StoredEntry | None:
    """``raw`` if it is a well-formed entry of this version, of one of ``kinds``, at most
    ``max_age`` seconds old, else ``None``. Anything found that is not such an entry (garbage,
    another version, an entry of another kind: a chat answer under an embedding key) is
    counted in ``stats.corrupt_reads``."""
    if raw is None:
        return None
    if raw.__class__ is not dict or raw.get("v") != ENTRY_VERSION:
        return _malformed(stats)
    created, data, type_, kind = raw.get("t"), raw.get("data"), raw.get("type"), raw.get("kind")
    if kind.__class__ is not str or kind not in kinds:
        return _malformed(stats)
    if created.__class__ not in _NUMBER or data.__class__ not in _DATA[kind]:
        return _malformed(stats)
    if type_ is not None and type_.__class__ is not str:
        return _malformed(stats)
    fresh_until = raw.get("f")
    if fresh_until is not None and fresh_until.__class__ not in _NUMBER:
        return _malformed(stats)
    if raw.get("tokens", 0).__class__ is not int:
        return _malformed(stats)
    if max_age is not None and time.time() - created > max_age:
        return None
    return raw


def _malformed(stats: Counters | None) -> StoredEntry | None:
    """Count a malformed entry; it reads as a miss (``None``)."""
    if stats is not None:
        stats.corrupt_reads += 1
    return None
