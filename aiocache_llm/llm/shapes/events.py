"""Streams of typed events (OpenAI Responses, Anthropic Messages): one stored name, each event
rebuilt as its own type.

A chat stream has one chunk type; a Responses or Messages stream sends a dozen event types,
told apart by their ``type`` field (a discriminated union in each SDK). Such a stream is stored
under the name of its union, and on a hit every event is rebuilt as the member its ``type``
names — the same classes, with the same fields, that the SDK yields on a miss.
"""

from __future__ import annotations

import enum
import importlib
import typing
from typing import Any, Final

__all__ = ["EventUnion", "union_for", "union_named"]

#: the unions whose members stream as events: "module:name"
UNIONS: Final = (
    "openai.types.responses.response_stream_event:ResponseStreamEvent",
    "litellm.types.llms.openai:ResponsesAPIStreamingResponse",
    "anthropic.types.raw_message_stream_event:RawMessageStreamEvent",
)

_unions: dict[str, EventUnion | None] = {}
_member_of: dict[type, str | None] = {}


class EventUnion:
    """A discriminated union of event classes, rebuilt by the ``type`` of each event."""

    def __init__(self, name: str, members: list[type]) -> None:
        self.name = name
        self.members = frozenset(members)
        self.by_type: dict[str, type] = {}
        self.fallback: type | None = None
        for member in members:
            values = _literal_values(member)
            if not values and self.fallback is None:
                self.fallback = member
            for value in values:
                self.by_type.setdefault(value, member)

    def member(self, data: Any) -> type | None:
        kind = data.get("type") if isinstance(data, dict) else None
        return self.by_type.get(kind, self.fallback) if isinstance(kind, str) else self.fallback

    def model_validate(self, data: Any) -> Any:
        member = self.member(data)
        if member is None:
            raise ValueError(f"no member of {self.name} has type {data.get('type')!r}")
        return member.model_validate(data)  # type: ignore[attr-defined]

    def model_construct(self, **data: Any) -> Any:
        member = self.member(data)
        if member is None:
            return data
        return member.model_construct(**data)  # type: ignore[attr-defined]


def _literal_values(member: type) -> list[str]:
    fields = getattr(member, "model_fields", {})
    field = fields.get("type")
    if field is None:
        return []
    annotation = field.annotation
    if typing.get_origin(annotation) is not typing.Literal:
        return []
    return [
        str(v.value) if isinstance(v, enum.Enum) else str(v) for v in typing.get_args(annotation)
    ]


def _flatten(annotation: Any) -> list[type]:
    """The classes of a (possibly ``Annotated``, possibly nested) union."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if args and origin is not typing.Literal:
        out: list[type] = []
        for arg in args:
            out.extend(_flatten(arg))
        return out
    return [annotation] if isinstance(annotation, type) else []


def union_named(name: str) -> EventUnion | None:
    """The union stored as ``name`` (``None`` if it is not one of :data:`UNIONS` or its
    package is not installed)."""
    if name in _unions:
        return _unions[name]
    union: EventUnion | None = None
    if name in UNIONS:
        module_name, _, attr = name.partition(":")
        try:
            annotation = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            annotation = None
        members = [m for m in _flatten(annotation) if hasattr(m, "model_validate")]
        if members:
            union = EventUnion(name, members)
    _unions[name] = union
    return union


def union_for(cls: type) -> str | None:
    """The name of the event union ``cls`` is a member of, if any."""
    try:
        return _member_of[cls]
    except KeyError:
        pass
    found: str | None = None
    package = cls.__module__.partition(".")[0]
    for name in UNIONS:
        if name.partition(".")[0] != package:
            continue
        union = union_named(name)
        if union is not None and cls in union.members and cls is not union.fallback:
            found = name
            break
    _member_of[cls] = found
    return found
