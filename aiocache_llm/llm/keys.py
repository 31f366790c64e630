"""Cache keys: a hash of exactly the arguments that change an LLM call's answer.

A key looks like ``"<namespace>:llm:v1:<sha256 hex>"`` (``"llm:v1:<sha256 hex>"`` without a
namespace): the digest has a fixed length, so the readable namespace prefix is unambiguous.
The hash covers the key-schema version, the call family (``acompletion`` and
``completion`` share entries), the canonical form of the answer-changing arguments, and the
caller's identity (tenant or user) when one is given. It is the sha256 of orjson's
sorted-keys serialisation, so it is the same in every process, on every machine and with every
Python version. Keys never contain prompt text: only the namespace and the digest are readable.

Canonical means that argument order, dict order, ``1`` versus ``1.0``, arguments left at the
provider's default (``temperature=1``, ``n=1``, ...), ``None`` and the OpenAI SDK's "not given"
markers do not change the key. Every other argument enters it, also ``extra_body``,
``extra_query``, the request headers (``extra_headers``, ``headers``: ``anthropic-beta``,
``OpenAI-Beta`` and any header not in :data:`IGNORED_HEADERS`, names lower-cased) and the
deployment (``api_base``/``base_url``, one trailing ``/`` aside, unless it is a provider's
public default; ``api_version``, ``custom_llm_provider``). Only the arguments of
:data:`IGNORED_ARGUMENTS` (auth, tracing and bookkeeping, timeouts and retries, ``stream``,
cache controls, and ``user``, which enters only with ``key_on_user``) never do: a streamed and
a non-streamed call share one entry. Changing these rules means raising
:data:`KEY_SCHEMA_VERSION`, which retires every old entry on purpose (the rules for headers
and deployments came with the codec's format version 2, which retired every old entry).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any, Final

import orjson

from ..errors import InvalidArgumentError
from .shapes.keyrules import CANONICAL as _CANONICAL
from .shapes.keyrules import DEFAULT_BASES, IGNORED_ARGUMENTS, IGNORED_HEADERS
from .shapes.keyrules import DEFAULTS as _SHAPE_DEFAULTS
from .shapes.keyrules import FAMILIES as _SHAPE_FAMILIES

__all__ = [
    "IGNORED_ARGUMENTS",
    "IGNORED_HEADERS",
    "KEY_SCHEMA_VERSION",
    "call_family",
    "deployment",
    "digest",
    "file_digest",
    "keyed_headers",
    "make_key",
    "relevant_arguments",
    "made_here",
    "scoped_custom_key",
]

#: Version of the key rules. It is inside the hashed input and in the readable prefix.
KEY_SCHEMA_VERSION: Final = 1
_PREFIX: Final = f"llm:v{KEY_SCHEMA_VERSION}:"

#: call type -> family whose entries it shares
_FAMILIES: Final[dict[str, str]] = {
    "completion": "chat",
    "acompletion": "chat",
    "chat": "chat",
    "chat.completions.create": "chat",
    "text_completion": "text",
    "atext_completion": "text",
    "completions.create": "text",
    "embedding": "embedding",
    "aembedding": "embedding",
    "embeddings.create": "embedding",
    "transcription": "transcription",
    "atranscription": "transcription",
    "audio.transcriptions.create": "transcription",
    "rerank": "rerank",
    "arerank": "rerank",
    **_SHAPE_FAMILIES,
}

_IGNORED: Final = IGNORED_ARGUMENTS

#: Per family: arguments whose value equals the provider's default (left out of the key).
_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "chat": {
        "temperature": 1,
        "top_p": 1,
        "n": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "logprobs": False,
        "parallel_tool_calls": True,
        "stop": [],
        "tools": [],
        "logit_bias": {},
        "functions": [],
    },
    "text": {
        "temperature": 1,
        "top_p": 1,
        "n": 1,
        "best_of": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "max_tokens": 16,
        "echo": False,
        "stop": [],
        "logit_bias": {},
        "suffix": "",
    },
    "embedding": {"encoding_format": "float"},
    "transcription": {"temperature": 0, "response_format": "json"},
    "rerank": {"return_documents": True},
    **_SHAPE_DEFAULTS,
}
_NO_DEFAULTS: Final[dict[str, Any]] = {}
_SKIP_TYPES: Final = frozenset({"NotGiven", "Omit"})
_MISSING: Final = object()


def call_family(call_type: str) -> str:
    """The family a call type shares entries with (``"acompletion"`` -> ``"chat"``).

    An unknown call type is its own family.
    """
    return _FAMILIES.get(call_type, call_type)


def _plain(obj: Any) -> Any:
    """orjson fallback: pydantic models and SDK objects become plain data."""
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump(exclude_none=True)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"sha256": hashlib.sha256(obj).hexdigest()}
    raise TypeError(f"{type(obj).__name__} is not a JSON value")


_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def canonical_json(obj: Any) -> bytes:
    """The canonical JSON bytes of ``obj`` (sorted keys; models dumped without ``None``)."""
    try:
        return orjson.dumps(obj, default=_plain, option=_OPTIONS)
    except TypeError as exc:
        raise InvalidArgumentError(f"an argument cannot be part of a cache key: {exc}") from exc


def digest(obj: Any) -> str:
    """The sha256 hex digest of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def file_digest(file: Any) -> dict[str, str]:
    """``{"sha256": ...}`` of a file argument's bytes, leaving a file object where it was.

    Accepts bytes, a path, a seekable binary file, or the SDKs' ``(filename, content, ...)``
    tuple (only the content counts).
    """
    if isinstance(file, tuple) and len(file) >= 2:
        file = file[1]
    if isinstance(file, (bytes, bytearray, memoryview)):
        return {"sha256": hashlib.sha256(file).hexdigest()}
    if isinstance(file, (str, os.PathLike)):
        sha = hashlib.sha256()
        try:
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    sha.update(block)
        except OSError as exc:
            raise InvalidArgumentError(
                f"the file argument cannot be read ({type(exc).__name__}: {exc.strerror})"
            ) from exc
        return {"sha256": sha.hexdigest()}
    read, seek, tell = (getattr(file, a, None) for a in ("read", "seek", "tell"))
    if read is None or seek is None or tell is None or not _seekable(file):
        raise InvalidArgumentError(
            "a cached file argument must be bytes, a path or a seekable binary file"
        )
    try:
        position = tell()
        try:
            data = read()
        finally:
            seek(position)
    except OSError as exc:
        raise InvalidArgumentError(
            f"the file argument cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(data, str):
        data = data.encode()
    return {"sha256": hashlib.sha256(data).hexdigest()}


def _seekable(file: Any) -> bool:
    check = getattr(file, "seekable", None)
    return bool(check()) if check is not None else True


def _canonical_message(message: Any) -> Any:
    if message.__class__ is not dict:
        dump = getattr(message, "model_dump", None)
        if dump is None:
            return message
        message = dump(exclude_none=True)
    content = message.get("content")
    if content.__class__ is list and len(content) == 1:
        part = content[0]
        if part.__class__ is dict and part.get("type") == "text" and len(part) == 2:
            message = {**message, "content": part.get("text")}
    if None in message.values():
        message = {k: v for k, v in message.items() if v is not None}
    return message


#: what an argument's name says to do with it (decided once per name, see :func:`_kind_of`)
_IGNORE, _MESSAGES, _STOP, _FILE, _VALUE, _HEADERS, _BASE = range(7)
_NAME_KINDS: dict[str, int] = {}
_SPECIAL_NAMES: Final = {
    "messages": _MESSAGES,
    "stop": _STOP,
    "file": _FILE,
    "extra_headers": _HEADERS,
    "headers": _HEADERS,
    "api_base": _BASE,
    "base_url": _BASE,
}


def keyed_headers(headers: Any) -> dict[str, Any] | None:
    """The headers of ``headers`` that enter a key: names lower-cased, those of
    :data:`IGNORED_HEADERS` and ``x-stainless-*`` left out; ``None`` if none is left."""
    if not isinstance(headers, Mapping):
        return None if headers is None else {"": headers}
    out: dict[str, Any] = {}
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in IGNORED_HEADERS or lower.startswith("x-stainless-"):
            continue
        if value is None or value.__class__.__name__ in _SKIP_TYPES:
            continue
        out[lower] = value
    return out or None


def deployment(base: Any) -> str | None:
    """The deployment a base URL names, as a key spells it (``None``: the provider default)."""
    text = str(base).rstrip("/")
    return None if text in DEFAULT_BASES else text


def _kind_of(name: str) -> int:
    kind = (
        _IGNORE
        if name in _IGNORED or name.startswith("litellm_")
        else _SPECIAL_NAMES.get(name, _VALUE)
    )
    if len(_NAME_KINDS) < 4096:  # argument names are few; a flood of new ones is not kept
        _NAME_KINDS[name] = kind
    return kind


def relevant_arguments(call_type: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Exactly the arguments of ``kwargs`` that change the answer of a ``call_type`` call.

    Canonicalised: transport arguments, ``None``, "not given" markers and values equal to the
    provider default are dropped; integral floats become ints; a one-item text ``content``
    list becomes its string; a string ``stop`` becomes a one-item list; a transcription's
    ``file`` becomes the digest of its bytes.
    """
    family = _FAMILIES.get(call_type, call_type)
    defaults = _DEFAULTS.get(family, _NO_DEFAULTS)
    kinds = _NAME_KINDS
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        if value is None:
            continue
        kind = kinds.get(name)
        if kind is None:
            kind = _kind_of(name)
        if kind == _IGNORE or value.__class__.__name__ in _SKIP_TYPES:
            continue
        if kind == _VALUE:
            if value.__class__ is float and value.is_integer():
                value = int(value)
        elif kind == _MESSAGES:
            value = [_canonical_message(m) for m in value]
        elif kind == _STOP:
            if value.__class__ is str:
                value = [value]
        elif kind == _HEADERS:
            value = keyed_headers(value)
            if value is None:
                continue
            name = "headers"  # extra_headers (SDKs) and headers (LiteLLM) are one thing
            if name in out:
                value = {**out[name], **value}
        elif kind == _BASE:
            value = deployment(value)
            if value is None:
                continue
            name = "api_base"  # base_url (SDKs) and api_base (LiteLLM) name one deployment
        else:
            value = file_digest(value)
        default = defaults.get(name, _MISSING)
        if default.__class__ is value.__class__ and default == value:
            continue
        out[name] = value
    if family == "chat" and "tool_choice" in out:
        choice = out["tool_choice"]
        if choice == ("auto" if "tools" in out or "functions" in out else "none"):
            del out["tool_choice"]
    canonical = _CANONICAL.get(family)
    return out if canonical is None else canonical(out)


def make_key(
    call_type: str,
    kwargs: Mapping[str, Any],
    *,
    namespace: str | None = None,
    identity: str | None = None,
    key_on_user: bool = False,
) -> str:
    """The cache key of a ``call_type`` call with ``kwargs``.

    ``namespace`` prefixes the key (outside the hash, so a namespace can be listed or flushed);
    ``identity`` (a tenant or user id) is folded into the hash, so two identities never share
    an entry. ``key_on_user``: the ``user`` argument enters the key too (LiteLLM's rule).
    """
    hashed: dict[str, Any] = {
        "v": KEY_SCHEMA_VERSION,
        "call": _FAMILIES.get(call_type, call_type),
        "args": relevant_arguments(call_type, kwargs),
    }
    if identity is not None:
        hashed["identity"] = identity
    if key_on_user:
        user = kwargs.get("user")
        if user is not None and user.__class__.__name__ not in _SKIP_TYPES:
            hashed["user"] = user
    sha = hashlib.sha256(canonical_json(hashed)).hexdigest()
    if namespace:
        return f"{namespace}:{_PREFIX}{sha}"
    return _PREFIX + sha


#: Custom keys of a caller with an identity: ``llm:v1:id:<sha256 hex>``.
_SCOPED_PREFIX: Final = f"{_PREFIX}id:"
#: Anonymous custom keys that would look like a key of this module: ``llm:v1:raw:<hex>``.
_RAW_PREFIX: Final = f"{_PREFIX}raw:"


def made_here(key: object) -> bool:
    """Whether ``key`` has the shape of a key of this module (``[<namespace>:]llm:v<n>:...``),
    as opposed to one LiteLLM or a ``get_cache_key`` hook made."""
    return isinstance(key, str) and (key.startswith(_PREFIX) or f":{_PREFIX}" in key)


def scoped_custom_key(key: str, *, namespace: str | None, identity: str | None) -> str:
    """The cache key of a ``get_cache_key`` hook's ``key`` for a caller's namespace and
    identity.

    An anonymous caller's key is the hook's own (``"<namespace>:<key>"``), as with LiteLLM. A
    caller with an identity gets the digest of the structure ``[version, namespace, identity,
    key]``, under a prefix an anonymous key never has: an anonymous key that starts with
    ``llm:`` is itself replaced by a digest. So no prompt, however crafted, makes an anonymous
    key equal to another identity's.
    """
    if identity is not None:
        key = _SCOPED_PREFIX + digest([KEY_SCHEMA_VERSION, namespace, identity, key])
    elif key.startswith("llm:"):
        key = _RAW_PREFIX + digest([KEY_SCHEMA_VERSION, namespace, None, key])
    return f"{namespace}:{key}" if namespace else key
