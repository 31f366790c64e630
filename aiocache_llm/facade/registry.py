"""From a cache ``type`` and LiteLLM-named settings to the backend stack calls use.

:data:`BACKEND_TYPES` is the one type -> class table, for the facade and the proxy's config:
the storage rows (:data:`~aiocache_llm.storage._registry.STORE_TYPES`) and the semantic ones
(:data:`~aiocache_llm.semantic.types.SEMANTIC_TYPES`). Backends are imported
only when their type is asked for: a type whose module is not part of this version raises
:class:`~aiocache_llm.errors.ConfigurationError`; a type whose client library is missing raises
:class:`~aiocache_llm.errors.MissingDependencyError` naming the extra.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Final

from ..errors import CacheError, ConfigurationError
from ..middleware.breaker import check_policy
from ..middleware.builders import CircuitBreaker, GuardedCache
from ..semantic.types import SEMANTIC_TYPES
from ..storage._registry import STORE_TYPES, TypeRow, type_class
from ..storage.base import BaseCache
from .settings import seconds_or_none

__all__ = ["BACKEND_TYPES", "backend_class", "build_backend", "guard_backend"]

#: every cache type -> (module, class, extra that installs its client)
BACKEND_TYPES: Final[dict[str, TypeRow]] = {**STORE_TYPES, **SEMANTIC_TYPES}

#: type -> the LiteLLM parameter that sets its default TTL (``ttl`` wins over it)
_TYPE_TTL: Final = {"local": "default_in_memory_ttl", "redis": "default_in_redis_ttl"}


def backend_class(type_: str, params: Mapping[str, Any] = {}) -> type[BaseCache]:
    """The backend class for a cache ``type`` (imported now)."""
    if type_ == "redis":
        from ..storage.redis.settings import wants_cluster

        if wants_cluster(params, params.get("env")):
            type_ = "redis-cluster"
    return type_class(BACKEND_TYPES, type_)


def build_backend(type_: str, ttl: float | None, params: Mapping[str, Any]) -> BaseCache:
    """Construct the backend of ``type_`` from LiteLLM-named ``params`` (``None`` ones dropped).

    Remote types get an in-memory L1 in front (see :mod:`aiocache_llm.storage.layered`)
    unless ``l1=False``; ``type="dual"`` is that L1 over Redis, built from the Redis settings.
    """
    from ..storage.layered import L1_TYPES, dual_options, with_l1

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
    recovery_time = seconds_or_none("circuit_breaker recovery_time", recovery)
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
    policy = check_policy(failure_policy, "failure_policy")
    deadline = seconds_or_none("backend_deadline", deadline)
    breaker = _breaker(circuit_breaker)
    if encryption_key is not None:
        from ..middleware.builders import EncryptedCache

        backend = EncryptedCache(backend, encryption_key)
    from ..storage.memory import InMemoryCache

    if isinstance(backend, (GuardedCache, InMemoryCache)):
        return backend
    return GuardedCache(
        backend,
        policy=policy,
        deadline=deadline,
        breaker=breaker,
    )
