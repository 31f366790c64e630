"""What a request asks, and what must match exactly.

A semantic cache compares only the **question text**: by default the last user turn of
``messages`` (list or multimodal ``content`` parts joined, images left out), else a string
``prompt`` or ``input``. Everything else — the other messages, the system prompt, the model,
tools, parameters, the question turn's non-text parts — is an exact-match filter
(:func:`split_question` returns it beside the question).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

__all__ = ["QueryExtractor", "query_text", "split_question"]

#: ``(call_type, request) -> text to embed`` (``None``: the request has no question).
QueryExtractor: TypeAlias = Callable[[str, Mapping[str, Any]], "str | None"]

_TEXT_PARTS = frozenset({"text", "input_text"})


def _content_text(content: Any) -> tuple[str | None, Any]:
    """(text of a message ``content``, the non-text parts that remain)."""
    if content is None:
        return None, None
    if isinstance(content, str):
        return content, None
    if isinstance(content, Sequence):
        texts: list[str] = []
        rest: list[Any] = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") in _TEXT_PARTS:
                texts.append(str(part.get("text", "")))
            elif isinstance(part, str):
                texts.append(part)
            else:
                rest.append(part)  # images, audio, files: part of the exact-match filter
        return ("\n".join(texts) if texts else None), (rest or None)
    return None, content


def _as_dict(message: Any) -> Mapping[str, Any] | None:
    if isinstance(message, Mapping):
        return message
    dump = getattr(message, "model_dump", None)
    return dump(exclude_none=True) if dump is not None else None


def _last_user_turn(messages: Any) -> tuple[int, str | None, Any]:
    """(index, text, non-text parts) of the last user message, index -1 when there is none."""
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return -1, None, None
    for index in range(len(messages) - 1, -1, -1):
        message = _as_dict(messages[index])
        if message is not None and message.get("role") == "user":
            text, rest = _content_text(message.get("content"))
            return index, text, rest
    return -1, None, None


def split_question(request: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Split ``request`` into the question text and everything else.

    The question is the last user turn of ``messages`` (or of a message-list ``input``), else
    a string ``prompt`` or ``input``. Everything else keeps the question turn's role and its
    non-text parts, so an image attached to the question is still matched exactly.
    """
    rest = dict(request)
    for field in ("messages", "input"):
        value = request.get(field)
        if isinstance(value, str):
            if field == "input":
                rest.pop(field)
                return value, rest
            continue
        index, text, parts = _last_user_turn(value)
        if index >= 0 and value is not None:
            messages = [_as_dict(m) or m for m in value]
            question = {"role": "user"} if parts is None else {"role": "user", "content": parts}
            messages[index] = question
            rest[field] = messages
            return text, rest
    prompt = request.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        rest.pop("prompt")
        return prompt, rest
    return None, rest


def query_text(call_type: str, request: Mapping[str, Any]) -> str | None:
    """The default :data:`QueryExtractor`: the question text of :func:`split_question`."""
    return split_question(request)[0]
