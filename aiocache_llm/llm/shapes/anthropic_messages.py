"""The Anthropic Messages API's stream: its events as one message, and a message as its events.

A streamed ``messages.create`` sends ``message_start`` (the message, without content), for each
content block ``content_block_start`` / ``content_block_delta``... / ``content_block_stop``, then
``message_delta`` (stop reason, output usage) and ``message_stop``. Folding the deltas gives the
message a plain call answers; a stored message is sent back as those events, one delta a block.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = ["MESSAGE", "STREAM", "is_message", "is_stream", "stream_to_message", "to_stream"]

MESSAGE: Final = "anthropic.types.message:Message"
STREAM: Final = "anthropic.types.raw_message_stream_event:RawMessageStreamEvent"


def is_stream(chunks: list[Any]) -> bool:
    first = chunks[0] if chunks else None
    return isinstance(first, dict) and first.get("type") == "message_start"


def is_message(response: Any) -> bool:
    return (
        isinstance(response, dict)
        and response.get("type") == "message"
        and isinstance(response.get("content"), list)
    )


def stream_to_message(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The message a finished stream of events describes."""
    message: dict[str, Any] = dict(chunks[0]["message"])
    usage = dict(message.get("usage") or {})
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, str] = {}
    for event in chunks[1:]:
        kind, index = event.get("type"), event.get("index", 0)
        if kind == "content_block_start":
            blocks[index] = dict(event.get("content_block") or {})
        elif kind == "content_block_delta":
            _apply(blocks.setdefault(index, {}), event.get("delta") or {}, partial_json, index)
        elif kind == "content_block_stop" and index in partial_json:
            text = partial_json.pop(index)
            blocks[index]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            for name in ("stop_reason", "stop_sequence"):
                if name in delta:
                    message[name] = delta[name]
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    message["content"] = [blocks[i] for i in sorted(blocks)]
    message["usage"] = usage
    return message


def _apply(
    block: dict[str, Any], delta: dict[str, Any], partial_json: dict[int, str], index: int
) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = (block.get("text") or "") + (delta.get("text") or "")
    elif kind == "input_json_delta":
        partial_json[index] = partial_json.get(index, "") + (delta.get("partial_json") or "")
    elif kind == "thinking_delta":
        block["thinking"] = (block.get("thinking") or "") + (delta.get("thinking") or "")
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature")
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta.get("citation"))


def to_stream(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a stream of ``message`` sends."""
    usage = dict(message.get("usage") or {})
    start_usage = {**usage, "output_tokens": 0}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**start, "usage": start_usage}}
    ]
    for index, block in enumerate(message.get("content") or ()):
        empty, deltas = _block_events(block)
        events.append({"type": "content_block_start", "index": index, "content_block": empty})
        events.extend(
            {"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas
        )
        events.append({"type": "content_block_stop", "index": index})
    final = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    events.append(
        {
            "type": "message_delta",
            "delta": final,
            "usage": {"output_tokens": usage.get("output_tokens", 0)},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _block_events(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kind = block.get("type")
    if kind == "text":
        return {**block, "text": ""}, [{"type": "text_delta", "text": block.get("text", "")}]
    if kind in ("tool_use", "server_tool_use"):
        arguments = json.dumps(block.get("input") or {})
        return {**block, "input": {}}, [{"type": "input_json_delta", "partial_json": arguments}]
    if kind == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")}]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return {**block, "thinking": "", "signature": ""}, deltas
    return block, []
