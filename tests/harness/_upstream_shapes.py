"""The stand-in upstream's other API shapes: OpenAI Responses, Anthropic Messages and search.

Each builder takes the request body and returns ``(answer, events)``: the plain-JSON answer and
the SSE events a streamed call gets, as ``(event name, data)`` pairs, exactly in the order and
form the real services send them. Answers are deterministic: ``"echo: <last user text>"``, or a
call of the first tool when tools are given.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

CREATED = 1_700_000_000

Event = tuple[str, dict[str, Any]]


def ident(body: dict[str, Any], prefix: str, separator: str = "_") -> str:
    """A deterministic id for the answer to ``body``."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return f"{prefix}{separator}{digest}"


_id = ident


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or a list of text parts)."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def _last_user_text(items: Any) -> str:
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if isinstance(item, dict) and item.get("role") == "user":
            return text_of(item.get("content"))
    return ""


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


# -- OpenAI Responses API -------------------------------------------------------------------


def responses(body: dict[str, Any]) -> tuple[dict[str, Any], list[Event]]:
    question = _last_user_text(body.get("input"))
    rid = _id(body, "resp")
    tools = body.get("tools") or []
    if tools:
        arguments = json.dumps({"query": question})
        item: dict[str, Any] = {
            "type": "function_call",
            "id": _id(body, "fc"),
            "call_id": _id(body, "call"),
            "name": tools[0]["name"],
            "arguments": arguments,
            "status": "completed",
        }
        answer_text = arguments
    else:
        answer_text = f"echo: {question}"
        part = {"type": "output_text", "text": answer_text, "annotations": [], "logprobs": []}
        item = {
            "type": "message",
            "id": _id(body, "msg"),
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    p, c = len(question.split()), len(answer_text.split())
    usage = {
        "input_tokens": p,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": c,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": p + c,
    }
    base: dict[str, Any] = {
        "id": rid,
        "object": "response",
        "created_at": CREATED,
        "model": body["model"],
        "instructions": body.get("instructions"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature", 1.0),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": tools,
        "top_p": body.get("top_p", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "truncation": body.get("truncation", "disabled"),
        "metadata": body.get("metadata") or {},
    }
    answer = {**base, "status": "completed", "output": [item], "usage": usage}
    in_progress = {**base, "status": "in_progress", "output": [], "usage": None}
    events: list[Event] = [
        ("response.created", {"response": in_progress}),
        ("response.in_progress", {"response": in_progress}),
    ]
    started = {**item, "status": "in_progress"}
    if item["type"] == "message":
        started["content"] = []
    events.append(("response.output_item.added", {"output_index": 0, "item": started}))
    at = {"item_id": item["id"], "output_index": 0}
    if item["type"] == "message":
        empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        events.append(("response.content_part.added", {**at, "content_index": 0, "part": empty}))
        for word in _words(answer_text):
            delta = {**at, "content_index": 0, "delta": word, "logprobs": []}
            events.append(("response.output_text.delta", delta))
        done = {**at, "content_index": 0, "text": answer_text, "logprobs": []}
        events.append(("response.output_text.done", done))
        events.append(("response.content_part.done", {**at, "content_index": 0, "part": part}))
    else:
        for piece in _pieces(item["arguments"]):
            events.append(("response.function_call_arguments.delta", {**at, "delta": piece}))
        done = {**at, "arguments": item["arguments"], "name": item["name"]}
        events.append(("response.function_call_arguments.done", done))
    events.append(("response.output_item.done", {"output_index": 0, "item": item}))
    events.append(("response.completed", {"response": answer}))
    numbered = [
        (name, {"type": name, "sequence_number": i, **data})
        for i, (name, data) in enumerate(events)
    ]
    return answer, numbered


# -- Anthropic Messages API -----------------------------------------------------------------


def messages(body: dict[str, Any]) -> tuple[dict[str, Any], list[Event]]:
    question = _last_user_text(body.get("messages"))
    tools = body.get("tools") or []
    if tools:
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": _id(body, "toolu"),
            "name": tools[0]["name"],
            "input": {"query": question},
        }
        answer_text = json.dumps(block["input"])
        stop_reason = "tool_use"
    else:
        answer_text = f"echo: {question}"
        block = {"type": "text", "text": answer_text}
        stop_reason = "end_turn"
    p, c = len(question.split()), len(answer_text.split())
    base: dict[str, Any] = {
        "id": _id(body, "msg"),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "stop_sequence": None,
    }
    answer = {
        **base,
        "content": [block],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": p, "output_tokens": c},
    }
    start = {
        **base,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": p, "output_tokens": 1},
    }
    events: list[Event] = [("message_start", {"message": start})]
    if block["type"] == "text":
        events.append(
            ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        )
        events.append(("ping", {}))
        for word in _words(answer_text):
            delta = {"type": "text_delta", "text": word}
            events.append(("content_block_delta", {"index": 0, "delta": delta}))
    else:
        head = {**block, "input": {}}
        events.append(("content_block_start", {"index": 0, "content_block": head}))
        for piece in _pieces(answer_text):
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(("content_block_delta", {"index": 0, "delta": delta}))
    events.append(("content_block_stop", {"index": 0}))
    final = {"stop_reason": stop_reason, "stop_sequence": None}
    events.append(("message_delta", {"delta": final, "usage": {"output_tokens": c}}))
    events.append(("message_stop", {}))
    return answer, [(name, {"type": name, **data}) for name, data in events]


# -- search (Perplexity's format, LiteLLM's native one) ---------------------------------------


def search(body: dict[str, Any]) -> dict[str, Any]:
    queries = body.get("query")
    queries = queries if isinstance(queries, list) else [queries]
    limit = int(body.get("max_results") or 3)
    results = []
    for query in queries:
        for rank in range(limit):
            seed = hashlib.sha256(f"{query}|{rank}".encode()).hexdigest()[:10]
            results.append(
                {
                    "title": f"{query} #{rank + 1}",
                    "url": f"https://example.invalid/{seed}",
                    "snippet": f"About {query}: {seed}",
                    "date": "2026-01-01",
                }
            )
    return {"id": _id(body, "search"), "results": results}


# -- endings: how an answer or a stream ends (the ``ending`` setting) -----------------------

#: every ending the stand-in can give an answer: ``complete`` (as the services answer),
#: ``cut`` (the stream stops cleanly before its end: no finish reason, final event or
#: ``[DONE]``; a plain answer lacks its finish/stop reason), ``error`` (an error event
#: mid-stream; a plain answer is a 200 carrying ``{"error": ...}``), ``failed`` /
#: ``incomplete`` (the Responses API's statuses), ``length`` (chat: cut by ``max_tokens``)
ENDINGS = ("complete", "cut", "error", "failed", "incomplete", "length")

_ERROR = {"message": "the model is overloaded", "type": "server_error", "code": None}


def end_responses(
    answer: dict[str, Any], events: list[Event], ending: str
) -> tuple[dict[str, Any], list[Event]]:
    """A Responses answer and stream that end as ``ending`` says."""
    if ending == "cut":
        return {**answer, "status": "in_progress"}, events[:-1]
    if ending == "error":
        event = {"type": "error", "sequence_number": 3, "param": None, **_ERROR}
        event["code"] = "server_error"
        return {"error": _ERROR}, [*events[:3], ("error", event)]
    if ending in ("failed", "incomplete"):
        final = {**answer, "status": ending}
        if ending == "failed":
            final["error"] = {"code": "server_error", "message": _ERROR["message"]}
        else:
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        name = f"response.{ending}"
        last = {"type": name, "sequence_number": len(events) - 1, "response": final}
        return final, [*events[:-1], (name, last)]
    return answer, events


def end_messages(
    answer: dict[str, Any], events: list[Event], ending: str
) -> tuple[dict[str, Any], list[Event]]:
    """An Anthropic message and stream that end as ``ending`` says."""
    if ending == "cut":
        return {**answer, "stop_reason": None}, events[:-2]
    if ending == "error":
        error = {"type": "overloaded_error", "message": _ERROR["message"]}
        return (
            {"type": "error", "error": error},
            [*events[:3], ("error", {"type": "error", "error": error})],
        )
    if ending == "length":
        final = {**answer, "stop_reason": "max_tokens"}
        last = [
            (name, {**data, "delta": {**data["delta"], "stop_reason": "max_tokens"}})
            if name == "message_delta"
            else (name, data)
            for name, data in events
        ]
        return final, last
    return answer, events


def end_chat(
    answer: dict[str, Any], chunks: list[dict[str, Any]], ending: str
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """A chat answer, its chunks, and whether ``[DONE]`` ends them, as ``ending`` says."""
    if ending == "cut":
        plain = {**answer, "choices": [{**c, "finish_reason": None} for c in answer["choices"]]}
        finished = [
            i for i, c in enumerate(chunks) if any(x["finish_reason"] for x in c["choices"])
        ]
        return plain, chunks[: finished[0]] if finished else chunks, False
    if ending == "error":
        return {"error": _ERROR}, [*chunks[:2], {"error": _ERROR}], False
    if ending == "length":

        def cut(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**c, "finish_reason": "length"} if c["finish_reason"] else c for c in choices]

        plain = {**answer, "choices": cut(answer["choices"])}
        return plain, [{**c, "choices": cut(c["choices"])} for c in chunks], True
    return answer, chunks, True
