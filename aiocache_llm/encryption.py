"""Encryption of stored values at rest: AES-256-GCM with a key the user supplies.

:class:`EncryptedCache` wraps any backend. Every value is serialised (orjson, or bytes as they
are), encrypted with a fresh 96-bit nonce, and stored as bytes; the cache key is the
authenticated associated data, so an entry copied under another key does not decrypt. A value
that does not decrypt (another key, tampering, garbage) reads as a miss and is counted in
``stats.corrupt_reads``. Counters (``increment``) stay plain numbers: they carry no content.

Keys are 32 bytes, given as bytes or as URL-safe base64 text (:func:`generate_key` makes one).
Pass several to rotate: the first encrypts, every one decrypts. The stored layout is::

    b"\\xe1" | key id (4 bytes: the start of sha256(key)) | nonce (12 bytes) | ciphertext+tag

Needs the ``encryption`` extra (``pip install 'aiocache-llm[encryption]'``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ._wrapper import Wrapper
from .backends.base import USE_DEFAULT, BaseCache, TTLArg, check_key
from .codec import Entry, dumps_json, loads_json
from .errors import ConfigurationError, MissingDependencyError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["EncryptedCache", "generate_key"]

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


class EncryptedCache(Wrapper):
    """A backend whose stored values are encrypted and authenticated (AES-256-GCM).

    Plain numbers (``int``, ``float``) are stored as they are, as counters are: they can be
    incremented, and an increment's result reads back.
    """

    def __init__(self, inner: BaseCache, key: KeyArg | Sequence[KeyArg]) -> None:
        keys = [key] if isinstance(key, (bytes, str)) else list(key)
        if not keys:
            raise ConfigurationError("give at least one encryption key")
        super().__init__(inner)
        raw = [_key_bytes(k) for k in keys]
        self._ciphers = {hashlib.sha256(k).digest()[:_KEY_ID]: _aesgcm(k) for k in raw}
        self._current = hashlib.sha256(raw[0]).digest()[:_KEY_ID]

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

    def open(self, key: str, stored: Any) -> Any:
        """The value sealed under ``key``, or ``None`` if ``stored`` does not decrypt."""
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
            self.stats.corrupt_reads += 1
            return None

    # -- the contract ------------------------------------------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        return self.open(key, await self.inner.async_get_cache(key))

    async def async_get_entry(self, key: str) -> Entry | None:
        entry = await self.inner.async_get_entry(key)
        if entry is None:
            return None
        value = self.open(key, entry.value)
        return None if value is None else Entry(value, entry.created_at, entry.expires_at)

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        stored = await self.inner.async_batch_get_cache(keys)
        return [self.open(k, v) for k, v in zip(keys, stored, strict=True)]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self.inner.async_set_cache(key, self.seal(key, value), ttl)

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        sealed = [(k, self.seal(k, v)) for k, v in items]
        await self.inner.async_set_cache_pipeline(sealed, ttl)

    async def async_test_connection(self) -> dict[str, Any]:
        return {**await self.inner.async_test_connection(), "encrypted": True}

    # -- semantic backends: the stored answer is sealed, the search text is not -----------
    def __getattr__(self, name: str) -> Any:
        attribute = super().__getattr__(name)
        if name == "async_semantic_store":
            return self._semantic_store
        if name == "async_semantic_lookup":
            return self._semantic_lookup
        return attribute

    async def _semantic_store(
        self,
        call_type: str,
        request: Mapping[str, Any],
        scope: Mapping[str, str],
        value: Any,
        ttl: TTLArg = USE_DEFAULT,
    ) -> None:
        sealed = self.seal(_semantic_aad(scope), value)
        await self.inner.async_semantic_store(  # type: ignore[attr-defined]
            call_type, request, scope, sealed, ttl
        )

    async def _semantic_lookup(
        self, call_type: str, request: Mapping[str, Any], scope: Mapping[str, str]
    ) -> Any:
        hit = await self.inner.async_semantic_lookup(  # type: ignore[attr-defined]
            call_type, request, scope
        )
        if hit is None:
            return None
        value = self.open(_semantic_aad(scope), hit.value)
        if value is None:
            return None
        return type(hit)(value=value, similarity=hit.similarity, key=hit.key)

    def __repr__(self) -> str:
        return f"EncryptedCache({self.inner!r})"  # never the key


def _semantic_aad(scope: Mapping[str, str]) -> str:
    """Associated data of a semantic entry: its scope, so it decrypts only in its own scope."""
    return "semantic:" + str(scope.get("namespace", "")) + "\x00" + str(scope.get("identity", ""))
