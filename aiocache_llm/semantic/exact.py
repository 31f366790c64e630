"""The exact-key half of a semantic cache: the whole storage contract, served by its store.

:class:`ExactKeys` hands every contract method to ``store`` (any backend) and shares its
``stats`` and ``default_ttl``; the store's other attributes and methods (``async_publish``,
versioned writes, ``namespace``, ...) are reachable on it too, so a layered cache in front of
a semantic cache over Redis stays coherent. :class:`~aiocache_llm.semantic.cache.SemanticCache`
adds the index on top and keeps it in step on deletes and flushes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..core.codec import Entry
from ..errors import ConfigurationError
from ..storage.base import USE_DEFAULT, BaseCache, IncrementOp, TTLArg, check_ttl

__all__ = ["ExactKeys"]


class ExactKeys(BaseCache):
    """Every exact-key operation of ``store``, under this cache's ``backend_name``."""

    def __init__(self, store: BaseCache) -> None:
        if not isinstance(store, BaseCache):
            raise ConfigurationError("store must be a cache backend (a BaseCache)")
        self.__dict__["store"] = store
        super().__init__(default_ttl=store.default_ttl)
        self.stats = store.stats  # one stats sink: what the semantic side counts shows there

    store: BaseCache

    @property
    def default_ttl(self) -> float | None:
        """The store's default TTL: one setting, wherever it is changed."""
        return self.__dict__["store"].default_ttl  # type: ignore[no-any-return]

    @default_ttl.setter
    def default_ttl(self, value: float | None) -> None:
        self.__dict__["store"].default_ttl = check_ttl(value)

    def __getattr__(self, name: str) -> Any:
        store = self.__dict__.get("store")
        if store is None:
            raise AttributeError(name)
        return getattr(store, name)

    async def async_get_cache(self, key: str) -> Any:
        return await self.store.async_get_cache(key)

    async def async_get_entry(self, key: str) -> Entry | None:
        return await self.store.async_get_entry(key)

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        return await self.store.async_batch_get_cache(keys)

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        return await self.store.async_batch_get_entries(keys)

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self.store.async_set_cache(key, value, ttl)

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        await self.store.async_set_cache_pipeline(cache_list, ttl)

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        return await self.store.async_increment(key, value, ttl, refresh_ttl=refresh_ttl)

    async def async_increment_pipeline(self, increment_list: Iterable[IncrementOp]) -> list[float]:
        return await self.store.async_increment_pipeline(increment_list)

    async def async_delete_cache(self, key: str) -> None:
        await self.store.async_delete_cache(key)

    async def async_flush_cache(self) -> None:
        await self.store.async_flush_cache()

    async def async_get_ttl(self, key: str) -> float | None:
        return await self.store.async_get_ttl(key)

    async def async_ping(self) -> bool:
        return await self.store.async_ping()

    async def async_test_connection(self) -> dict[str, Any]:
        return {**await self.store.async_test_connection(), "backend": self.backend_name}

    async def async_disconnect(self) -> None:
        await self.store.async_disconnect()
