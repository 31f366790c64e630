"""Key rules of the call shapes beyond chat: which call types share entries, which argument
values are the provider's defaults, and how equivalent spellings of one request are made one.

Read by :mod:`aiocache_llm.llm.keys`; the rules are the same as chat's: exactly the arguments that
change the answer, with order, spelling and provider defaults not mattering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["CANONICAL", "DEFAULTS", "FAMILIES"]

#: call type -> family whose entries it shares
FAMILIES: Final[dict[str, str]] = {
    "responses": "responses",
    "aresponses": "responses",
    "responses.create": "responses",
    "anthropic_messages": "anthropic_messages",
    "aanthropic_messages": "anthropic_messages",
    "messages.create": "anthropic_messages",
    "search": "search",
    "asearch": "search",
}

#: family -> arguments whose value equals the provider's default (left out of the key)
DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "responses": {
        "temperature": 1,
        "top_p": 1,
        "parallel_tool_calls": True,
        "tools": [],
        "include": [],
        "truncation": "disabled",
        "background": False,
        "text": {"format": {"type": "text"}},
    },
    "anthropic_messages": {"temperature": 1, "stop_sequences": [], "tools": []},
    "search": {"search_domain_filter": []},
}


def _text_of(content: Any, part_types: tuple[str, ...]) -> Any:
    """A one-part text ``content`` list as its string (the APIs read both the same)."""
    if content.__class__ is list and len(content) == 1:
        part = content[0]
        if part.__class__ is dict and part.get("type") in part_types and len(part) == 2:
            return part.get("text")
    return content


def _responses(args: dict[str, Any]) -> dict[str, Any]:
    items = args.get("input")
    if items.__class__ is str:  # a string input is one user message
        items = [{"role": "user", "content": items}]
    if items.__class__ is list:
        canonical = []
        for item in items:
            if item.__class__ is dict and "role" in item:
                item = {k: v for k, v in item.items() if not (k == "type" and v == "message")}
                item["content"] = _text_of(item.get("content"), ("input_text", "text"))
            canonical.append(item)
        args["input"] = canonical
    if args.get("tool_choice") == ("auto" if "tools" in args else "none"):
        del args["tool_choice"]
    return args


def _anthropic(args: dict[str, Any]) -> dict[str, Any]:
    if "system" in args:
        args["system"] = _text_of(args["system"], ("text",))
    if args.get("tool_choice") in ({"type": "auto"}, "auto") and "tools" in args:
        del args["tool_choice"]
    return args


def _search(args: dict[str, Any]) -> dict[str, Any]:
    domains = args.get("search_domain_filter")
    if domains.__class__ is list:  # a filter is a set of domains
        args["search_domain_filter"] = sorted(domains, key=str)
    return args


#: family -> the last step of canonicalisation (on the already filtered arguments)
CANONICAL: Final[dict[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "responses": _responses,
    "anthropic_messages": _anthropic,
    "search": _search,
}
