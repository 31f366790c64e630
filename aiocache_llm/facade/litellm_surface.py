"""What LiteLLM finds when :class:`~aiocache_llm.facade.Cache` is ``litellm.cache``.

LiteLLM reads its cache object's attributes (``cache``, ``supported_call_types``, ``type``,
``mode``, ...) and calls its methods (``get_cache_key``, ``get_cache``, ``async_get_cache``,
``add_cache``, ``async_add_cache``, ``async_add_cache_pipeline``, ``should_use_cache``,
``get_preset_cache_key_from_kwargs``, ...). A :class:`Cache` answers them with a
``litellm.Cache`` of its own (:func:`litellm_view`, made on first use) whose storage
(``.cache``) is a :class:`LiteLLMBackend` over the cache's guarded backend: LiteLLM's keys,
controls, callbacks and cost tracking, over this library's stores, their failure guard and
deadline. This is what :func:`aiocache_llm.litellm_cache` returns, too.

``key_format="litellm"`` stores as LiteLLM's own Redis cache does (:class:`LiteLLMRedisFormat`):
its key, unprefixed, and its JSON, so processes still on LiteLLM's cache and processes on this
library share entries.

Importing this module imports litellm.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Final, Protocol

from litellm.caching.base_cache import BaseCache as _LiteLLMBaseCache
from litellm.caching.caching import Cache as LiteLLMCache
from litellm.types.caching import LiteLLMCacheType

from .._sync import blocking_function
from ..errors import ConfigurationError
from ..middleware import ComposedCache
from ..middleware.builders import EncryptedCache
from ..storage.base import USE_DEFAULT, BaseCache, TTLArg
from ..storage.dual import DualCache
from ..storage.redis.client import RedisClient

__all__ = [
    "LiteLLMBackend",
    "LiteLLMRedisFormat",
    "litellm_attribute",
    "litellm_view",
    "ttl_seconds",
]

logger = logging.getLogger("aiocache_llm.litellm")

#: A ``ttl`` that means "do not keep this" (0 or less, as LiteLLM's controls use it).
_DO_NOT_STORE: Final = object()

#: ``litellm.Cache``'s public names (attributes and methods) that a Cache answers through its
#: LiteLLM view when it has none of its own.
_LITELLM_NAMES: Final = frozenset(
    name for name in dir(LiteLLMCache) if not name.startswith("__")
) | {"cache", "redis_flush_size", "max_messages", "semantic_cache_scope"}


def litellm_attribute(name: str) -> bool:
    """Whether ``name`` is part of ``litellm.Cache``'s surface."""
    return name in _LITELLM_NAMES


def ttl_seconds(ttl: object) -> Any:
    """A LiteLLM ``ttl`` as this library's: ``None`` (not given) -> the backend's default,
    ``timedelta`` -> its seconds, ``0`` or less -> "do not store" (a sentinel)."""
    if ttl is None:
        return USE_DEFAULT
    if isinstance(ttl, datetime.timedelta):
        ttl = ttl.total_seconds()
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl <= 0:
        return _DO_NOT_STORE
    return ttl


class _Settings(Protocol):
    mode: str
    namespace: str | None
    ttl: float | None
    supported_call_types: tuple[str, ...]
    guarded: BaseCache

    @property
    def key_format(self) -> str: ...


def litellm_view(cache: _Settings) -> LiteLLMCache:
    """A ``litellm.Cache`` with ``cache``'s settings, storing in its guarded backend."""
    if cache.key_format == "litellm":
        adapter: LiteLLMBackend = LiteLLMRedisFormat(cache.guarded)
    else:
        adapter = LiteLLMBackend(cache.guarded)
    return new_litellm_cache(
        adapter,
        mode=cache.mode,
        namespace=cache.namespace,
        ttl=cache.ttl,
        supported_call_types=list(cache.supported_call_types),
    )


def new_litellm_cache(adapter: _LiteLLMBaseCache, **options: Any) -> LiteLLMCache:
    """``litellm.Cache(**options)`` whose storage is ``adapter``."""
    if "_backend" in inspect.signature(LiteLLMCache).parameters:
        return LiteLLMCache(type=LiteLLMCacheType.LOCAL, _backend=adapter, **options)
    made = LiteLLMCache(type=LiteLLMCacheType.LOCAL, **options)  # releases without _backend
    made.cache = adapter
    return made


class LiteLLMBackend(_LiteLLMBaseCache):
    """LiteLLM's cache storage interface over an aiocache_llm backend.

    LiteLLM passes request details (``messages``, ``metadata``, ``litellm_params``, ...) as
    keyword arguments to every method; only ``ttl`` changes what is stored. A write is seen by
    reads of this process from the moment it starts (LiteLLM writes in a background task, and
    the next call of the same request may look up before that write has reached the store).
    """

    def __init__(self, backend: BaseCache) -> None:
        default = backend.default_ttl
        super().__init__(default_ttl=int(default) if default is not None else 60)
        self.backend = backend
        #: Values being written, by key: what this process's reads see until the store has them.
        self._writing: dict[str, Any] = {}
        #: Writes begun so far: a read that misses while one began asks again.
        self._writes = 0

    # -- how values are spelled in the store (LiteLLMRedisFormat: as LiteLLM's Redis cache) --
    async def _read(self, key: str) -> Any:
        return await self.backend.async_get_cache(key)

    async def _read_many(self, keys: list[str]) -> list[Any]:
        return await self.backend.async_batch_get_cache(keys)

    async def _write(self, items: list[tuple[str, Any]], ttl: TTLArg) -> None:
        if len(items) == 1:
            await self.backend.async_set_cache(items[0][0], items[0][1], ttl)
        else:
            await self.backend.async_set_cache_pipeline(items, ttl)

    # -- reads ------------------------------------------------------------------------------
    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        if key in self._writing:
            return self._writing[key]
        writes = self._writes
        found = await self._read(key)
        if found is None and self._writes != writes:
            # A write began while this read was on its way (LiteLLM's write task of the
            # previous call, scheduled before this call started): read what it wrote.
            if key in self._writing:
                return self._writing[key]
            found = await self._read(key)
        return found

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        if key in self._writing:
            return self._writing[key]
        return self.backend.get_cache(key) if type(self)._read is LiteLLMBackend._read else None

    async def async_batch_get_cache(self, key_list: Sequence[str], **kwargs: Any) -> list[Any]:
        keys = list(key_list)
        found = await self._read_many(keys)
        return [self._writing.get(key, value) for key, value in zip(keys, found, strict=True)]

    def batch_get_cache(self, key_list: Sequence[str], **kwargs: Any) -> list[Any]:
        result: list[Any] = self.backend.batch_get_cache(list(key_list))
        return result

    async def async_get_ttl(self, key: str) -> int | None:
        seconds = await self.backend.async_get_ttl(key)
        return None if seconds is None else int(seconds)

    # -- writes -----------------------------------------------------------------------------
    async def _store(self, items: list[tuple[str, Any]], ttl: object) -> None:
        seconds = ttl_seconds(ttl)
        if seconds is _DO_NOT_STORE or not items:
            return
        writing = self._writing
        self._writes += 1
        for key, value in items:
            writing[key] = value
        try:
            await self._write(items, seconds)
        finally:
            for key, value in items:
                if writing.get(key) is value:
                    del writing[key]

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        await self._store([(key, value)], kwargs.get("ttl"))

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = ttl_seconds(kwargs.get("ttl"))
        if ttl is not _DO_NOT_STORE:
            self.backend.set_cache(key, value, ttl)

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: Any = None, **kwargs: Any
    ) -> None:
        await self._store(list(cache_list), ttl)

    async def batch_cache_write(self, key: str, value: Any, **kwargs: Any) -> None:
        await self.async_set_cache(key, value, **kwargs)

    # -- counters ---------------------------------------------------------------------------
    async def async_increment(
        self,
        key: str,
        value: float,
        ttl: Any = None,
        parent_otel_span: Any = None,
        refresh_ttl: bool = False,
        **kwargs: Any,
    ) -> float:
        seconds: TTLArg = USE_DEFAULT if ttl is None else ttl_seconds(ttl)
        return await self.backend.async_increment(key, value, seconds, refresh_ttl=refresh_ttl)

    def increment_cache(
        self, key: str, value: float, ttl: Any = None, *, refresh_ttl: bool = False, **kwargs: Any
    ) -> float:
        seconds: TTLArg = USE_DEFAULT if ttl is None else ttl_seconds(ttl)
        result: float = self.backend.increment_cache(key, value, seconds, refresh_ttl=refresh_ttl)
        return result

    async def async_increment_pipeline(
        self, increment_list: Iterable[Any], **kwargs: Any
    ) -> list[float]:
        return await self.backend.async_increment_pipeline(increment_list)

    # -- removal and lifetime ---------------------------------------------------------------
    async def async_delete_cache(self, key: str) -> None:
        await self.backend.async_delete_cache(key)

    def delete_cache(self, key: str) -> None:
        self.backend.delete_cache(key)

    async def delete_cache_keys(self, keys: Iterable[str]) -> None:
        for key in keys:
            await self.async_delete_cache(key)

    def flush_cache(self) -> None:
        self.backend.flush_cache()

    async def async_flush_cache(self) -> None:
        await self.backend.async_flush_cache()

    async def ping(self) -> bool:
        return await self.backend.async_ping()

    async def disconnect(self) -> None:
        await self.backend.async_disconnect()

    async def test_connection(self) -> dict[str, Any]:
        report = dict(await self.backend.async_test_connection())
        healthy = report.get("status") == "healthy"
        report["status"] = "success" if healthy else "failed"
        report.setdefault(
            "message",
            f"{self.backend.backend_name} cache " + ("answers" if healthy else "does not answer"),
        )
        return report

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backend!r})"


class LiteLLMRedisFormat(LiteLLMBackend):
    """Entries as LiteLLM's own ``RedisCache`` writes them: the key LiteLLM derives (its
    namespace included, nothing added) and the value as JSON text, with Redis's own expiry.

    Reads accept what LiteLLM writes (JSON, or the Python literal its older releases wrote);
    writes are readable by LiteLLM. Needs a Redis backend (``type="redis"`` or ``"dual"``; a
    cluster too): the guard's deadline and failure policy apply as to every other read.
    """

    def __init__(self, backend: BaseCache) -> None:
        super().__init__(backend)
        self.redis = _redis_of(backend)
        self._deadline = _deadline_of(backend)

    async def _within(self, operation: Any) -> Any:
        if self._deadline is None:
            return await operation
        return await asyncio.wait_for(operation, self._deadline)

    async def _read(self, key: str) -> Any:
        raw = await self._within(self.redis._call("GET", key))
        return _parsed(raw)

    async def _read_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        replies = await self._within(self.redis._call_many([("GET", key) for key in keys]))
        return [_parsed(raw) for raw in replies]

    async def _write(self, items: list[tuple[str, Any]], ttl: TTLArg) -> None:
        seconds = self.redis.resolve_ttl(ttl)
        commands: list[tuple[Any, ...]] = []
        for key, value in items:
            data = json.dumps(value).encode()
            if seconds is None:
                commands.append(("SET", key, data))
            else:
                commands.append(("SET", key, data, "PX", max(1, int(seconds * 1000))))
        await self._within(self.redis._call_many(commands))

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        if key in self._writing:
            return self._writing[key]
        return blocking_function(self._read)(key)

    def batch_get_cache(self, key_list: Sequence[str], **kwargs: Any) -> list[Any]:
        found: list[Any] = blocking_function(self._read_many)(list(key_list))
        return found

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        blocking_function(self._store)([(key, value)], kwargs.get("ttl"))

    async def async_delete_cache(self, key: str) -> None:
        await self._within(self.redis._call("DEL", key))

    def delete_cache(self, key: str) -> None:
        blocking_function(self.async_delete_cache)(key)


def _parsed(raw: Any) -> Any:
    """A value LiteLLM's Redis cache wrote (JSON text, or a Python literal), as it reads it."""
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        import ast

        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None  # not LiteLLM's: a miss


def _redis_of(backend: BaseCache) -> RedisClient:
    """The Redis store under ``backend``'s guard and L1 (none under encryption)."""
    seen: BaseCache | None = backend
    while seen is not None and not isinstance(seen, RedisClient):
        if isinstance(seen, EncryptedCache):
            seen = None
        elif isinstance(seen, ComposedCache):
            seen = seen.inner
        elif isinstance(seen, DualCache):
            seen = seen.redis_cache
        else:
            seen = None
    if seen is None:
        raise ConfigurationError(
            "key_format='litellm' stores as LiteLLM's Redis cache does: it needs type='redis'"
            " (or 'dual', or a cluster), without encryption"
        )
    return seen


def _deadline_of(backend: BaseCache) -> float | None:
    seconds = getattr(backend, "deadline", None)
    return seconds if isinstance(seconds, (int, float)) else 1.0
