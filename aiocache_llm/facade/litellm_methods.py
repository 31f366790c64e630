"""LiteLLM's ``Cache`` methods on :class:`~aiocache_llm.facade.Cache`, by way of its one path.

``get_cache_key(**kwargs)``, ``get_cache(**kwargs)`` and ``add_cache(result, **kwargs)`` take
the arguments of the LLM call, as LiteLLM's do. Lookups and stores run through
:meth:`Cache.async_call <aiocache_llm.facade.Cache.async_call>` (keys, namespaces, identities,
controls, events and the failure policy as for a wrapped call): a lookup is a call whose
upstream reports a miss, a store one whose upstream is ``result``. ``get_cache`` returns the
answer as a dict, as LiteLLM's does. Assigning ``get_cache_key`` / ``get_cache`` /
``add_cache`` on a cache (as with LiteLLM) replaces the key or the storage these use, not the
methods.

The calls LiteLLM itself makes when the cache is ``litellm.cache`` (they carry its call id,
logging object or derived key, see :mod:`.litellm_surface`) get LiteLLM's own behaviour: they
are answered by the cache's ``litellm.Cache`` view (LiteLLM's keys and entry format over this
cache's guarded backend), as :func:`aiocache_llm.litellm_cache` would answer them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

import orjson

from .._sync import blocking
from ..errors import InvalidArgumentError
from ..llm.context import maybe_await
from ..llm.controls import parse_controls
from ..llm.explicit_keys import lookup_under_key, store_under_key
from ..llm.handler import Handler
from ..llm.keys import made_here
from ..llm.responses import dump

__all__ = ["LITELLM_MARKS", "LiteLLMMethods", "call_type_of"]

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


class LiteLLMMethods:
    """``get_cache_key``, ``async_get_cache`` / ``get_cache`` and ``async_add_cache`` /
    ``add_cache``, callable as on ``litellm.Cache`` with the LLM call's arguments."""

    handler: Handler
    async_call: Callable[..., Any]
    litellm: Any
    custom_get_cache_key: Callable[..., str] | None
    custom_get_cache: Callable[..., Any] | None
    custom_add_cache: Callable[..., Any] | None

    def get_cache_key(self, **kwargs: Any) -> str:
        """The key of the call ``kwargs`` describe (``call_type=`` when its arguments do not
        show it: ``messages`` is a chat, ``input`` an embedding, ...)."""
        if _from_litellm(kwargs):
            if self.custom_get_cache_key is not None:
                return self.custom_get_cache_key(**kwargs)
            return str(self.litellm.get_cache_key(**kwargs))
        call_type = call_type_of(kwargs)
        controls = parse_controls(kwargs.pop("cache", None), kwargs.pop("caching", None))
        return self.handler.keys.key(call_type, kwargs, controls)

    async def async_get_cache(self, /, **kwargs: Any) -> Any:
        """The cached answer to the call ``kwargs`` describe, as a dict (as LiteLLM returns
        it), or ``None``."""
        if _from_litellm(kwargs):
            if self.custom_get_cache is not None:
                return await maybe_await(self.custom_get_cache(**_without_dynamic(kwargs)))
            return await self.litellm.async_get_cache(**kwargs)
        if "cache_key" in kwargs:
            key, call_type, controls = _named_key(kwargs)
            return await lookup_under_key(self.handler, key, call_type, controls)
        call_type = call_type_of(kwargs)
        try:
            found = await self.async_call(
                call_type, _miss, _with_controls(kwargs, **{"no-store": True})
            )
        except _Miss:
            return None
        return None if found is None else dump(found)

    def get_cache(self, /, **kwargs: Any) -> Any:
        """The blocking form of :meth:`async_get_cache` (LiteLLM's sync calls use it)."""
        if _from_litellm(kwargs):
            if self.custom_get_cache is not None:
                return self.custom_get_cache(**_without_dynamic(kwargs))
            return self.litellm.get_cache(**kwargs)
        return self._blocking_get_cache(**kwargs)

    async def async_add_cache(self, /, result: Any, **kwargs: Any) -> None:
        """Store ``result`` (a response object, its dict, or its JSON) as the answer to the
        call ``kwargs`` describe."""
        if _from_litellm(kwargs):
            if self.custom_add_cache is not None:
                await maybe_await(self.custom_add_cache(result, **_without_dynamic(kwargs)))
            else:
                await self.litellm.async_add_cache(result, **kwargs)
            return
        if isinstance(result, (str, bytes)):
            try:
                result = orjson.loads(result)
            except orjson.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    "add_cache takes a response, its dict or its JSON"
                ) from exc
        if "cache_key" in kwargs:
            key, call_type, controls = _named_key(kwargs)
            await store_under_key(self.handler, key, call_type, result, controls)
            return
        call_type = call_type_of(kwargs)

        async def upstream(**_: Any) -> Any:
            return result

        await self.async_call(call_type, upstream, _with_controls(kwargs, **{"no-cache": True}))

    def add_cache(self, /, result: Any, **kwargs: Any) -> None:
        """The blocking form of :meth:`async_add_cache` (LiteLLM's sync calls use it)."""
        if _from_litellm(kwargs):
            if self.custom_add_cache is not None:
                self.custom_add_cache(result, **_without_dynamic(kwargs))
            else:
                self.litellm.add_cache(result, **kwargs)
            return
        self._blocking_add_cache(result, **kwargs)

    _blocking_get_cache = blocking(async_get_cache)
    _blocking_add_cache = blocking(async_add_cache)


#: Keywords LiteLLM adds to every call it makes on its cache object (its call id, its logging
#: object, the per-request DualCache it passes, its own parameters, a key it derived).
LITELLM_MARKS: Final = frozenset(
    {
        "litellm_call_id",
        "litellm_logging_obj",
        "dynamic_cache_object",
        "litellm_params",
        "cache_key",
    }
)


#: The keywords that only LiteLLM passes (a ``cache_key`` may be the caller's).
_LITELLM_ONLY: Final = LITELLM_MARKS - {"cache_key"}


def _from_litellm(kwargs: dict[str, Any]) -> bool:
    """Whether this call is LiteLLM's: its own keywords are among ``kwargs``, or a
    ``cache_key`` not of this library's shape (LiteLLM's, or a hook's) names the entry."""
    if not _LITELLM_ONLY.isdisjoint(kwargs):
        return True
    return "cache_key" in kwargs and not made_here(kwargs["cache_key"])


def _named_key(kwargs: dict[str, Any]) -> tuple[str, str, Any]:
    """``(key, call type, controls)`` of a call on a key the caller names (``cache_key=``,
    e.g. what :meth:`get_cache_key` returned): ``kwargs`` need not show the call type."""
    key: str = kwargs.pop("cache_key")
    controls = parse_controls(kwargs.pop("cache", None), kwargs.pop("caching", None))
    try:
        call_type = call_type_of(kwargs)
    except InvalidArgumentError:
        call_type = "acompletion"  # only names the call in events and logs
    return key, call_type, controls


def _without_dynamic(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != "dynamic_cache_object"}
