"""Call shapes beyond chat completions: the OpenAI Responses API, Anthropic Messages, search,
and the variants of a wrapped SDK client.

* :mod:`.keyrules`: which arguments of each shape key an entry.
* :mod:`.events`: streams of typed events, rebuilt event by event as the SDK's own types.
* :mod:`.openai_responses`, :mod:`.anthropic_messages`: a stream as one answer and back.
* :mod:`.sse`: streams of raw SSE frames (bytes), stored as text and replayed byte for byte.
* :mod:`.clients`: wrapped SDK clients (``wrap_openai``, ``wrap_anthropic``).
"""

from __future__ import annotations

from typing import Any

from . import anthropic_messages, openai_responses, sse

__all__ = [
    "UNCACHEABLE_WHEN",
    "response_of_stream",
    "response_type_of",
    "stream_of_response",
    "stream_type_of",
    "uncacheable",
]

_RESPONSES_RULES: dict[str, str] = {
    "background": "a background response is polled until it is done: not cached",
    "conversation": "the answer depends on a conversation kept by the server: not cached",
}
#: call type -> {argument: why a call that sets it is not cached}
UNCACHEABLE_WHEN: dict[str, dict[str, str]] = {
    "responses": _RESPONSES_RULES,
    "aresponses": _RESPONSES_RULES,
}


def uncacheable(call_type: str, kwargs: dict[str, Any]) -> str | None:
    """Why a ``call_type`` call with ``kwargs`` cannot be cached (``None``: it can)."""
    for name, reason in UNCACHEABLE_WHEN.get(call_type, {}).items():
        value = kwargs.get(name)
        if value and value.__class__.__name__ not in ("NotGiven", "Omit"):
            return reason
    return None


#: response type -> the event union its stream is made of
_STREAM_OF = {
    openai_responses.RESPONSE: openai_responses.STREAM,
    openai_responses.LITELLM_RESPONSE: openai_responses.LITELLM_STREAM,
    anthropic_messages.MESSAGE: anthropic_messages.STREAM,
}
_RESPONSE_OF = {v: k for k, v in _STREAM_OF.items()}


def response_of_stream(chunks: list[Any]) -> dict[str, Any] | None:
    """The one answer a stored event stream stands for (``None``: not an event stream)."""
    if sse.is_frames(chunks):
        chunks = sse.events_of_frames(chunks)
    if openai_responses.is_stream(chunks):
        return openai_responses.stream_to_response(chunks)
    if anthropic_messages.is_stream(chunks):
        return anthropic_messages.stream_to_message(chunks)
    return None


def stream_of_response(response: Any) -> list[dict[str, Any]] | None:
    """The events a stored answer streams as (``None``: not an event-stream shape)."""
    if openai_responses.is_response(response):
        return openai_responses.to_stream(response)
    if anthropic_messages.is_message(response):
        return anthropic_messages.to_stream(response)
    return None


def stream_type_of(response_type: str | None) -> str | None:
    return _STREAM_OF.get(response_type or "")


def response_type_of(stream_type: str | None) -> str | None:
    return _RESPONSE_OF.get(stream_type or "")
