"""The ``Cache`` facade: build a backend from ``type=...`` and put it in front of LLM calls.

``Cache`` takes LiteLLM's parameter names, so switching is a change of import::

    cache = Cache(type="redis", host="127.0.0.1", port=6379, ttl=600, namespace="prod")
    acompletion = cache.cached(litellm.acompletion)
    client = cache.wrap_openai(AsyncOpenAI())

Backends are imported only when their type is asked for: a type whose module is not part of
this version raises :class:`~aiocache_llm.errors.ConfigurationError`; a type whose client
library is missing raises :class:`~aiocache_llm.errors.MissingDependencyError` naming the extra.

:func:`enable_cache`, :func:`disable_cache` and :func:`update_cache` manage the process-wide
default cache that :func:`~aiocache_llm.wrappers.cached` functions use when given none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, TypeVar

from ._failures import describe_failure
from ._sync import run_sync
from .backends._registry import BACKEND_TYPES, backend_type_class
from .backends.base import BaseCache
from .errors import CacheError, ConfigurationError
from .events import EventBus, EventCallback, Prices
from .llm.handler import Handler
from .llm.result_types import Shape
from .resilience import CircuitBreaker, GuardedCache

__all__ = [
    "BACKEND_TYPES",
    "CALL_TYPES",
    "Cache",
    "default_cache",
    "disable_cache",
    "enable_cache",
    "update_cache",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Every call type a cache can serve (LiteLLM's names).
CALL_TYPES: Final = (
    "completion",
    "acompletion",
    "text_completion",
    "atext_completion",
    "embedding",
    "aembedding",
    "transcription",
    "atranscription",
    "rerank",
    "arerank",
    "responses",
    "aresponses",
    "anthropic_messages",
    "aanthropic_messages",
    "search",
    "asearch",
)

#: type -> the LiteLLM parameter that sets its default TTL (``ttl`` wins over it)
_TYPE_TTL: Final = {"local": "default_in_memory_ttl", "redis": "default_in_redis_ttl"}


def _value(obj: Any) -> Any:
    """The ``.value`` of an enum (LiteLLM's ``LiteLLMCacheType``, ``CacheMode``), else obj."""
    return getattr(obj, "value", obj)


def backend_class(type_: str, params: Mapping[str, Any] = {}) -> type[BaseCache]:
    """The backend class for a cache ``type`` (imported now)."""
    if type_ == "redis":
        from .backends.redis.settings import wants_cluster

        if wants_cluster(params, params.get("env")):
            type_ = "redis-cluster"
    return backend_type_class(type_)


def build_backend(type_: str, ttl: float | None, params: Mapping[str, Any]) -> BaseCache:
    """Construct the backend of ``type_`` from LiteLLM-named ``params`` (``None`` ones dropped).

    Remote types get an in-memory L1 in front (see :mod:`aiocache_llm.backends.layered`)
    unless ``l1=False``; ``type="dual"`` is that L1 over Redis, built from the Redis settings.
    """
    from .backends.layered import L1_TYPES, dual_options, with_l1

    given = {k: v for k, v in params.items() if v is not None}
    l1 = dual_options(given.pop("l1", True), given if type_ == "dual" else None)
    if type_ == "dual":
        if l1 is None:
            raise ConfigurationError("type='dual' is an L1 in front of Redis: it needs l1")
        type_ = "redis"
        if "default_redis_ttl" in given:
            given.setdefault("default_in_redis_ttl", given.pop("default_redis_ttl"))
    backend = _build_one(type_, ttl, given)
    if l1 is None or _resolved(type_, given) not in L1_TYPES:
        return backend
    return with_l1(backend, l1)


def _resolved(type_: str, params: Mapping[str, Any]) -> str:
    if type_ == "redis" and (params.get("startup_nodes") or params.get("redis_startup_nodes")):
        return "redis-cluster"
    return type_


def _build_one(type_: str, ttl: float | None, given: dict[str, Any]) -> BaseCache:
    if type_ == "redis" and "redis_startup_nodes" in given:
        given.setdefault("startup_nodes", given.pop("redis_startup_nodes"))
    cls = backend_class(type_, given)
    for name in _TYPE_TTL.values():
        typed_ttl = given.pop(name, None)
        if name == _TYPE_TTL.get(type_) and ttl is None:
            ttl = typed_ttl
    if ttl is not None:
        given["default_ttl"] = ttl
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(given) - set(parameters))
    if unknown and not takes_any:
        raise ConfigurationError(f"cache type {type_!r} does not take {', '.join(unknown)}")
    try:
        return cls(**given)
    except CacheError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:  # its text may quote a password
        raise ConfigurationError(
            f"cache type {type_!r} refused its settings ({type(exc).__name__})"
        ) from exc


def _seconds_or_none(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds or None")
    return float(value)


def _breaker(setting: object) -> CircuitBreaker:
    if setting is None:
        return CircuitBreaker()
    if isinstance(setting, CircuitBreaker):
        return setting
    if not isinstance(setting, Mapping):
        raise ConfigurationError("circuit_breaker must be a dict of thresholds or a CircuitBreaker")
    unknown = sorted(set(map(str, setting)) - {"failure_threshold", "recovery_time"})
    if unknown:
        raise ConfigurationError(
            f"unknown circuit_breaker setting(s) {unknown}; known: failure_threshold and"
            " recovery_time"
        )
    threshold = setting.get("failure_threshold", 5)
    recovery = setting.get("recovery_time", 5.0)
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ConfigurationError("circuit_breaker failure_threshold must be an int")
    recovery_time = _seconds_or_none("circuit_breaker recovery_time", recovery)
    return CircuitBreaker(threshold, recovery_time or 5.0)


def guard_backend(
    backend: BaseCache,
    *,
    failure_policy: str,
    deadline: float | None,
    circuit_breaker: object,
    encryption_key: Any = None,
) -> BaseCache:
    """``backend`` behind encryption (when a key is given) and a :class:`GuardedCache`.

    The in-memory backend is not guarded: it cannot time out, and its hit path stays as fast
    as a dict.
    """
    if failure_policy not in ("fail_open", "fail_closed"):
        raise ConfigurationError(
            f"failure_policy must be 'fail_open' or 'fail_closed', not {failure_policy!r}"
        )
    deadline = _seconds_or_none("backend_deadline", deadline)
    breaker = _breaker(circuit_breaker)
    if encryption_key is not None:
        from .encryption import EncryptedCache

        backend = EncryptedCache(backend, encryption_key)
    from .backends.memory import InMemoryCache

    if isinstance(backend, (GuardedCache, InMemoryCache)):
        return backend
    return GuardedCache(
        backend,
        policy=failure_policy,  # type: ignore[arg-type]
        deadline=deadline,
        breaker=breaker,
    )


class Cache:
    """An LLM response cache: a backend plus the rules for which calls use it and how.

    * ``type``: ``"local"``, ``"disk"``, ``"redis"``, ``"dual"``, ``"s3"``, ``"gcs"``,
      ``"azure-blob"``, ``"redis-semantic"``, ``"qdrant-semantic"``, ``"dual-semantic"``; or
      pass a ready ``backend=``.
    * ``ttl``: the default life of an entry (``default_in_memory_ttl`` /
      ``default_in_redis_ttl`` for their types when ``ttl`` is not given).
    * ``namespace``: prefix of every key; a call's ``cache={"namespace": ...}`` overrides it.
    * ``supported_call_types``: the call types served (default: all of :data:`CALL_TYPES`).
    * ``mode``: ``"default_on"`` caches every call; ``"default_off"`` only calls that pass
      ``cache={"use-cache": True}`` or ``caching=True``.
    * ``identity``: a function of the call's arguments returning a tenant or user id (or
      ``None``); answers are then never shared across identities.
    * ``lease_ttl``: cross-process single-flight. A miss first takes a lease of this many
      seconds in the backend (an atomic increment); a process that finds the lease taken polls
      the backend for the holder's answer for up to ``lease_wait`` seconds, then calls upstream
      itself. Off by default; worth it on a shared backend (Redis, disk).
    * ``failure_policy``: ``"fail_open"`` (default: a cache failure is logged, counted and the
      call goes upstream) or ``"fail_closed"`` (the call raises the typed
      :class:`~aiocache_llm.errors.BackendError`). ``backend_deadline`` (seconds, default 1)
      bounds every backend operation; ``circuit_breaker`` (``{"failure_threshold": 5,
      "recovery_time": 5.0}`` or a :class:`~aiocache_llm.resilience.CircuitBreaker`) stops
      calling a failing backend: while it is open, calls skip the cache at once. Every backend
      but the in-memory one is guarded so.
    * ``encryption_key``: a 32-byte key (bytes or base64 text), or a list of keys to rotate:
      stored answers are encrypted with AES-256-GCM (the ``encryption`` extra).
    * ``stale_if_error`` / ``stale_while_revalidate``: seconds an entry is kept past its
      ``ttl`` to be served, flagged stale, when the upstream fails / at once while one caller
      refreshes it in the background. Per call: ``cache={"stale-if-error": s, ...}``.
    * ``prices``: per-token prices of LiteLLM's shape (``{"gpt-4o-mini":
      {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}}``) that price what
      each hit saved (default: litellm's cost map when the process uses litellm); see
      :meth:`stats`.
    * ``get_cache_key(**kwargs) -> str`` replaces the key; ``get_cache(**kwargs, cache_key=...)``
      and ``add_cache(entry, **kwargs, cache_key=...)`` (sync or async) replace the storage.
      They can also be assigned as attributes later, as with LiteLLM.
    * Every other keyword goes to the backend (``host``, ``port``, ``password``,
      ``disk_cache_dir``, ``similarity_threshold``, ``s3_bucket_name``, ...).
    """

    def __init__(
        self,
        type: str = "local",
        *,
        namespace: str | None = None,
        ttl: float | None = None,
        supported_call_types: Iterable[str] | None = None,
        mode: Literal["default_on", "default_off"] | Any = "default_on",
        identity: Callable[[Mapping[str, Any]], str | None] | None = None,
        get_cache_key: Callable[..., str] | None = None,
        get_cache: Callable[..., Any] | None = None,
        add_cache: Callable[..., Any] | None = None,
        backend: BaseCache | None = None,
        lease_ttl: float | None = None,
        lease_wait: float = 10.0,
        failure_policy: Literal["fail_open", "fail_closed"] = "fail_open",
        backend_deadline: float | None = 1.0,
        circuit_breaker: Mapping[str, Any] | CircuitBreaker | None = None,
        encryption_key: Any = None,
        stale_if_error: float | None = None,
        stale_while_revalidate: float | None = None,
        prices: Prices | None = None,
        **backend_params: Any,
    ) -> None:
        self.type = str(_value(type))
        mode = _value(mode)
        if mode not in ("default_on", "default_off"):
            raise ConfigurationError(f"mode must be 'default_on' or 'default_off', not {mode!r}")
        self.mode: str = mode
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ConfigurationError("namespace must be a non-empty str")
        self.namespace = namespace
        if supported_call_types is not None and (
            isinstance(supported_call_types, (str, bytes))
            or not isinstance(supported_call_types, Iterable)
        ):
            raise ConfigurationError("supported_call_types must be a list of call type names")
        call_types = (
            CALL_TYPES
            if supported_call_types is None
            else tuple(str(_value(t)) for t in supported_call_types)
        )
        unknown = sorted(set(call_types) - set(CALL_TYPES))
        if unknown:
            raise ConfigurationError(f"unknown call types {unknown}; known: {list(CALL_TYPES)}")
        self.supported_call_types: tuple[str, ...] = call_types
        self.identity = identity
        for name, seconds in (("lease_ttl", lease_ttl), ("lease_wait", lease_wait)):
            if seconds is not None and (
                isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0
            ):
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        self.lease_ttl = lease_ttl
        self.lease_wait = lease_wait
        self.custom_get_cache_key = get_cache_key
        self.custom_get_cache = get_cache
        self.custom_add_cache = add_cache
        if backend is not None and backend_params:
            raise ConfigurationError("pass either backend= or backend parameters, not both")
        self.failure_policy = failure_policy
        self.stale_if_error = _seconds_or_none("stale_if_error", stale_if_error)
        self.stale_while_revalidate = _seconds_or_none(
            "stale_while_revalidate", stale_while_revalidate
        )
        self._guard_params: dict[str, Any] = {
            "failure_policy": failure_policy,
            "deadline": backend_deadline,
            "circuit_breaker": circuit_breaker,
            "encryption_key": encryption_key,
        }
        #: The store itself (unguarded; values encrypted when an ``encryption_key`` is set).
        self.backend: BaseCache = (
            backend if backend is not None else build_backend(self.type, ttl, backend_params)
        )
        self.ttl = ttl
        self.events = EventBus(prices)
        self._settings: dict[str, Any] = {
            "type": self.type,
            "namespace": namespace,
            "ttl": ttl,
            "supported_call_types": supported_call_types,
            "mode": mode,
            "identity": identity,
            "get_cache_key": get_cache_key,
            "get_cache": get_cache,
            "add_cache": add_cache,
            "backend": backend,
            "lease_ttl": lease_ttl,
            "lease_wait": lease_wait,
            "failure_policy": failure_policy,
            "backend_deadline": backend_deadline,
            "circuit_breaker": circuit_breaker,
            "encryption_key": encryption_key,
            "stale_if_error": stale_if_error,
            "stale_while_revalidate": stale_while_revalidate,
            "prices": prices,
            **backend_params,
        }
        self.handler = Handler(self)

    # -- LiteLLM-style replacement hooks (assignable) --------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("get_cache_key", "get_cache", "add_cache"):
            name = f"custom_{name}"
        object.__setattr__(self, name, value)
        if name == "backend":
            #: What calls use: the backend behind encryption and the failure guard.
            self.guarded: BaseCache = guard_backend(value, **self._guard_params)
        if "handler" in self.__dict__ and name in _HANDLER_SETTINGS:
            object.__setattr__(self, "handler", Handler(self))

    # -- use -------------------------------------------------------------------------------
    def cached(self, fn: F, *, call_type: str | None = None) -> F:
        """``fn`` (an ``acompletion``-style function) with this cache in front of it."""
        from .wrappers import cached

        return cached(fn, cache=self, call_type=call_type)

    def wrap_openai(self, client: Any) -> Any:
        """An OpenAI SDK client (``AsyncOpenAI`` or ``OpenAI``) whose calls use this cache."""
        from .wrappers import wrap_openai

        return wrap_openai(client, cache=self)

    def wrap_anthropic(self, client: Any) -> Any:
        """An Anthropic SDK client (``AsyncAnthropic`` or ``Anthropic``) whose
        ``messages.create`` calls use this cache."""
        from .wrappers import wrap_anthropic

        return wrap_anthropic(client, cache=self)

    async def async_test_connection(self) -> dict[str, Any]:
        """The backend's health report, with the failure policy and the breaker's state."""
        report = dict(await self.guarded.async_test_connection())
        report.setdefault("policy", self.failure_policy)
        return report

    def test_connection(self) -> dict[str, Any]:
        """Blocking form of :meth:`async_test_connection`."""
        result: dict[str, Any] = run_sync(self.async_test_connection())
        return result

    def add_callback(self, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every cache event (see :mod:`aiocache_llm.events`)."""
        self.events.add_callback(callback)

    def stats(self) -> dict[str, Any]:
        """:meth:`stats_report` (event counters, hit rate, the store's counters) and what hits
        saved per namespace and identity (tokens and, given prices, ``cost``)."""
        return {**self.stats_report(), "savings": self.events.savings_report()}

    async def async_disconnect(self) -> None:
        """Release the backend's connections (the cache can be used again afterwards)."""
        await self.backend.async_disconnect()

    def disconnect(self) -> None:
        """Blocking form of :meth:`async_disconnect`."""
        run_sync(self.async_disconnect())

    # -- LiteLLM's Cache methods ------------------------------------------------------------
    # Callable as on litellm.Cache, with the LLM call's arguments. Assigning get_cache_key /
    # get_cache / add_cache (see __setattr__) still replaces the key or the storage they use.
    def get_cache_key(self, **kwargs: Any) -> str:
        """The key of the call ``kwargs`` describe (``call_type=`` when its arguments do not
        show it: ``messages`` is a chat, ``input`` an embedding, ...)."""
        from .integrations import _cache_methods

        return _cache_methods.get_cache_key(self, kwargs)

    async def async_get_cache(self, **kwargs: Any) -> Any:
        """The cached answer to the call ``kwargs`` describe, or ``None``."""
        from .integrations import _cache_methods

        return await _cache_methods.get_cache(self, kwargs)

    def get_cache(self, **kwargs: Any) -> Any:
        """Blocking form of :meth:`async_get_cache`."""
        return run_sync(self.async_get_cache(**kwargs))

    async def async_add_cache(self, result: Any, **kwargs: Any) -> None:
        """Store ``result`` as the answer to the call ``kwargs`` describe."""
        from .integrations import _cache_methods

        await _cache_methods.add_cache(self, result, kwargs)

    def add_cache(self, result: Any, **kwargs: Any) -> None:
        """Blocking form of :meth:`async_add_cache`."""
        run_sync(self.async_add_cache(result, **kwargs))

    # -- end of LiteLLM's Cache methods -------------------------------------------------------

    def __repr__(self) -> str:
        return f"Cache(type={self.type!r}, mode={self.mode!r}, backend={self.guarded!r})"

    # -- Operations for services built on the cache (the proxy, the CLI) ------------------
    # Each goes through the same guard and encryption stack as cached calls, and raises the
    # typed BackendError on a failure (the caller reports it) instead of failing open.
    async def async_call(
        self,
        call_type: str,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        shape: Shape | None = None,
    ) -> Any:
        """``fn(**kwargs)`` as a cached ``call_type`` call (``kwargs`` is consumed); ``shape``
        names the result types the caller wants (default: as the entry was stored)."""
        return await self.handler.call(call_type, fn, kwargs, shape)

    def _strict(self) -> BaseCache:
        guarded = self.guarded
        return guarded.strict() if isinstance(guarded, GuardedCache) else guarded

    async def async_delete_keys(self, keys: Iterable[str]) -> list[str]:
        """Delete entries by key (as in ``_hidden_params["cache_key"]``); returns the keys that
        held an entry."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        store = self._strict()
        found = await store.async_batch_get_entries(wanted)
        existing = [key for key, entry in zip(wanted, found, strict=True) if entry is not None]
        for key in existing:
            await store.async_delete_cache(key)
        return existing

    async def async_flush(self) -> None:
        """Remove every entry of this cache's store (raises on a failure)."""
        await self._strict().async_flush_cache()

    async def async_health(self) -> dict[str, Any]:
        """Whether the store answers and takes a write; for a semantic cache, also whether
        its embedding model and vector index work. Keys: ``status``, ``ping_response``,
        ``set_cache_response``, ``semantic_response`` and, when unhealthy, ``error``."""
        report: dict[str, Any] = {"status": "healthy"}
        store = self._strict()
        step = "ping"
        try:
            report["ping_response"] = bool(await store.async_ping())
            step = "set"
            await store.async_set_cache(_HEALTH_KEY, {"ping": True}, 60)
            report["set_cache_response"] = "success"
            await store.async_delete_cache(_HEALTH_KEY)
            if hasattr(self.backend, "async_semantic_lookup"):
                step = "embedding"
                await self.backend.embedder.aembed([_HEALTH_QUESTION])  # type: ignore[attr-defined]
                step = "semantic lookup"
                request = {"messages": [{"role": "user", "content": _HEALTH_QUESTION}]}
                await store.async_semantic_lookup("acompletion", request, {})  # type: ignore[attr-defined]
                report["semantic_response"] = "success"
        except Exception as exc:  # a diagnostic: reported, not raised
            report["status"] = "unhealthy"
            report["error"] = f"{step} failed: {describe_failure(exc)}"
            store = getattr(self.backend, "redis_cache", None) or self.backend  # under an L1
            settings = getattr(store, "settings", None)
            if isinstance(exc, TimeoutError) and isinstance(settings, dict) and settings.get("ssl"):
                report["error"] += (
                    " (with ssl on, a server that does not speak TLS never answers the"
                    " handshake: a TLS mismatch? check ssl / REDIS_SSL)"
                )
        if report.get("ping_response") is False:
            report["status"] = "unhealthy"
        return report

    def stats_report(self) -> dict[str, Any]:
        """Event counters, the hit rate and the store's own counters."""
        counters = dict(self.events.counters)
        lookups = counters["hit"] + counters["miss"]
        return {
            "cache_type": self.type,
            "events": counters,
            "hit_rate": round(counters["hit"] / lookups, 4) if lookups else None,
            "backend": self.backend.stats.as_dict(),
        }

    # -- end of the operations for services -----------------------------------------------


_HEALTH_KEY: Final = "aiocache-llm:health-probe"
_HEALTH_QUESTION: Final = "aiocache-llm health probe"

_HANDLER_SETTINGS: Final = frozenset(
    {
        "custom_get_cache_key",
        "custom_get_cache",
        "custom_add_cache",
        "namespace",
        "identity",
        "mode",
        "supported_call_types",
        "backend",
        "lease_ttl",
        "lease_wait",
        "stale_if_error",
        "stale_while_revalidate",
        "prices",
    }
)

_default: Cache | None = None


def default_cache() -> Cache | None:
    """The process-wide default cache, or ``None`` when caching is disabled."""
    return _default


def enable_cache(type: str = "local", **params: Any) -> Cache:
    """Make ``Cache(type, **params)`` the process-wide default cache and return it."""
    global _default
    _default = Cache(type, **params)
    return _default


def disable_cache() -> None:
    """Stop caching by default (wrapped calls go straight upstream)."""
    global _default
    _default = None


def update_cache(**params: Any) -> Cache:
    """Rebuild the default cache with ``params`` changed (a local cache if none is enabled).

    Changing only how calls use the cache (``namespace``, ``mode``, ``supported_call_types``,
    hooks) keeps the backend and its entries.
    """
    if _default is None:
        return enable_cache(**params)
    settings = {**_default._settings, **params}
    if _default._settings["backend"] is not None or not set(params) <= _USE_PARAMS:
        return enable_cache(**settings)
    kept = {
        k: v for k, v in settings.items() if k in _USE_PARAMS or k in _GUARD_PARAMS or k == "type"
    }
    updated = enable_cache(**kept, backend=_default.backend)
    updated._settings = settings  # what to rebuild from next time (backend params included)
    return updated


#: How calls reach the kept backend (its guard and encryption): carried over as they are.
_GUARD_PARAMS: Final = frozenset(
    {"failure_policy", "backend_deadline", "circuit_breaker", "encryption_key"}
)

_USE_PARAMS: Final = frozenset(
    {
        "lease_ttl",
        "lease_wait",
        "namespace",
        "supported_call_types",
        "mode",
        "identity",
        "get_cache_key",
        "get_cache",
        "add_cache",
        "stale_if_error",
        "stale_while_revalidate",
        "prices",
    }
)
