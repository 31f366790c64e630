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
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "ENTRY_VERSION",
    "EntryKind",
    "StoredEntry",
    "entry_tokens",
    "make_entry",
    "parse_entry",
    "usage_source",
    "usage_tokens",
]

#: The version of the entry format. Raising it turns every older entry into a miss.
ENTRY_VERSION: Final = 1

EntryKind: TypeAlias = Literal["response", "chunks", "embedding"]
#: A stored entry (see the module's documentation for its fields).
StoredEntry: TypeAlias = dict[str, Any]

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


def parse_entry(raw: Any, max_age: float | None = None) -> StoredEntry | None:
    """``raw`` if it is a well-formed entry of this version at most ``max_age`` seconds old,
    else ``None``."""
    if raw is None or raw.__class__ is not dict or raw.get("v") != ENTRY_VERSION:
        return None
    created, data, type_ = raw.get("t"), raw.get("data"), raw.get("type")
    kind = raw.get("kind")
    shapes = _DATA.get(kind, ()) if kind.__class__ is str else ()
    if created.__class__ not in _NUMBER or data.__class__ not in shapes:
        return None
    if type_ is not None and type_.__class__ is not str:
        return None
    fresh_until = raw.get("f")
    if fresh_until is not None and fresh_until.__class__ not in _NUMBER:
        return None
    if raw.get("tokens", 0).__class__ is not int:
        return None
    if max_age is not None and time.time() - created > max_age:
        return None
    return raw


def usage_tokens(data: Any) -> int:
    """The total tokens of a stored response (or of the final event of a stream), or 0."""
    if isinstance(data, dict):
        usage = data.get("usage")
        if not isinstance(usage, dict) and isinstance(data.get("response"), dict):
            usage = data["response"].get("usage")  # a Responses stream's final event
        if isinstance(usage, dict):
            total = usage.get("total_tokens")
            if isinstance(total, int):
                return total
            counts = [usage.get("input_tokens"), usage.get("output_tokens")]  # Anthropic
            return sum(c for c in counts if isinstance(c, int))
    return 0


def usage_source(entry: StoredEntry) -> Any:
    """The stored data that carries ``entry``'s usage: the response, or a stream's last chunk
    with usage (its last chunk when none has any)."""
    data = entry["data"]
    if entry["kind"] != "chunks":
        return data
    for chunk in reversed(data):
        if usage_tokens(chunk):
            return chunk
    return data[-1] if data else None


def entry_tokens(entry: StoredEntry) -> int:
    """The tokens a hit on ``entry`` saved: its usage's total (a stream's last usage), or an
    embedding input's share."""
    if entry["kind"] == "embedding":
        tokens = entry.get("tokens", 0)
        return tokens if isinstance(tokens, int) else 0
    return usage_tokens(usage_source(entry))
