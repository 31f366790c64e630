"""aiocache_llm backends where LiteLLM expects its cache.

``litellm.cache`` is a ``litellm.Cache``: LiteLLM's own keys, controls, callbacks, router and
cost tracking, over a storage object (``litellm.cache.cache``) with LiteLLM's ``BaseCache``
methods. :class:`LiteLLMBackend` is that storage object over any aiocache_llm backend, so
LiteLLM's caching runs on the Redis, Cluster, Sentinel, DualCache, disk and object-store
backends of this library (with their coherence, TTL and failure handling)::

    import litellm
    import aiocache_llm

    litellm.cache = aiocache_llm.litellm_cache(type="redis", host="127.0.0.1", port=6379)
    await litellm.acompletion(model=..., messages=..., caching=True)   # served by our Redis

Hits come back through LiteLLM's own path: its success callbacks see ``cache_hit=True`` and a
``response_cost`` of 0. For ``cached(litellm.acompletion)`` (this library's keys, controls,
single-flight and savings), :func:`cached_litellm` reports its hits to LiteLLM's success
callbacks the same way. Backend failures never fail the call: the backend sits behind the same
deadline and fail-open guard as :class:`~aiocache_llm.facade.Cache` uses, and LiteLLM treats
what still goes wrong as a miss.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

try:
    from litellm.caching.base_cache import BaseCache as _LiteLLMBaseCache
    from litellm.caching.caching import Cache as LiteLLMCache
    from litellm.types.caching import LiteLLMCacheType
except ImportError as exc:  # pragma: no cover - exercised without litellm installed
    from ..errors import MissingDependencyError

    raise MissingDependencyError("LiteLLM integration", "litellm", exc.name) from exc

from ..facade import Cache, build_backend, cached, guard_backend
from ..llm.responses import cache_info
from ..storage.base import USE_DEFAULT, BaseCache, TTLArg

__all__ = ["LiteLLMBackend", "cached_litellm", "litellm_cache", "ttl_seconds"]

logger = logging.getLogger("aiocache_llm.integrations.litellm")

#: A ``ttl`` that means "do not keep this" (0 or less, as LiteLLM's controls use it).
_DO_NOT_STORE: Final = object()


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


class LiteLLMBackend(_LiteLLMBaseCache):
    """LiteLLM's cache storage interface over an aiocache_llm backend.

    LiteLLM passes request details (``messages``, ``metadata``, ``litellm_params``, ...) as
    keyword arguments to every method; only ``ttl`` changes what is stored.
    """

    def __init__(self, backend: BaseCache) -> None:
        default = backend.default_ttl
        super().__init__(default_ttl=int(default) if default is not None else 60)
        self.backend = backend

    # -- reads ------------------------------------------------------------------------------
    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        return await self.backend.async_get_cache(key)

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        return self.backend.get_cache(key)

    async def async_batch_get_cache(self, key_list: Sequence[str], **kwargs: Any) -> list[Any]:
        return await self.backend.async_batch_get_cache(list(key_list))

    def batch_get_cache(self, key_list: Sequence[str], **kwargs: Any) -> list[Any]:
        result: list[Any] = self.backend.batch_get_cache(list(key_list))
        return result

    async def async_get_ttl(self, key: str) -> int | None:
        seconds = await self.backend.async_get_ttl(key)
        return None if seconds is None else int(seconds)

    # -- writes -----------------------------------------------------------------------------
    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = ttl_seconds(kwargs.get("ttl"))
        if ttl is not _DO_NOT_STORE:
            await self.backend.async_set_cache(key, value, ttl)

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = ttl_seconds(kwargs.get("ttl"))
        if ttl is not _DO_NOT_STORE:
            self.backend.set_cache(key, value, ttl)

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: Any = None, **kwargs: Any
    ) -> None:
        seconds = ttl_seconds(ttl)
        if seconds is not _DO_NOT_STORE:
            await self.backend.async_set_cache_pipeline(list(cache_list), seconds)

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
            await self.backend.async_delete_cache(key)

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
        return f"LiteLLMBackend({self.backend!r})"


def litellm_cache(
    type: str = "local",
    *,
    backend: BaseCache | None = None,
    namespace: str | None = None,
    ttl: float | datetime.timedelta | None = None,
    mode: str = "default_on",
    supported_call_types: list[str] | None = None,
    failure_policy: str = "fail_open",
    backend_deadline: float | None = 1.0,
    circuit_breaker: Any = None,
    encryption_key: Any = None,
    **backend_params: Any,
) -> LiteLLMCache:
    """A ``litellm.Cache`` storing in an aiocache_llm backend: assign it to ``litellm.cache``.

    ``type`` and ``backend_params`` take the names :class:`~aiocache_llm.facade.Cache` takes
    (``"redis"`` with ``host``/``port``/``password``, ``"dual"``, ``"disk"``, ``"s3"``, ...),
    or pass a ready ``backend=``. ``namespace``, ``ttl``, ``mode`` and
    ``supported_call_types`` are LiteLLM's own settings of its ``Cache``.
    """
    seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else ttl
    store = backend if backend is not None else build_backend(type, None, backend_params)
    guarded = guard_backend(
        store,
        failure_policy=failure_policy,
        deadline=backend_deadline,
        circuit_breaker=circuit_breaker,
        encryption_key=encryption_key,
    )
    options: dict[str, Any] = {"mode": mode, "namespace": namespace, "ttl": seconds}
    if supported_call_types is not None:
        options["supported_call_types"] = supported_call_types
    adapter = LiteLLMBackend(guarded)
    if "_backend" in inspect.signature(LiteLLMCache).parameters:
        return LiteLLMCache(type=LiteLLMCacheType.LOCAL, _backend=adapter, **options)
    cache = LiteLLMCache(type=LiteLLMCacheType.LOCAL, **options)  # releases without _backend
    cache.cache = adapter
    return cache


# -- cached(litellm.acompletion) with its hits reported to LiteLLM's callbacks ------------------
_reports: set[asyncio.Task[None]] = set()


def cached_litellm(
    fn: Callable[..., Any], *, cache: Cache | None = None, call_type: str | None = None
) -> Callable[..., Any]:
    """``cached(fn)`` for a litellm coroutine (``litellm.acompletion``, ``litellm.aembedding``,
    ...) whose non-streamed hits LiteLLM's success callbacks see, as hits of its own cache
    (``cache_hit=True``, ``response_cost=0``). Misses reach them through LiteLLM itself.

    Reporting uses LiteLLM's logging object, built as LiteLLM builds it for a call; it runs in
    the background, and a LiteLLM release that changed it makes a hit go unreported (logged at
    debug level), never fail.
    """
    wrapped = cached(fn, cache=cache, call_type=call_type)
    name = getattr(fn, "__name__", "acompletion")

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        start = datetime.datetime.now()
        result = await wrapped(*args, **kwargs)
        if cache_info(result).get("cache_hit") is True and not kwargs.get("stream"):
            task = asyncio.get_running_loop().create_task(
                _report_hit(name, args, kwargs, result, start)
            )
            _reports.add(task)
            task.add_done_callback(_reports.discard)
        return result

    return call


async def _report_hit(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], hit: Any, start: datetime.datetime
) -> None:
    try:
        from litellm.litellm_core_utils.get_llm_provider_logic import get_llm_provider
        from litellm.litellm_core_utils.rules import Rules
        from litellm.utils import function_setup

        call = {k: v for k, v in kwargs.items() if k not in ("cache", "caching")}
        call.setdefault("litellm_call_id", str(uuid.uuid4()))
        logging_obj, _ = function_setup(name, Rules(), start, *args, **call)
        model, provider, _, _ = get_llm_provider(
            model=call.get("model", ""),
            custom_llm_provider=call.get("custom_llm_provider"),
            api_base=call.get("api_base"),
        )
        logging_obj.update_environment_variables(
            model=model,
            user=call.get("user"),
            optional_params={},
            litellm_params={
                "acompletion": True,
                "api_base": call.get("api_base", ""),
                "metadata": call.get("metadata") or {},
                "custom_llm_provider": provider,
                "preset_cache_key": cache_info(hit).get("cache_key"),
            },
            input=call.get("messages", call.get("input", "")),
            api_key=None,
            original_response=str(hit),
            additional_args=None,
            stream=False,
            custom_llm_provider=provider,
        )
        end = datetime.datetime.now()
        await logging_obj.async_success_handler(
            result=hit, start_time=start, end_time=end, cache_hit=True
        )
        sync_callbacks = getattr(logging_obj, "handle_sync_success_callbacks_for_async_calls", None)
        if sync_callbacks is not None:
            sync_callbacks(result=hit, start_time=start, end_time=end, cache_hit=True)
    except Exception as exc:  # reporting is best effort: a hit is never failed by it
        logger.debug("a cache hit could not be reported to litellm (%s)", type(exc).__name__)
