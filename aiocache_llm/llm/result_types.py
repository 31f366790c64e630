"""The result types one call site hands back, whatever type its entry was stored as.

A function that returns dicts gets dicts, an SDK client its own models, a stream its chunk
type: the :class:`Shape` of each call site says which, declared by the function's return
annotation and then learned from what its upstream returns.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

from .responses import (
    CHUNK_OF,
    CachedDict,
    chunk_type_for,
    response_type_for,
    type_name,
    type_name_of,
)

__all__ = ["AS_STORED", "UNKNOWN", "Shape"]


class _Unknown:
    """The type of :data:`UNKNOWN`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


#: A result type not declared and not learned yet.
UNKNOWN: Final = _Unknown()
TypeSlot = str | None | _Unknown


class Shape:
    """The result types one call site hands back, whatever type the stored entry came from.

    ``response`` and ``chunk`` are stored type names (``None``: plain data, dicts) or
    :data:`UNKNOWN`. They come from the function's return annotation (:meth:`of`) and are
    then learned from what its upstream returns; while unknown, the entry's own type is used.
    """

    __slots__ = ("chunk", "response")

    def __init__(self, response: TypeSlot = UNKNOWN, chunk: TypeSlot = UNKNOWN) -> None:
        self.response: TypeSlot = response
        self.chunk: TypeSlot = chunk

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> Shape:
        """The shape ``fn``'s return annotation declares (``UNKNOWN`` where it is unclear)."""
        try:
            annotation = typing.get_type_hints(fn).get("return")
        except Exception:  # a foreign annotation that does not resolve says nothing
            return cls()
        if annotation is None:
            return cls()
        options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        responses: set[TypeSlot] = set()
        chunks: set[TypeSlot] = set()
        for option in options:
            origin = typing.get_origin(option) or option
            if origin in (dict, Mapping) or option is CachedDict:
                responses.add(None)
            elif _is_model(option):
                responses.add(type_name_of(option))
            elif isinstance(origin, type) and hasattr(origin, "__aiter__"):
                items = typing.get_args(option)
                chunks.add(type_name_of(items[0]) if len(items) == 1 and _is_model(items[0])
                           else UNKNOWN)  # fmt: skip
            else:
                responses.add(UNKNOWN)
        response = responses.pop() if len(responses) == 1 else UNKNOWN
        chunk = chunks.pop() if len(chunks) == 1 else UNKNOWN
        return cls(response, chunk)

    def learn(self, obj: Any, *, chunk: bool = False) -> None:
        """Remember the type of a response (or of a chunk) the upstream just returned."""
        if chunk:
            self.chunk = type_name(obj)
        else:
            self.response = type_name(obj)

    def response_type(self, kind: str, stored: str | None) -> str | None:
        """The type to rebuild a whole answer as, from an entry of ``kind`` and type ``stored``."""
        if not isinstance(self.response, _Unknown):
            return self.response
        return response_type_for(stored) if kind == "chunks" else stored

    def chunk_type(self, kind: str, stored: str | None) -> str | None:
        """The type to rebuild stream chunks as, from an entry of ``kind`` and type ``stored``."""
        if not isinstance(self.chunk, _Unknown):
            return self.chunk
        if self.response is None:
            return None
        if isinstance(self.response, str) and self.response in CHUNK_OF:
            return CHUNK_OF[self.response]
        return stored if kind == "chunks" else chunk_type_for(stored)


#: The shape of a call site that declares nothing: entries come back as they were stored.
AS_STORED: Final = Shape()


def _is_union(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin is typing.Union or origin is types.UnionType


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and hasattr(obj, "model_validate")
