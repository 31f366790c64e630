"""Streams of raw server-sent-event frames (``bytes``), as ``litellm.anthropic_messages``
streams: stored as text, replayed as the same bytes, read as events for a plain answer."""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["SSE_BYTES", "SSEBytes", "events_of_frames", "is_frames"]

#: the stored type name of a raw SSE frame
SSE_BYTES: Final = "aiocache_llm:sse-bytes"


class SSEBytes:
    """Rebuilds a stored frame (text) as the bytes the stream sent."""

    @staticmethod
    def model_validate(data: Any) -> bytes:
        if not isinstance(data, str):
            raise TypeError("a stored SSE frame must be text")
        return data.encode()

    @staticmethod
    def model_construct(**data: Any) -> bytes:
        raise TypeError("a stored SSE frame must be text")


def is_frames(chunks: list[Any]) -> bool:
    return bool(chunks) and all(isinstance(chunk, str) for chunk in chunks)


def events_of_frames(frames: list[str]) -> list[dict[str, Any]]:
    """The JSON events carried by the ``data:`` lines of ``frames`` (``[DONE]`` and other
    non-JSON data are left out)."""
    events: list[dict[str, Any]] = []
    for block in "".join(frames).replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(
            line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")
        )
        if not data:
            continue
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events
