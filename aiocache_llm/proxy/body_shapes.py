"""The shape of a request body as it comes off the wire, checked before anything else reads it.

The library checks what it needs to build a key (:func:`~aiocache_llm.llm.validation.
check_arguments`); a proxy also sends the body on, through litellm's Router to providers whose
own request builders fail on a wrong type with an error that looks like a failed upstream. So
the fields every API reads alike are checked here (what each route requires, the types of the
common sampling and limit fields, ``stream`` on the routes that stream), and a wrong one is a
400 naming the field. What a provider accepts inside a valid shape stays its own business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["body_problem"]

_Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return value.__class__ is int


def _is_count(value: Any) -> bool:
    return value.__class__ is int and value >= 1


def _is_number(value: Any) -> bool:
    return value.__class__ in (int, float) and math.isfinite(value)


def _is_object(value: Any) -> bool:
    return value.__class__ is dict


def _is_list(value: Any) -> bool:
    return value.__class__ is list


def _is_text(value: Any) -> bool:
    return value.__class__ is str


def _is_bool(value: Any) -> bool:
    return value.__class__ is bool


def _is_stop(value: Any) -> bool:
    return value.__class__ is str or (
        value.__class__ is list and all(v.__class__ is str for v in value)
    )


def _is_content(value: Any) -> bool:
    """A message's content: text, a list of typed parts, or none (a tool call's)."""
    if value is None or value.__class__ is str:
        return True
    return value.__class__ is list and all(
        p.__class__ is dict and p.get("type").__class__ is str for p in value
    )


def _is_messages(value: Any) -> bool:
    if value.__class__ is not list or not value:
        return False
    for message in value:
        if message.__class__ is not dict or message.get("role").__class__ is not str:
            return False
        if not _is_content(message.get("content")):
            return False
    return True


def _is_input(value: Any) -> bool:
    """Text, or a list (of texts, token ids, or input items)."""
    return value.__class__ is str or (value.__class__ is list and bool(value))


#: field -> (its check, what it must be)
_FIELDS: Final[dict[str, tuple[_Check, str]]] = {
    "messages": (_is_messages, "a non-empty list of messages, each with a 'role' and content"),
    "stream": (_is_bool, "true or false"),
    "max_tokens": (_is_count, "a positive integer"),
    "max_completion_tokens": (_is_count, "a positive integer"),
    "max_output_tokens": (_is_count, "a positive integer"),
    "n": (_is_count, "a positive integer"),
    "top_logprobs": (_is_int, "an integer"),
    "seed": (_is_int, "an integer"),
    "top_k": (_is_int, "an integer"),
    "top_n": (_is_count, "a positive integer"),
    "dimensions": (_is_count, "a positive integer"),
    "temperature": (_is_number, "a finite number"),
    "top_p": (_is_number, "a finite number"),
    "presence_penalty": (_is_number, "a finite number"),
    "frequency_penalty": (_is_number, "a finite number"),
    "stop": (_is_stop, "text or a list of texts"),
    "stop_sequences": (_is_stop, "a list of texts"),
    "tools": (_is_list, "a list"),
    "extra_headers": (_is_object, "an object"),
    "extra_body": (_is_object, "an object"),
    "metadata": (_is_object, "an object"),
    "response_format": (_is_object, "an object"),
    "stream_options": (_is_object, "an object"),
    "logit_bias": (_is_object, "an object"),
    "user": (_is_text, "text"),
    "query": (_is_text, "text"),
    "documents": (_is_list, "a list"),
}
#: route -> fields it requires
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "chat": ("messages",),
    "completions": ("prompt",),
    "embeddings": ("input",),
    "responses": ("input",),
    "messages": ("messages", "max_tokens"),
    "rerank": ("query", "documents"),
    "speech": ("input",),
}
#: route -> fields checked on it alone
_ROUTE_FIELDS: Final[dict[str, dict[str, tuple[_Check, str]]]] = {
    "responses": {"input": (_is_input, "text or a non-empty list of input items")},
    "completions": {"prompt": (_is_input, "text or a non-empty list")},
    "speech": {
        "input": (_is_text, "text"),
        "response_format": (_is_text, "text"),
        "speed": (_is_number, "a finite number"),
    },
}
_STREAMING: Final = frozenset({"chat", "completions", "responses", "messages"})


def body_problem(route: str, body: Mapping[str, Any]) -> str | None:
    """What is wrong with the shape of ``body`` on ``route`` (``None``: nothing)."""
    for name in _REQUIRED.get(route, ()):
        if body.get(name) is None:
            return f"'{name}' is required"
    own = _ROUTE_FIELDS.get(route)
    for name, value in body.items():
        found = (own.get(name) if own is not None else None) or _FIELDS.get(name)
        if found is not None and value is not None and not found[0](value):
            return f"'{name}' must be {found[1]}"
    if body.get("stream") is True and route not in _STREAMING:
        return f"'stream' is not served on this route ({route})"
    return None
