"""The OpenAI Responses API's stream: its events as one response, and a response as its events.

A streamed ``responses.create`` ends with ``response.completed`` (or ``.incomplete`` /
``.failed``), which carries the whole response: that is the stream's answer to a plain call.
The other way, a stored response is sent as the events the API streams for it: created,
in progress, each output item added / its text or arguments in one delta / done, completed.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["RESPONSE", "STREAM", "is_response", "is_stream", "stream_to_response", "to_stream"]

RESPONSE: Final = "openai.types.responses.response:Response"
STREAM: Final = "openai.types.responses.response_stream_event:ResponseStreamEvent"
LITELLM_RESPONSE: Final = "litellm.types.llms.openai:ResponsesAPIResponse"
LITELLM_STREAM: Final = "litellm.types.llms.openai:ResponsesAPIStreamingResponse"

_FINAL: Final = ("response.completed", "response.incomplete", "response.failed")


def is_stream(chunks: list[Any]) -> bool:
    first = chunks[0] if chunks else None
    kind = first.get("type") if isinstance(first, dict) else None
    return isinstance(kind, str) and kind.startswith("response.")


def is_response(response: Any) -> bool:
    return isinstance(response, dict) and response.get("object") == "response"


def stream_to_response(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The response a finished stream ended with."""
    for event in reversed(chunks):
        if event.get("type") in _FINAL and isinstance(event.get("response"), dict):
            return dict(event["response"])
    raise ValueError("the stored Responses stream has no final response event")


def to_stream(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a stream of ``response`` sends (numbered by ``sequence_number``)."""
    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": pending},
        {"type": "response.in_progress", "response": pending},
    ]
    for index, item in enumerate(response.get("output") or ()):
        events.extend(_item_events(index, item))
    final = {"incomplete": "response.incomplete", "failed": "response.failed"}
    events.append(
        {"type": final.get(str(response.get("status")), "response.completed"), "response": response}
    )
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


def _item_events(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    kind = item.get("type")
    started = {**item, "status": "in_progress"}
    at = {"item_id": item.get("id"), "output_index": index}
    events: list[dict[str, Any]] = []
    if kind == "message":
        started["content"] = []
    elif kind == "function_call":
        started["arguments"] = ""
    events.append({"type": "response.output_item.added", "output_index": index, "item": started})
    if kind == "message":
        for position, part in enumerate(item.get("content") or ()):
            events.extend(_part_events({**at, "content_index": position}, part))
    elif kind == "function_call":
        arguments = item.get("arguments") or ""
        events.append({"type": "response.function_call_arguments.delta", **at, "delta": arguments})
        events.append(
            {
                "type": "response.function_call_arguments.done",
                **at,
                "arguments": arguments,
                "name": item.get("name"),
            }
        )
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def _part_events(at: dict[str, Any], part: dict[str, Any]) -> list[dict[str, Any]]:
    kind = part.get("type")
    if kind == "output_text":
        empty = {**part, "text": "", "annotations": []}
        text = part.get("text") or ""
        logprobs = part.get("logprobs") or []
        middle = [
            {"type": "response.output_text.delta", **at, "delta": text, "logprobs": logprobs},
            {"type": "response.output_text.done", **at, "text": text, "logprobs": logprobs},
        ]
    elif kind == "refusal":
        empty = {**part, "refusal": ""}
        refusal = part.get("refusal") or ""
        middle = [
            {"type": "response.refusal.delta", **at, "delta": refusal},
            {"type": "response.refusal.done", **at, "refusal": refusal},
        ]
    else:
        empty, middle = part, []
    return [
        {"type": "response.content_part.added", **at, "part": empty},
        *middle,
        {"type": "response.content_part.done", **at, "part": part},
    ]
