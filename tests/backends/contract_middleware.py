"""Middleware stacks in the contract suite: a guarded, an encrypted and a guarded encrypted
cache must answer every input exactly as the backend beneath them does."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiocache_llm import DiskCache, InMemoryCache
from aiocache_llm.middleware.builders import GuardedCache
from aiocache_llm.storage.base import BaseCache

KEY = "x" * 43 + "="  # 32 bytes of URL-safe base64


def _encrypted(inner: BaseCache) -> BaseCache:
    pytest.importorskip("cryptography")
    from aiocache_llm.middleware.builders import EncryptedCache

    return EncryptedCache(inner, KEY)


def guarded_memory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    return GuardedCache(InMemoryCache(max_size_in_memory=10_000), deadline=10.0)


def encrypted_disk(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    return _encrypted(DiskCache(tmp_path / "encrypted"))


def guarded_encrypted_memory(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    inner = _encrypted(InMemoryCache(max_size_in_memory=10_000))
    return GuardedCache(inner, policy="fail_closed", deadline=10.0)


FACTORIES = {
    "guarded-memory": guarded_memory,
    "encrypted-disk": encrypted_disk,
    "guarded-encrypted-memory": guarded_encrypted_memory,
}
