"""A LangChain LLM cache on any aiocache_llm backend, exact or semantic (``langchain`` extra)::

    from langchain_core.globals import set_llm_cache
    from aiocache_llm import Cache
    from aiocache_llm.integrations.langchain import LangChainCache

    set_llm_cache(LangChainCache(Cache(type="redis", host="127.0.0.1", namespace="lc")))

Sync and async (``lookup`` / ``update`` / ``clear`` and their ``a`` forms). A prompt and the
model's settings (LangChain's ``llm_string``) make the key, through the library's one key
encoding (namespace and key-schema version included). With a semantic backend, a prompt that
missed exactly is compared with the stored prompts of the same ``llm_string`` (as a chat
request's last question, the model settings as its model, which must match).

Generations are stored as plain data (text, message fields, generation info) and rebuilt from
a fixed table of LangChain's own types: an entry never names code to import. Every lookup is a
cache event of call type ``langchain``, so metrics, spans and logs see it; a backend failure
is a miss (fail open) unless the cache is ``fail_closed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.messages import message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, Generation

from .._sync import blocking
from ..facade import Cache
from ..llm.events import EventKind, now
from ..llm.keys import make_key

__all__ = ["CALL_TYPE", "LangChainCache"]

#: The call type of LangChain lookups in events, metrics and spans.
CALL_TYPE: Final = "langchain"
#: What the semantic index compares a prompt as (a chat request's last user turn).
_SEMANTIC_CALL: Final = "acompletion"
_FORMAT: Final = "langchain-generations-v1"


def _dump(generations: Sequence[Generation]) -> dict[str, Any]:
    rows = []
    for generation in generations:
        row: dict[str, Any] = {"text": generation.text, "info": generation.generation_info}
        if isinstance(generation, ChatGeneration):
            row["message"] = message_to_dict(generation.message)
        rows.append(row)
    return {"format": _FORMAT, "generations": rows}


def _load(value: Any) -> list[Generation] | None:
    """The generations of a stored value; ``None`` for a foreign or malformed one (a miss)."""
    if not isinstance(value, dict) or value.get("format") != _FORMAT:
        return None
    try:
        out: list[Generation] = []
        for row in value["generations"]:
            info = row.get("info")
            if "message" in row:
                (message,) = messages_from_dict([row["message"]])
                out.append(ChatGeneration(message=message, generation_info=info))
            else:
                out.append(Generation(text=row["text"], generation_info=info))
        return out
    except (KeyError, TypeError, ValueError):
        return None


class LangChainCache(BaseCache):
    """``langchain_core``'s ``BaseCache`` over a :class:`~aiocache_llm.Cache` (given, or built
    from ``cache_params``: ``LangChainCache(type="disk", disk_cache_dir=...)``)."""

    def __init__(self, cache: Cache | None = None, **cache_params: Any) -> None:
        self.cache = cache if cache is not None else Cache(**cache_params)

    def _key(self, prompt: str, llm_string: str) -> str:
        arguments = {"prompt": prompt, "llm_string": llm_string}
        return make_key(CALL_TYPE, arguments, namespace=self.cache.namespace)

    @staticmethod
    def _request(prompt: str, llm_string: str) -> dict[str, Any]:
        return {"model": llm_string, "messages": [{"role": "user", "content": prompt}]}

    def _scope(self) -> dict[str, str]:
        namespace = self.cache.namespace
        return {"namespace": namespace} if namespace else {}

    # -- async ----------------------------------------------------------------------------
    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The stored generations of ``prompt`` for ``llm_string`` (or of a similar prompt,
        on a semantic backend), else ``None``."""
        handler = self.cache.handler
        key = self._key(prompt, llm_string)
        start = now()
        try:
            generations = _load(await handler.backend.async_get_cache(key))
        except Exception as exc:  # fail open: a miss (raised under fail_closed)
            handler.report.backend_error("lookup", key, CALL_TYPE, exc)
            return None
        similarity = None
        if generations is None and handler.semantic:
            lookup = handler.backend.async_semantic_lookup  # type: ignore[attr-defined]
            scope = self._scope()
            query = handler.semantic_query(_SEMANTIC_CALL, self._request(prompt, llm_string), scope)
            try:
                hit = None if query is None else await lookup(_SEMANTIC_CALL, query, scope)
            except Exception as exc:
                handler.report.backend_error("semantic lookup", key, CALL_TYPE, exc)
                return None
            if hit is not None:
                generations = _load(hit.value)
                similarity = float(hit.similarity) if generations is not None else None
        kind: EventKind = "miss" if generations is None else "hit"
        handler.report.event(kind, key, CALL_TYPE, start, similarity)
        return generations

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store ``return_val`` for ``prompt`` and ``llm_string`` (and, on a semantic backend,
        for similar prompts later)."""
        handler = self.cache.handler
        key = self._key(prompt, llm_string)
        value = _dump(return_val)
        start = now()
        try:
            await handler.backend.async_set_cache(key, value)
            if handler.semantic:
                store = handler.backend.async_semantic_store  # type: ignore[attr-defined]
                scope = self._scope()
                request = self._request(prompt, llm_string)
                query = handler.semantic_query(_SEMANTIC_CALL, request, scope)
                if query is not None:
                    await store(_SEMANTIC_CALL, query, scope, value)
        except Exception as exc:
            handler.report.backend_error("store", key, CALL_TYPE, exc)
            return
        handler.report.event("store", key, CALL_TYPE, start)

    async def aclear(self, /, **kwargs: Any) -> None:
        """Remove every entry of the cache's store (its namespace, when it has one)."""
        await self.cache.async_flush()

    # -- blocking (on the library's loop thread) -------------------------------------------
    lookup = blocking(alookup)
    update = blocking(aupdate)
    clear = blocking(aclear)
