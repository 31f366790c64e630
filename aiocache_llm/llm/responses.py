"""Stored answers: plain data in the cache, the caller's own types on the way out.

Responses (pydantic models from the OpenAI SDK or LiteLLM, or plain dicts) are stored as plain
dicts together with the name of their type, and rebuilt into that type on a hit. A stored name
never names code to import: it is looked up in a closed table, the types seen in this process
(returned by an upstream, or declared by a cached function) and the SDKs' answer types of
:data:`KNOWN_TYPES`, the latter only once their package is loaded in this process (a read never
loads a package). Any other name is an :class:`UnknownTypeError`, which the cache counts and
reads as a miss.

Streams are stored as the list of their chunks. :func:`aggregate_chunks` turns chat or text
chunks into one response (tool-call deltas included) and :func:`response_to_chunks` does the
reverse, so a streamed answer can serve a plain call and the other way round; the event streams
of the Responses and Messages APIs do the same through :mod:`aiocache_llm.llm.shapes`, stored under
their event union's name and rebuilt event by event as each event's own type.

Every answer the cache layer returns carries ``_hidden_params`` (as LiteLLM's responses do):
``cache_hit``, ``cache_key`` and, for a semantic hit, ``similarity``; read it with
:func:`cache_info`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any, Final

import orjson

from ..errors import CorruptEntryError
from . import shapes
from .chunks import aggregate_chunks, is_usage_chunk, response_to_chunks, usage_tokens
from .entries import ENTRY_VERSION, make_entry
from .shapes.events import UNIONS, union_for, union_named
from .shapes.sse import SSE_BYTES, SSEBytes

__all__ = [
    "KNOWN_TYPES",
    "CachedDict",
    "UnknownTypeError",
    "aggregate_chunks",
    "cache_info",
    "dump",
    "is_usage_chunk",
    "known_type",
    "ENTRY_VERSION",
    "make_entry",
    "mark",
    "rebuild",
    "response_to_chunks",
    "type_name",
    "type_name_of",
    "usage_tokens",
]

#: The SDKs' answer types an entry may be rebuilt as without this process having seen them.
KNOWN_TYPES: Final = frozenset(
    {
        "openai.types.chat.chat_completion:ChatCompletion",
        "openai.types.chat.chat_completion_chunk:ChatCompletionChunk",
        "openai.types.completion:Completion",
        "openai.types.create_embedding_response:CreateEmbeddingResponse",
        "openai.types.responses.response:Response",
        "openai.types.audio.transcription:Transcription",
        "openai.types.audio.transcription_verbose:TranscriptionVerbose",
        "anthropic.types.message:Message",
        "litellm.types.utils:ModelResponse",
        "litellm.types.utils:ModelResponseStream",
        "litellm.types.utils:EmbeddingResponse",
        "litellm.types.utils:TextCompletionResponse",
        "litellm.types.utils:TranscriptionResponse",
        "litellm.types.rerank:RerankResponse",
        "litellm.types.llms.openai:ResponsesAPIResponse",
    }
)
_types: dict[str, type] = {}


class UnknownTypeError(CorruptEntryError):
    """An entry names a type that is not in the closed table (a miss, counted)."""


#: response type -> chunk type of the same API (and back)
CHUNK_OF: Final[dict[str, str]] = {
    "openai.types.chat.chat_completion:ChatCompletion": (
        "openai.types.chat.chat_completion_chunk:ChatCompletionChunk"
    ),
    "openai.types.completion:Completion": "openai.types.completion:Completion",
    "litellm.types.utils:ModelResponse": "litellm.types.utils:ModelResponseStream",
}
_RESPONSE_OF: Final = {v: k for k, v in CHUNK_OF.items()}


def type_name_of(cls: type) -> str:
    """The stored name of the class ``cls`` (registered for :func:`rebuild`)."""
    name = f"{cls.__module__}:{cls.__qualname__}"
    if name not in _types:
        _types[name] = cls
    return name


class CachedDict(dict[str, Any]):
    """A dict answer with ``_hidden_params`` (``cache_hit``, ``cache_key``, ...)."""

    _hidden_params: dict[str, Any]


def type_name(obj: Any) -> str | None:
    """The stored name of ``obj``'s type, registering it for :func:`rebuild`; None for dicts."""
    cls = type(obj)
    if cls is bytes:  # a raw SSE frame (litellm.anthropic_messages streams them)
        return SSE_BYTES
    if cls is dict or cls is CachedDict or not hasattr(cls, "model_validate"):
        return None
    name = f"{cls.__module__}:{cls.__qualname__}"
    if name not in _types:
        union = union_for(cls)
        if union is not None:  # an event of a typed stream: stored as its union
            return union
        _types[name] = cls
    return name


def _loaded(name: str) -> bool:
    """Whether the package of the type or union ``name`` is loaded in this process."""
    return name.partition(":")[0].partition(".")[0] in sys.modules


def _resolve(name: str | None) -> type | None:
    """The class of the stored type ``name`` (``None``: plain data); raises
    :class:`UnknownTypeError` for a name outside the closed table."""
    if name is None:
        return None
    if name.__class__ is not str:
        raise UnknownTypeError("an entry's type name is not a str")
    cls = _types.get(name)
    if cls is not None:
        return cls
    if name == SSE_BYTES:
        return SSEBytes
    if name in UNIONS and _loaded(name):
        union = union_named(name)
        if union is not None:
            return union  # type: ignore[return-value]
    if name in KNOWN_TYPES and _loaded(name):
        module_name, _, qualname = name.partition(":")
        try:  # a module of a package already loaded: no package is loaded by a read
            obj: Any = importlib.import_module(module_name)
            obj = getattr(obj, qualname)
        except (ImportError, AttributeError):
            obj = None
        if isinstance(obj, type) and hasattr(obj, "model_validate"):
            _types[name] = obj
            return obj
    raise UnknownTypeError("an entry names a type outside the closed table")


_JSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dump(obj: Any) -> Any:
    """Plain JSON-able data for a response or chunk, sharing nothing with ``obj`` (so the
    caller may change its answer without changing the stored one)."""
    model_dump = getattr(obj, "model_dump", None)
    if model_dump is not None:
        return model_dump(mode="json", exclude_unset=True, warnings=False)
    if isinstance(obj, (Mapping, list)):
        try:
            return orjson.loads(orjson.dumps(obj, option=_JSON_OPTIONS))
        except TypeError:  # not JSON: the store refuses it with its typed error
            return dict(obj) if isinstance(obj, Mapping) else list(obj)
    if isinstance(obj, bytes):
        try:
            return obj.decode()
        except UnicodeDecodeError:
            return obj
    return obj


def rebuild(data: Any, name: str | None) -> Any:
    """A fresh instance of the stored type ``name`` made from ``data`` (plain data for
    ``None``; :class:`UnknownTypeError` for a name outside the closed table). Nothing of
    ``data`` is shared with the result: every hit is decoded anew, so a caller that changes its
    answer never changes what the next caller gets."""
    encoded = orjson.dumps(data, option=_JSON_OPTIONS)
    cls: Any = _resolve(name)
    if cls is not None:
        try:
            validate_json = getattr(cls, "model_validate_json", None)
            if validate_json is not None:  # a pydantic model: decoded straight from JSON
                return validate_json(encoded)
            return cls.model_validate(orjson.loads(encoded))  # an event union
        except ValueError:  # the SDKs accept what their servers send, strict or not
            return cls.model_construct(**orjson.loads(encoded))
    fresh = orjson.loads(encoded)
    if type(fresh) is dict:
        return CachedDict(fresh)
    return fresh


def known_type(name: Any) -> bool:
    """Whether an entry's stored type ``name`` can be rebuilt (see :func:`rebuild`)."""
    try:
        _resolve(name)
    except UnknownTypeError:
        return False
    return True


def chunk_type_for(response_type: str | None) -> str | None:
    return CHUNK_OF.get(response_type or "") or shapes.stream_type_of(response_type)


def response_type_for(chunk_type: str | None) -> str | None:
    return _RESPONSE_OF.get(chunk_type or "") or shapes.response_type_of(chunk_type)


#: ``_hidden_params`` that make LiteLLM price a hit at 0 (``response_cost`` for its callbacks and
#: logs, ``upstream_usage_cost`` for ``litellm.completion_cost(hit)``); its usage is left as is.
_HIT_COST: Final = {"response_cost": 0.0, "upstream_usage_cost": 0.0}


def mark(
    obj: Any,
    key: str | list[str] | None,
    hit: bool,
    similarity: float | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Any:
    """Attach ``_hidden_params`` to ``obj`` (when it can carry attributes) and return it; a
    plain dict comes back as a :class:`CachedDict` with the same items."""
    params: dict[str, Any] = (
        {"cache_hit": hit, "cache_key": key, **_HIT_COST}  # a hit costs nothing: what LiteLLM's
        if hit  # cost tracking reads (completion_cost included)
        else {"cache_hit": hit, "cache_key": key}
    )
    if similarity is not None:
        params["similarity"] = similarity
    if facts:
        params.update(facts)
    cls = type(obj)
    if cls is dict or (cls is CachedDict and "_hidden_params" not in obj.__dict__):
        fresh = CachedDict(obj) if cls is dict else obj
        fresh._hidden_params = params  # the common case: a dict answer with no params yet
        return fresh
    try:
        existing = _existing_hidden_params(obj)
        if existing is not None:
            existing.update(params)
        else:
            object.__setattr__(obj, "_hidden_params", params)
    except (AttributeError, TypeError):
        pass
    return obj


def _existing_hidden_params(obj: Any) -> dict[str, Any] | None:
    """``obj._hidden_params`` if it is a dict already (found without raising, which is slow)."""
    attributes = getattr(obj, "__dict__", None)
    if attributes is not None:
        found = attributes.get("_hidden_params")
        if isinstance(found, dict):
            return found
    private = getattr(obj, "__pydantic_private__", None)  # pydantic private attributes
    if private:
        found = private.get("_hidden_params")
        if isinstance(found, dict):
            return found
    return None


def cache_info(obj: Any) -> dict[str, Any]:
    """The cache facts of an answer: ``cache_hit``, ``cache_key`` (and ``similarity``)."""
    params = getattr(obj, "_hidden_params", None)
    if not isinstance(params, dict):
        return {}
    return {k: params[k] for k in _INFO if k in params}


_INFO: Final = ("cache_hit", "cache_key", "similarity", "stale", "partial", "coalesced")
