"""aiocache_llm backends where LiteLLM expects its cache.

``litellm.cache = aiocache_llm.Cache(...)`` works as such (see
:mod:`aiocache_llm.facade.litellm_surface`); :func:`litellm_cache` returns the same as a plain
``litellm.Cache``. ``litellm.cache`` is a ``litellm.Cache``: LiteLLM's own keys, controls,
callbacks, router and cost tracking, over a storage object (``litellm.cache.cache``) with
LiteLLM's ``BaseCache`` methods. :class:`LiteLLMBackend` is that storage object over any
aiocache_llm backend, so
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
import logging
import uuid
from collections.abc import Callable
from typing import Any

try:
    from litellm.caching.caching import Cache as LiteLLMCache
except ImportError as exc:  # pragma: no cover - exercised without litellm installed
    from ..errors import MissingDependencyError

    raise MissingDependencyError("LiteLLM integration", "litellm", exc.name) from exc

from ..facade import Cache, build_backend, cached, guard_backend
from ..facade.litellm_surface import LiteLLMBackend, new_litellm_cache, ttl_seconds
from ..llm.responses import cache_info
from ..storage.base import BaseCache

__all__ = ["LiteLLMBackend", "cached_litellm", "litellm_cache", "ttl_seconds"]

logger = logging.getLogger("aiocache_llm.integrations.litellm")


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
    return new_litellm_cache(LiteLLMBackend(guarded), **options)


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
