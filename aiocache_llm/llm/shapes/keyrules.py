"""Key rules of the call shapes beyond chat: which call types share entries, which argument
values are the provider's defaults, and how equivalent spellings of one request are made one.

Read by :mod:`aiocache_llm.llm.keys`; the rules are the same as chat's: exactly the arguments that
change the answer, with order, spelling and provider defaults not mattering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "CANONICAL",
    "DEFAULTS",
    "DEFAULT_BASES",
    "FAMILIES",
    "IGNORED_ARGUMENTS",
    "IGNORED_HEADERS",
]

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


#: The one list of arguments deliberately left out of every key (and every ``litellm_*``
#: argument: LiteLLM's logging object, call id, ...). Everything else enters the key.
IGNORED_ARGUMENTS: Final = frozenset(
    {
        # auth and billing: who pays, not what is answered
        "api_key",
        "organization",
        "project",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "azure_ad_token",
        "vertex_credentials",
        # tracing, metadata and request ids
        "metadata",
        "logger_fn",
        "callbacks",
        "proxy_server_request",
        "idempotency_key",
        "safety_identifier",
        "prompt_cache_key",
        # timeouts, retries and transport
        "timeout",
        "request_timeout",
        "max_retries",
        "num_retries",
        "fallbacks",
        "client",
        "http_client",
        "service_tier",
        # how the answer is delivered, not what it is
        "stream",
        "stream_options",
        "store",
        # the cache's own controls
        "cache",
        "caching",
        # the end user (keyed with ``key_on_user=True``, as LiteLLM does)
        "user",
    }
)

#: Request headers left out of every key (lower-case; also every ``x-stainless-*`` header the
#: SDKs add): auth, tracing and request ids, transport. Every other header enters the key.
IGNORED_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "openai-organization",
        "openai-project",
        "x-request-id",
        "x-client-request-id",
        "request-id",
        "idempotency-key",
        "traceparent",
        "tracestate",
        "baggage",
        "user-agent",
        "accept",
        "accept-encoding",
        "content-type",
        "content-length",
        "connection",
        "host",
        "x-stainless-timeout",
        "x-stainless-retry-count",
    }
)

#: Deployments that are the provider's default (the same as naming none), without a final "/".
DEFAULT_BASES: Final = frozenset({"https://api.openai.com/v1", "https://api.anthropic.com"})
