"""LiteLLM's ``Cache`` methods on :class:`~aiocache_llm.cache.Cache`, by way of its one path.

``get_cache_key(**kwargs)``, ``get_cache(**kwargs)`` and ``add_cache(result, **kwargs)`` take
the arguments of the LLM call, as LiteLLM's do. Lookups and stores run through the handler
(keys, namespaces, identities, controls, events and the failure policy as for a wrapped call):
a lookup is a call whose upstream reports a miss, a store one whose upstream is ``result``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn

import orjson

from ..controls import parse_controls
from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..cache import Cache

__all__ = ["add_cache", "call_type_of", "get_cache", "get_cache_key"]

#: argument that marks a call type, in the order they are told apart
_MARKERS: Final = (
    ("messages", "acompletion"),
    ("prompt", "atext_completion"),
    ("file", "atranscription"),
    ("documents", "arerank"),
    ("input", "aembedding"),
)


class _Miss(Exception):
    """The upstream of a lookup: nothing is called when the cache has no answer."""


async def _miss(**kwargs: Any) -> NoReturn:
    raise _Miss


def call_type_of(kwargs: dict[str, Any]) -> str:
    """``kwargs["call_type"]`` (removed) or the call type its arguments show."""
    given = kwargs.pop("call_type", None)
    if given is not None:
        return str(getattr(given, "value", given))
    for argument, call_type in _MARKERS:
        if argument in kwargs:
            return call_type
    raise InvalidArgumentError(
        "cannot tell the call type from these arguments: pass call_type='acompletion' (or"
        " another LiteLLM call type)"
    )


def _with_controls(kwargs: Mapping[str, Any], **controls: bool) -> dict[str, Any]:
    given = kwargs.get("cache")
    if given is not None and not isinstance(given, Mapping):
        parse_controls(given)  # raises the typed error
    return {**kwargs, "cache": {**(given or {}), **controls}}


def get_cache_key(cache: Cache, kwargs: dict[str, Any]) -> str:
    call_type = call_type_of(kwargs)
    controls = parse_controls(kwargs.pop("cache", None), kwargs.pop("caching", None))
    return cache.handler._key(call_type, kwargs, controls)


async def get_cache(cache: Cache, kwargs: dict[str, Any]) -> Any:
    """The cached answer to the call ``kwargs`` describe, or ``None``."""
    call_type = call_type_of(kwargs)
    try:
        return await cache.handler.call(
            call_type, _miss, _with_controls(kwargs, **{"no-store": True})
        )
    except _Miss:
        return None


async def add_cache(cache: Cache, result: Any, kwargs: dict[str, Any]) -> None:
    """Store ``result`` (a response object, its dict, or its JSON) as the answer to the call."""
    call_type = call_type_of(kwargs)
    if isinstance(result, (str, bytes)):
        try:
            result = orjson.loads(result)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgumentError("add_cache takes a response, its dict or its JSON") from exc

    async def upstream(**_: Any) -> Any:
        return result

    await cache.handler.call(call_type, upstream, _with_controls(kwargs, **{"no-cache": True}))
