"""Encryption of stored values at rest: AES-256-GCM with a key the user supplies.

:class:`EncryptedCache` puts any backend behind the
:class:`~aiocache_llm.middleware.Encryption` middleware, which describes the format: every
value sealed with a fresh nonce and the cache key as associated data; a value that does not
decrypt reads as a miss (counted in ``stats.corrupt_reads``); counters stay plain numbers.
Pass several keys to rotate: the first encrypts, every one decrypts.

Needs the ``encryption`` extra (``pip install 'aiocache-llm[encryption]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .backends.base import BaseCache
from .middleware import ComposedCache
from .middleware.encryption import Encryption, KeyArg, generate_key

__all__ = ["EncryptedCache", "generate_key"]


class EncryptedCache(ComposedCache):
    """A backend whose stored values are encrypted and authenticated (AES-256-GCM).

    Plain numbers (``int``, ``float``) are stored as they are, as counters are: they can be
    incremented, and an increment's result reads back.
    """

    def __init__(self, inner: BaseCache, key: KeyArg | Sequence[KeyArg]) -> None:
        self.encryption = Encryption(key)
        super().__init__(inner, [self.encryption])

    def seal(self, key: str, value: Any) -> bytes | float:
        """``value`` encrypted for storage under ``key`` (a plain number is kept as it is)."""
        return self.encryption.seal(key, value)

    def open(self, key: str, stored: Any) -> Any:
        """The value sealed under ``key``, or ``None`` if ``stored`` does not decrypt."""
        return self.encryption.open(key, stored, self.stats)

    def __repr__(self) -> str:
        return f"EncryptedCache({self.inner!r})"  # never the key
