"""Bad arguments refused before anything is sent upstream.

A cached call reads its arguments to build a key; arguments of the wrong shape (``messages=5``,
an embedding ``input`` that is a number or ``True``) would fail there with a raw ``TypeError``,
or worse, be sent upstream and billed before failing on the way back. They are refused first,
with :class:`~aiocache_llm.errors.InvalidRequestError`, for every call shape. Only the shape is
checked (a list, text, numbers); what the provider accepts inside it is its own business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ..errors import InvalidRequestError

__all__ = ["check_arguments"]


def _is_message(item: Any) -> bool:
    """A message as the SDKs take it: a mapping, or a typed object (a pydantic model)."""
    return item.__class__ is dict or isinstance(item, Mapping) or hasattr(item, "model_dump")


def _messages(kwargs: Mapping[str, Any]) -> None:
    messages = kwargs.get("messages")
    if messages.__class__ is list:  # the common case, checked without a call per message
        for item in messages:
            if item.__class__ is not dict and not _is_message(item):
                break
        else:
            return
    if messages is None:
        return
    if not isinstance(messages, (list, tuple)):
        raise InvalidRequestError(
            f"'messages' must be a list of messages, not {type(messages).__name__}"
        )
    for item in messages:
        if not _is_message(item):
            raise InvalidRequestError(
                f"every item of 'messages' must be a message object, not {type(item).__name__}"
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_tokens(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(_is_int(v) for v in value)


def _embedding_input(kwargs: Mapping[str, Any]) -> None:
    value = kwargs.get("input")
    if isinstance(value, str) or _is_tokens(value):
        return
    if (isinstance(value, (list, tuple)) and value) and (
        all(isinstance(v, str) for v in value) or all(_is_tokens(v) for v in value)
    ):
        return
    raise InvalidRequestError(
        "'input' must be text, a non-empty list of texts, a list of token ids or a list of "
        f"such lists, not {type(value).__name__}"
    )


def _text_prompt(kwargs: Mapping[str, Any]) -> None:
    prompt = kwargs.get("prompt")
    if prompt is None or isinstance(prompt, str):
        return
    if isinstance(prompt, list) and all(
        isinstance(p, str) or _is_int(p) or _is_tokens(p) for p in prompt
    ):
        return
    raise InvalidRequestError(f"'prompt' must be text or a list, not {type(prompt).__name__}")


def _responses_input(kwargs: Mapping[str, Any]) -> None:
    value = kwargs.get("input")
    if value is None or isinstance(value, str):
        return
    if isinstance(value, (list, tuple)) and all(_is_message(item) for item in value):
        return
    raise InvalidRequestError(
        f"'input' must be text or a list of input items, not {type(value).__name__}"
    )


#: family -> the check of its arguments
_CHECKS: Final[dict[str, Callable[[Mapping[str, Any]], None]]] = {
    "chat": _messages,
    "anthropic_messages": _messages,
    "embedding": _embedding_input,
    "text": _text_prompt,
    "responses": _responses_input,
}


def check_arguments(family: str, kwargs: Mapping[str, Any]) -> None:
    """Raise :class:`~aiocache_llm.errors.InvalidRequestError` if the arguments of a
    ``family`` call cannot be sent."""
    check = _CHECKS.get(family)
    if check is not None:
        check(kwargs)
