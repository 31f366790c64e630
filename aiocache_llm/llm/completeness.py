"""What may be stored: only a complete, successful answer. One rule for every call shape,
for plain answers and streams, in the library and the proxy.

The rule reads the answer as stored (plain data: a dumped response, or a stream's dumped
chunks) and runs on the store path only, never on a hit.

==========================  ========================================================  ======
call shape                  ending                                                    stored
==========================  ========================================================  ======
chat / text completion      every choice has a ``finish_reason`` (``stop``,           yes
                            ``tool_calls``, ``length``, ``content_filter``, ...)
                            a choice without ``finish_reason`` (cut short)            no
                            an ``{"error": ...}`` answer or chunk                     no
Responses API               status ``completed`` / ``response.completed`` last        yes
                            ``failed``, ``incomplete``, ``cancelled``, an ``error``   no
                            event, or no final event
Anthropic Messages          a ``stop_reason`` (plain) / ``message_stop`` (stream)     yes
                            no ``stop_reason``, no ``message_stop``, an ``error``     no
                            event
any stream                  raised, cut off by the upstream, or left by its caller    no
any other answer            a JSON answer without a top-level ``error``               yes
                            anything else (a coroutine a blocking wrapper returned)   no
==========================  ========================================================  ======

``length`` and ``content_filter`` are complete answers to the arguments given (``max_tokens``
is part of the key): they are stored, plain and streamed alike, as LiteLLM stores them.
"""

from __future__ import annotations

from typing import Any, Final

from .shapes import anthropic_messages, openai_responses, sse

__all__ = ["incomplete_answer", "incomplete_stream"]

#: a Responses-API stream's events that end it without a complete answer
_RESPONSES_FAILED: Final = frozenset({"response.failed", "response.incomplete", "error"})


def incomplete_answer(data: Any) -> str | None:
    """Why the plain answer ``data`` (as stored) must not be stored; ``None``: it may be."""
    if data.__class__ is not dict:  # plain text or a list (a transcription as text, say)
        return None if data.__class__ in (list, str) else "the answer is not JSON data"
    if "error" in data and data["error"] is not None:
        return "the answer is an error"
    if openai_responses.is_response(data):
        status = data.get("status")
        return None if status == "completed" else f"the response's status is {status!r}"
    if data.get("type") == "message" and "content" in data:
        return None if data.get("stop_reason") else "the message has no stop_reason"
    choices = data.get("choices")
    if choices.__class__ is list:
        for choice in choices:
            if choice.__class__ is not dict or not choice.get("finish_reason"):
                return "a choice has no finish_reason"
    return None


def incomplete_stream(chunks: list[Any]) -> str | None:
    """Why the finished stream of ``chunks`` (as stored) must not be stored; ``None``: it
    may be. A stream that raised, or that its caller left, never gets here."""
    if not chunks:
        return "the stream is empty"
    if sse.is_frames(chunks):
        chunks = sse.events_of_frames(chunks)
        if not chunks:
            return "the stream carries no events"
    for chunk in chunks:
        if chunk.__class__ is not dict:
            return None  # not JSON events: nothing to judge by
        if chunk.get("error") is not None or chunk.get("type") == "error":
            return "the stream carries an error event"
    if openai_responses.is_stream(chunks):
        return _responses_stream(chunks)
    if anthropic_messages.is_stream(chunks):
        if not any(chunk.get("type") == "message_stop" for chunk in chunks):
            return "the stream has no message_stop"
        return None
    return _chat_stream(chunks)


def _responses_stream(chunks: list[dict[str, Any]]) -> str | None:
    for chunk in chunks:
        kind = chunk.get("type")
        if kind in _RESPONSES_FAILED:
            return f"the stream ended with {kind}"
    last = chunks[-1]
    if last.get("type") != "response.completed":
        return "the stream has no response.completed"
    response = last.get("response")
    if response.__class__ is not dict or response.get("status") != "completed":
        return "the final response is not completed"
    return None


def _chat_stream(chunks: list[dict[str, Any]]) -> str | None:
    """Every choice of a chat or text stream got its ``finish_reason``."""
    open_choices: set[Any] = set()
    finished: set[Any] = set()
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            if choice.__class__ is not dict:
                return "a chunk's choice is not an object"
            index = choice.get("index", 0)
            open_choices.add(index)
            if choice.get("finish_reason"):
                finished.add(index)
    if not open_choices:
        return "the stream has no choices"
    if open_choices - finished:
        return "the stream ended without a finish_reason"
    return None
