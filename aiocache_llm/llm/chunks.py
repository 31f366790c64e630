"""Streams as stored: a list of chunks (or events). :func:`aggregate_chunks` turns chat or text
chunks into one response (tool-call deltas included) and :func:`response_to_chunks` does the
reverse, so a streamed answer can serve a plain call and the other way round; the event streams
of the Responses and Messages APIs do the same through :mod:`aiocache_llm.llm.shapes`."""

from __future__ import annotations

from typing import Any

from . import shapes
from .shapes import anthropic_messages

__all__ = ["aggregate_chunks", "is_usage_chunk", "response_to_chunks", "usage_tokens"]


def usage_tokens(data: Any) -> int:
    """The total tokens of a stored response or stream (the last chunk that reports usage;
    an Anthropic stream's message as a whole), or 0."""
    if not isinstance(data, list):
        return _chunk_tokens(data)
    if anthropic_messages.is_stream(data):  # input tokens come first, output tokens last
        try:
            return _chunk_tokens(anthropic_messages.stream_to_message(data))
        except (KeyError, TypeError, ValueError, AttributeError):
            return 0
    for chunk in reversed(data):
        total = _chunk_tokens(chunk)
        if total:
            return total
    return 0


def _chunk_tokens(data: Any) -> int:
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


# -- streams ------------------------------------------------------------------------------


def _is_text(chunks: list[dict[str, Any]]) -> bool:
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            return "delta" not in choice
    return False


def aggregate_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """One chat (or text) completion, Responses-API response or Anthropic message made from
    its stream's chunks."""
    answer = shapes.response_of_stream(chunks)
    if answer is not None:
        return answer
    text = _is_text(chunks)
    out: dict[str, Any] = {"object": "text_completion" if text else "chat.completion"}
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for name in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(name) is not None:
                out[name] = chunk[name]
        if chunk.get("usage"):
            out["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            acc = choices.setdefault(index, {"index": index, "finish_reason": None})
            if choice.get("finish_reason") is not None:
                acc["finish_reason"] = choice["finish_reason"]
            if text:
                acc["text"] = acc.get("text", "") + (choice.get("text") or "")
                continue
            message = acc.setdefault("message", {"role": "assistant", "content": None})
            delta = choice.get("delta") or {}
            if delta.get("role"):
                message["role"] = delta["role"]
            for field in ("content", "refusal", "reasoning_content"):
                if delta.get(field) is not None:
                    message[field] = (message.get(field) or "") + delta[field]
            for call in delta.get("tool_calls") or ():
                _merge_tool_call(message.setdefault("tool_calls", []), call)
    for acc in choices.values():
        for call in acc.get("message", {}).get("tool_calls", ()):
            call.pop("index", None)
    out["choices"] = [choices[i] for i in sorted(choices)]
    return out


def _merge_tool_call(calls: list[dict[str, Any]], delta: dict[str, Any]) -> None:
    index = delta.get("index", len(calls))
    for call in calls:
        if call["index"] == index:
            break
    else:
        call = {
            "index": index,
            "id": None,
            "type": "function",
            "function": {"name": "", "arguments": ""},
        }
        calls.append(call)
    if delta.get("id"):
        call["id"] = delta["id"]
    if delta.get("type"):
        call["type"] = delta["type"]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] += function["name"]
    if function.get("arguments"):
        call["function"]["arguments"] += function["arguments"]


def is_usage_chunk(chunk: Any) -> bool:
    """Whether a stored chunk is the usage-only chunk (no choices) that ends a chat or text
    stream asked for usage."""
    return chunk.__class__ is dict and chunk.get("choices") == [] and bool(chunk.get("usage"))


def response_to_chunks(
    response: dict[str, Any], include_usage: bool = False
) -> list[dict[str, Any]]:
    """The chunks a stream of ``response`` (a chat or text completion, a Responses-API
    response or an Anthropic message) would have sent; with ``include_usage``
    (``stream_options={"include_usage": True}``) a chat or text stream ends with a chunk that
    carries the usage and no choices, as the OpenAI API sends it."""
    events = shapes.stream_of_response(response)
    if events is not None:
        return events
    common: dict[str, Any] = {
        k: response[k] for k in ("id", "created", "model", "system_fingerprint") if k in response
    }
    choices = response.get("choices") or []
    if response.get("object") == "text_completion" or (choices and "text" in choices[0]):
        first = [
            {"index": c.get("index", 0), "text": c.get("text") or "", "finish_reason": None}
            for c in choices
        ]
        last = [
            {"index": c.get("index", 0), "text": "", "finish_reason": c.get("finish_reason")}
            for c in choices
        ]
        obj = "text_completion"
    else:
        first, last = [], []
        for c in choices:
            message = dict(c.get("message") or {})
            delta: dict[str, Any] = {"role": message.get("role", "assistant")}
            for field in ("content", "refusal", "reasoning_content"):
                if message.get(field) is not None:
                    delta[field] = message[field]
            if message.get("tool_calls"):
                delta["tool_calls"] = [
                    {**call, "index": i} for i, call in enumerate(message["tool_calls"])
                ]
            first.append({"index": c.get("index", 0), "delta": delta, "finish_reason": None})
            last.append(
                {"index": c.get("index", 0), "delta": {}, "finish_reason": c.get("finish_reason")}
            )
        obj = "chat.completion.chunk"
    chunks: list[dict[str, Any]] = [
        {**common, "object": obj, "choices": first},
        {**common, "object": obj, "choices": last},
    ]
    if include_usage and response.get("usage"):
        chunks.append({**common, "object": obj, "choices": [], "usage": response["usage"]})
    return chunks
