"""The base of every cache that stands in front of another one (guard, encryption, ...).

:class:`Wrapper` forwards the whole contract to ``inner`` through one hook,
:meth:`Wrapper.around`, so a wrapper writes only what it changes: the guard overrides the hook
(deadline, breaker, failure policy), encryption overrides the methods whose values it seals.
Backend-specific extras (``async_publish``, ``namespace``, ...) pass through ``__getattr__``.
Every layer counts into the innermost backend's ``stats``. Wrappers compose:
``GuardedCache(EncryptedCache(RedisCache(...), key))`` guards the encrypted cache, so a
deadline covers the encryption too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

from .backends.base import USE_DEFAULT, BaseCache, IncrementOp, TTLArg, check_ttl
from .codec import Entry

__all__ = ["RAISE", "Wrapper"]

T = TypeVar("T")

#: The fallback of operations that have no answer to give when they fail (counters).
RAISE: Any = object()


class Wrapper(BaseCache):
    """A cache that hands every operation to ``inner`` through :meth:`around`."""

    def __init__(self, inner: BaseCache) -> None:
        super().__init__(default_ttl=inner.default_ttl)
        self.inner = inner
        self.backend_name = inner.backend_name
        #: One stats sink for the whole stack: what a wrapper counts (failures, corrupt reads)
        #: shows wherever the backend's counters are read (test_connection, /cache/stats).
        self.stats = inner.stats

    @property
    def default_ttl(self) -> float | None:
        """The inner cache's default TTL: one setting, wherever it is changed."""
        inner = self.__dict__.get("inner")
        return None if inner is None else inner.default_ttl

    @default_ttl.setter
    def default_ttl(self, value: float | None) -> None:
        inner = self.__dict__.get("inner")
        if inner is not None:
            inner.default_ttl = check_ttl(value)

    async def around(self, operation: str, call: Awaitable[T], fallback: Any) -> T:
        """Run one operation of ``inner``; ``fallback`` is what a failed one may answer."""
        return await call

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    # -- the contract, each operation through the hook -------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        return await self.around("get", self.inner.async_get_cache(key), None)

    async def async_get_entry(self, key: str) -> Entry | None:
        return await self.around("get", self.inner.async_get_entry(key), None)

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        fallback: list[Any] = [None] * len(keys)
        return await self.around("batch get", self.inner.async_batch_get_cache(keys), fallback)

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        fallback: list[Entry | None] = [None] * len(keys)
        return await self.around("batch get", self.inner.async_batch_get_entries(keys), fallback)

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self.around("set", self.inner.async_set_cache(key, value, ttl), None)

    async def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        await self.around("set", self.inner.async_set_cache_pipeline(items, ttl), None)

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        call = self.inner.async_increment(key, value, ttl, refresh_ttl=refresh_ttl)
        return await self.around("increment", call, RAISE)

    async def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        return await self.around("increment", self.inner.async_increment_pipeline(ops), RAISE)

    async def async_delete_cache(self, key: str) -> None:
        await self.around("delete", self.inner.async_delete_cache(key), None)

    async def async_flush_cache(self) -> None:
        await self.around("flush", self.inner.async_flush_cache(), None)

    async def async_get_ttl(self, key: str) -> float | None:
        return await self.around("ttl", self.inner.async_get_ttl(key), None)

    async def async_ping(self) -> bool:
        return await self.around("ping", self.inner.async_ping(), False)

    async def async_test_connection(self) -> dict[str, Any]:
        return await self.inner.async_test_connection()

    async def async_disconnect(self) -> None:
        await self.inner.async_disconnect()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"
