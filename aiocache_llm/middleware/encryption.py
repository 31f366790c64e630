"""Encryption of stored values at rest, as a middleware: AES-256-GCM with a key the user supplies.

Every value is serialised (orjson, or bytes as they are), encrypted with a fresh 96-bit nonce,
and stored as bytes; the cache key is the authenticated associated data, so an entry copied
under another key does not decrypt. A value that does not decrypt (another key, tampering,
garbage) reads as a miss and is counted in the stack's ``stats.corrupt_reads``. Counters
(``increment``) stay plain numbers: they carry no content. A semantic cache's stored answer is
sealed with its scope and its binding (the exact key it is stored under and the question it
answers) as associated data, so an answer moved to another index entry does not decrypt; the
search text is not encrypted.

Keys are 32 bytes, given as bytes or as URL-safe base64 text (:func:`generate_key` makes one).
Pass several to rotate: the first encrypts, every one decrypts. The stored layout is::

    b"\\xe1" | key id (4 bytes: the start of sha256(key)) | nonce (12 bytes) | ciphertext+tag

Needs the ``encryption`` extra (``pip install 'aiocache-llm[encryption]'``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from ..core.codec import Entry, dumps_json, loads_json
from ..errors import ConfigurationError, MissingDependencyError
from ..storage.base import USE_DEFAULT, CacheStats, TTLArg, check_key
from ._chain import CallNext, Middleware, Operation

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Encryption", "KeyArg", "generate_key"]

_MAGIC: Final = b"\xe1"
_BYTES: Final = b"b"
_JSON: Final = b"j"
_KEY_ID: Final = 4
_NONCE: Final = 12
KeyArg = bytes | str


def generate_key() -> str:
    """A new random 32-byte key, as URL-safe base64 text (keep it secret)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _key_bytes(key: KeyArg) -> bytes:
    if isinstance(key, str):
        try:
            key = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            raise ConfigurationError("an encryption key must be 32 bytes or base64 text") from None
    if not isinstance(key, bytes) or len(key) != 32:
        raise ConfigurationError("an encryption key must be 32 bytes (AES-256)")
    return key


def _aesgcm(key: bytes) -> AESGCM:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise MissingDependencyError("encryption", "encryption") from exc
    return AESGCM(key)


@runtime_checkable
class BindsSemanticEntries(Protocol):
    """A semantic backend that names what each stored answer is bound to."""

    def semantic_binding(
        self, call_type: str, request: Any, scope: Mapping[str, str]
    ) -> str | None:
        """The binding of the entry ``request`` is stored as (``None``: it is not stored)."""
        ...


def _semantic_aad(scope: Mapping[str, str], binding: str) -> str:
    """Associated data of a semantic entry: its scope and binding, so it decrypts only in its
    own scope and its own index entry."""
    namespace, identity = str(scope.get("namespace", "")), str(scope.get("identity", ""))
    return f"semantic:{len(namespace)}:{namespace}:{len(identity)}:{identity}:{binding}"


def _store_args(
    call_type: str,
    request: Any,
    scope: Mapping[str, str],
    value: Any,
    ttl: TTLArg = USE_DEFAULT,
) -> tuple[Any, ...]:
    """The arguments of ``async_semantic_store``, however they were passed, in order."""
    return call_type, request, scope, value, ttl


def _lookup_scope(call_type: str, request: Any, scope: Mapping[str, str]) -> Mapping[str, str]:
    return scope


Transform = Callable[[Operation, CallNext], Awaitable[Any]]


class Encryption(Middleware):
    """Seals every value on its way to the backend and opens it on its way back.

    Plain numbers (``int``, ``float``) are stored as they are, as counters are: they can be
    incremented, and an increment's result reads back.
    """

    def __init__(self, key: KeyArg | Sequence[KeyArg]) -> None:
        keys = [key] if isinstance(key, (bytes, str)) else list(key)
        if not keys:
            raise ConfigurationError("give at least one encryption key")
        raw = [_key_bytes(k) for k in keys]
        self._ciphers = {hashlib.sha256(k).digest()[:_KEY_ID]: _aesgcm(k) for k in raw}
        self._current = hashlib.sha256(raw[0]).digest()[:_KEY_ID]
        self._transforms: dict[str, Transform] = {
            "async_get_cache": self._get,
            "async_get_entry": self._get_entry,
            "async_batch_get_cache": self._batch_get,
            "async_batch_get_entries": self._batch_get_entries,
            "async_set_cache": self._set,
            "async_set_cache_pipeline": self._set_pipeline,
            "async_semantic_store": self._semantic_store,
            "async_semantic_lookup": self._semantic_lookup,
        }

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        transform = self._transforms.get(op.method)
        if transform is None:  # counters, deletes, flushes, extras: nothing sealed
            return await call_next(op)
        return await transform(op, call_next)

    def describe(self) -> dict[str, Any]:
        return {"encrypted": True}

    def __repr__(self) -> str:
        return "Encryption()"  # never the key

    # -- sealing ---------------------------------------------------------------------------
    def seal(self, key: str, value: Any) -> bytes | float:
        """``value`` encrypted for storage under ``key`` (a plain number is kept as it is)."""
        key = check_key(key)
        if value.__class__ is int or value.__class__ is float:
            dumps_json(value)  # NaN and infinity are refused as everywhere
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            plain = _BYTES + bytes(value)
        else:
            plain = _JSON + dumps_json(value)
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self._current].encrypt(nonce, plain, key.encode())
        return _MAGIC + self._current + nonce + sealed

    def open(self, key: str, stored: Any, stats: CacheStats) -> Any:
        """The value sealed under ``key``, or ``None`` (counted in ``stats.corrupt_reads``) if
        ``stored`` does not decrypt."""
        if stored is None:
            return None
        if stored.__class__ is int or stored.__class__ is float:  # a counter
            return stored
        try:
            data = bytes(stored)
            cipher = self._ciphers.get(data[1 : 1 + _KEY_ID])
            if data[:1] != _MAGIC or cipher is None:
                raise ValueError("not sealed by these keys")
            start = 1 + _KEY_ID
            nonce = data[start : start + _NONCE]
            plain = cipher.decrypt(nonce, data[start + _NONCE :], key.encode())
            kind, payload = plain[:1], plain[1:]
            return payload if kind == _BYTES else loads_json(payload)
        except Exception:  # InvalidTag, a foreign value, bad JSON: a miss, never an error
            stats.corrupt_reads += 1
            return None

    def _open_entry(self, key: str, entry: Entry | None, stats: CacheStats) -> Entry | None:
        if entry is None:
            return None
        value = self.open(key, entry.value, stats)
        return None if value is None else Entry(value, entry.created_at, entry.expires_at)

    # -- per operation -----------------------------------------------------------------------
    async def _get(self, op: Operation, call_next: CallNext) -> Any:
        return self.open(op.args[0], await call_next(op), op.backend.stats)

    async def _get_entry(self, op: Operation, call_next: CallNext) -> Entry | None:
        return self._open_entry(op.args[0], await call_next(op), op.backend.stats)

    async def _batch_get(self, op: Operation, call_next: CallNext) -> list[Any]:
        stats = op.backend.stats
        stored = await call_next(op)
        return [self.open(k, v, stats) for k, v in zip(op.args[0], stored, strict=True)]

    async def _batch_get_entries(self, op: Operation, call_next: CallNext) -> list[Entry | None]:
        stats = op.backend.stats
        stored = await call_next(op)
        return [self._open_entry(k, e, stats) for k, e in zip(op.args[0], stored, strict=True)]

    async def _set(self, op: Operation, call_next: CallNext) -> None:
        key, value, ttl = op.args
        op.args = (key, self.seal(key, value), ttl)
        await call_next(op)

    async def _set_pipeline(self, op: Operation, call_next: CallNext) -> None:
        items, ttl = op.args
        op.args = ([(k, self.seal(k, v)) for k, v in items], ttl)
        await call_next(op)

    async def _semantic_store(self, op: Operation, call_next: CallNext) -> None:
        call_type, request, scope, value, ttl = _store_args(*op.args, **(op.kwargs or {}))
        backend = op.backend
        if not isinstance(backend, BindsSemanticEntries):
            raise TypeError(f"{type(backend).__name__} does not bind its semantic entries")
        binding = backend.semantic_binding(call_type, request, scope)
        if binding is None:  # nothing will be stored
            return
        sealed = self.seal(_semantic_aad(scope, binding), value)
        op.args, op.kwargs = (call_type, request, scope, sealed, ttl), None
        await call_next(op)

    async def _semantic_lookup(self, op: Operation, call_next: CallNext) -> Any:
        scope = _lookup_scope(*op.args, **(op.kwargs or {}))
        hit = await call_next(op)
        if hit is None:
            return None
        value = self.open(_semantic_aad(scope, hit.binding), hit.value, op.backend.stats)
        if value is None:
            return None
        return dataclasses.replace(hit, value=value)
