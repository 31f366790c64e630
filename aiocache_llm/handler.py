"""The one path every cached call takes.

decide (controls, supported call types, mode) -> key -> look up (exact, then semantic when the
backend can) -> single-flight -> upstream -> store -> report (events).

A backend failure during the lookup or the store is logged (rate-limited), counted and then
ignored: the call goes upstream as if the cache were empty. Only bad controls and bad
arguments raise, before anything is sent upstream.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .backends.base import USE_DEFAULT, BaseCache, TTLArg
from .controls import DEFAULT_CONTROLS, Controls, parse_controls
from .events import CacheEvent, EventBus, EventKind, now
from .keys import call_family, make_key
from .responses import (
    aggregate_chunks,
    chunk_type_for,
    dump,
    make_entry,
    mark,
    rebuild,
    response_to_chunks,
    response_type_for,
    type_name,
    usage_tokens,
)
from .singleflight import Flight, SingleFlight
from .streaming import Broadcast, CachedStream, replay

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["Handler"]

logger = logging.getLogger("aiocache_llm.handler")

Upstream = Callable[..., Any]
_ERROR_LOG_INTERVAL = 10.0
_ENTRY_VERSION = 1
_LEASE = ":lease"
_LEASE_POLL = 0.05


async def _call(upstream: Upstream, kwargs: dict[str, Any]) -> Any:
    result = upstream(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class Handler:
    """Runs cached calls for one :class:`~aiocache_llm.cache.Cache`.

    Settings are copied in when the handler is built (the facade rebuilds it on a change), so a
    call reads no configuration.
    """

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.backend: BaseCache = cache.backend
        self.backend_name = self.backend.backend_name
        self.events: EventBus = cache.events
        self.supported = frozenset(cache.supported_call_types)
        self.default_on = cache.mode == "default_on"
        self.namespace = cache.namespace
        self.identity = cache.identity
        self.custom_key = cache.custom_get_cache_key
        self.custom_get = cache.custom_get_cache
        self.custom_add = cache.custom_add_cache
        self.semantic = hasattr(self.backend, "async_semantic_lookup") and self.custom_key is None
        self.flights = SingleFlight()
        self.lease_ttl = cache.lease_ttl
        self.lease_wait = cache.lease_wait
        self._last_error_log: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- decide ---------------------------------------------------------------------------
    async def call(self, call_type: str, upstream: Upstream, kwargs: dict[str, Any]) -> Any:
        """Run ``upstream(**kwargs)`` through the cache; ``kwargs`` is consumed."""
        if "cache" in kwargs or "caching" in kwargs:
            controls = parse_controls(kwargs.pop("cache", None), kwargs.pop("caching", None))
        else:
            controls = DEFAULT_CONTROLS
        use = self.default_on if controls.use_cache is None else controls.use_cache
        if not use or call_type not in self.supported or (controls.no_cache and controls.no_store):
            reason = (
                "disabled"
                if not use
                else "unsupported"
                if call_type not in self.supported
                else "no-cache, no-store"
            )
            self._event("skip", None, call_type, reason=reason)
            return await _call(upstream, kwargs)
        if call_family(call_type) == "embedding":
            return await self._embedding(call_type, upstream, kwargs, controls)
        key = self._key(call_type, kwargs, controls)
        stream = kwargs.get("stream") is True
        if not controls.no_cache:
            start = now()
            found = await self._lookup(key, call_type, kwargs, controls)
            if found is not None:
                entry, similarity = found
                answer = self._answer(entry, stream, key, similarity)
                if answer is not None:
                    data = entry["data"]
                    tokens = usage_tokens(
                        data if entry["kind"] == "response" else (data[-1] if data else None)
                    )
                    self._event("hit", key, call_type, start, similarity, tokens)
                    return answer
            self._event("miss", key, call_type, start)
        return await self._fly(key, call_type, upstream, kwargs, controls, stream)

    def _key(self, call_type: str, kwargs: Mapping[str, Any], controls: Controls) -> str:
        namespace = controls.namespace or self.namespace
        if self.custom_key is not None:
            key = str(self.custom_key(**kwargs))
            return f"{namespace}:{key}" if namespace else key
        identity = self.identity(kwargs) if self.identity is not None else None
        return make_key(call_type, kwargs, namespace=namespace, identity=identity)

    def _scope(self, kwargs: Mapping[str, Any], controls: Controls) -> dict[str, str]:
        scope: dict[str, str] = {}
        namespace = controls.namespace or self.namespace
        if namespace:
            scope["namespace"] = namespace
        identity = self.identity(kwargs) if self.identity is not None else None
        if identity is not None:
            scope["identity"] = identity
        return scope

    # -- look up --------------------------------------------------------------------------
    async def _lookup(
        self, key: str, call_type: str, kwargs: dict[str, Any], controls: Controls
    ) -> tuple[dict[str, Any], float | None] | None:
        try:
            if self.custom_get is not None:
                raw = await _maybe_await(self.custom_get(**kwargs, cache_key=key))
            else:
                raw = await self.backend.async_get_cache(key)
        except Exception as exc:
            self._backend_error("lookup", key, call_type, exc)
            raw = None
        entry = self._usable(raw, controls)
        if entry is not None:
            return entry, None
        if not self.semantic or call_family(call_type) not in ("chat", "text"):
            return None
        try:
            hit = await self.backend.async_semantic_lookup(  # type: ignore[attr-defined]
                call_type, kwargs, self._scope(kwargs, controls)
            )
        except Exception as exc:
            self._backend_error("semantic lookup", key, call_type, exc)
            return None
        if hit is None:
            return None
        entry = self._usable(hit.value, controls)
        return None if entry is None else (entry, float(hit.similarity))

    @staticmethod
    def _usable(raw: Any, controls: Controls) -> dict[str, Any] | None:
        if raw is None or raw.__class__ is not dict or raw.get("v") != _ENTRY_VERSION:
            return None
        if controls.max_age is not None and time.time() - raw["t"] > controls.max_age:
            return None
        return raw

    def _answer(
        self, entry: dict[str, Any], stream: bool, key: str, similarity: float | None
    ) -> Any:
        """The caller's answer from a stored entry; ``None`` if the entry cannot be rebuilt."""
        try:
            kind, data, type_ = entry["kind"], entry["data"], entry["type"]
            if stream:
                if kind == "response":
                    data, type_ = response_to_chunks(data), chunk_type_for(type_)
                chunks = [rebuild(chunk, type_) for chunk in data]
                hidden = {"cache_hit": True, "cache_key": key}
                if similarity is not None:
                    hidden["similarity"] = similarity
                return CachedStream(replay(chunks), hidden)
            if kind == "chunks":
                data, type_ = aggregate_chunks(data), response_type_for(type_)
            return mark(rebuild(data, type_), key, True, similarity)
        except Exception as exc:  # the traceback could quote the stored answer: not logged
            self.backend.stats.corrupt_reads += 1
            logger.warning(
                "a cached entry could not be rebuilt (%s); treated as a miss", type(exc).__name__
            )
            return None

    # -- single-flight, upstream, store ---------------------------------------------------
    async def _fly(
        self,
        key: str,
        call_type: str,
        upstream: Upstream,
        kwargs: dict[str, Any],
        controls: Controls,
        stream: bool,
    ) -> Any:
        flight = self.flights.join(key)
        if flight is not None:
            answer = await self._follow(flight, key, stream)
            if answer is not None:
                return answer
        flight = self.flights.lead(key)
        leased = False
        try:
            if self.lease_ttl is not None and not controls.no_store:
                leased, entry = await self._lease(key, call_type, controls)
                if entry is not None:
                    flight.resolve(entry)
                    self.flights.finish(key, flight)
                    answer = self._answer(entry, stream, key, None)
                    if answer is not None:
                        return answer
            result = await _call(upstream, kwargs)
        except BaseException as exc:
            flight.fail(exc)
            self.flights.finish(key, flight)
            if leased:
                await self._release(key)
            raise
        if stream and hasattr(result, "__aiter__"):
            return self._lead_stream(flight, key, call_type, result, kwargs, controls, leased)
        try:
            entry = make_entry("response", dump(result), type_name(result))
            flight.resolve(entry)
            if not controls.no_store:
                await self._store(key, entry, call_type, kwargs, controls)
        finally:
            flight.resolve(None)
            self.flights.finish(key, flight)
            if leased:
                await self._release(key)
        return mark(result, key, False)

    # -- cross-process single-flight: a short lease in the backend --------------------------
    async def _lease(
        self, key: str, call_type: str, controls: Controls
    ) -> tuple[bool, dict[str, Any] | None]:
        """Take the lease on ``key`` -> (True, None); or wait for its holder's entry ->
        (False, entry), or (False, None) after ``lease_wait`` seconds."""
        try:
            holders = await self.backend.async_increment(key + _LEASE, 1, self.lease_ttl)
        except Exception as exc:
            self._backend_error("lease", key, call_type, exc)
            return False, None
        if holders == 1:
            return True, None
        deadline = time.monotonic() + self.lease_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(_LEASE_POLL)
            try:
                entry = self._usable(await self.backend.async_get_cache(key), controls)
            except Exception as exc:
                self._backend_error("lookup", key, call_type, exc)
                return False, None
            if entry is not None:
                return False, entry
        return False, None

    async def _release(self, key: str) -> None:
        try:
            await self.backend.async_delete_cache(key + _LEASE)
        except Exception:
            logger.debug("could not release a single-flight lease", exc_info=True)

    async def _follow(self, flight: Flight, key: str, stream: bool) -> Any:
        broadcast = flight.broadcast
        if stream and broadcast is not None:
            chunk_type = type_name(broadcast.objects[0]) if broadcast.objects else None

            def convert(i: int) -> Any:
                nonlocal chunk_type
                if chunk_type is None:
                    chunk_type = type_name(broadcast.objects[i])
                return rebuild(broadcast.dumped[i], chunk_type)

            return CachedStream(
                broadcast.subscribe(convert), {"cache_hit": False, "cache_key": key}
            )
        entry = await flight.outcome()
        if entry is None:
            return None
        answer = self._answer(entry, stream, key, None)
        if answer is None:
            return None
        if isinstance(answer, CachedStream):
            answer._hidden_params["cache_hit"] = False
            return answer
        return mark(answer, key, False)

    def _lead_stream(
        self,
        flight: Flight,
        key: str,
        call_type: str,
        source: Any,
        kwargs: dict[str, Any],
        controls: Controls,
        leased: bool = False,
    ) -> CachedStream:
        async def complete(objects: list[Any], dumped: list[Any]) -> None:
            entry = make_entry("chunks", dumped, type_name(objects[0]) if objects else None)
            flight.resolve(entry)
            if not controls.no_store and dumped:
                await self._store(key, entry, call_type, kwargs, controls)

        def finish(broadcast: Broadcast) -> None:
            if broadcast.error is not None:
                flight.fail(broadcast.error)
            flight.resolve(None)
            self.flights.finish(key, flight)

        broadcast = Broadcast(source, dump, complete, finish)
        flight.broadcast = broadcast

        async def chunks() -> AsyncIterator[Any]:
            async for i in broadcast.subscribe(int):
                yield broadcast.objects[i]

        if leased:

            async def release() -> None:
                await broadcast.wait()
                await self._release(key)

            task = flight.loop.create_task(release())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return CachedStream(chunks(), {"cache_hit": False, "cache_key": key})

    async def _store(
        self,
        key: str,
        entry: dict[str, Any],
        call_type: str,
        kwargs: dict[str, Any],
        controls: Controls,
    ) -> None:
        ttl: TTLArg = USE_DEFAULT if controls.ttl is None else controls.ttl
        start = now()
        try:
            if self.custom_add is not None:
                await _maybe_await(self.custom_add(entry, **kwargs, cache_key=key))
            else:
                await self.backend.async_set_cache(key, entry, ttl)
            if self.semantic and call_family(call_type) in ("chat", "text"):
                await self.backend.async_semantic_store(  # type: ignore[attr-defined]
                    call_type, kwargs, self._scope(kwargs, controls), entry, ttl
                )
        except Exception as exc:
            self._backend_error("store", key, call_type, exc)
            return
        self._event("store", key, call_type, start)

    # -- embeddings: one entry per input ----------------------------------------------------
    async def _embedding(
        self, call_type: str, upstream: Upstream, kwargs: dict[str, Any], controls: Controls
    ) -> Any:
        inputs = kwargs.get("input")
        single = isinstance(inputs, str) or (
            isinstance(inputs, list) and bool(inputs) and isinstance(inputs[0], int)
        )
        items: list[Any] = [inputs] if single else list(inputs or ())
        if not items:
            return await _call(upstream, kwargs)
        keys = [self._key(call_type, {**kwargs, "input": item}, controls) for item in items]
        start = now()
        found: list[dict[str, Any] | None] = [None] * len(items)
        if not controls.no_cache:
            try:
                if self.custom_get is not None:
                    raws = [
                        await _maybe_await(
                            self.custom_get(**{**kwargs, "input": item}, cache_key=k)
                        )
                        for item, k in zip(items, keys, strict=False)
                    ]
                else:
                    raws = await self.backend.async_batch_get_cache(keys)
            except Exception as exc:
                self._backend_error("lookup", keys[0], call_type, exc)
                raws = [None] * len(items)
            found = [self._usable(raw, controls) for raw in raws]
        missing = [i for i, entry in enumerate(found) if entry is None]
        label = keys[0] if single else None
        hidden_key: str | list[str] = keys[0] if single else keys
        if not controls.no_cache:
            kind: EventKind = "miss" if missing else "hit"
            reason = "partial" if missing and len(missing) < len(items) else None
            self._event(kind, label, call_type, start, reason=reason)
        if missing:
            sent = [items[i] for i in missing]
            result = await _call(upstream, {**kwargs, "input": sent[0] if single else sent})
            response = dump(result)
            response_type = type_name(result)
            fresh: dict[int, dict[str, Any]] = {}
            for item in response.get("data") or ():
                position = missing[item.get("index", 0)]
                stored = {k: v for k, v in item.items() if k != "index"}
                fresh[position] = make_entry("embedding", stored, response_type)
                fresh[position]["model"] = response.get("model")
            if not controls.no_store and fresh:
                await self._store_many(
                    [(keys[i], e) for i, e in fresh.items()], call_type, controls
                )
            if len(missing) == len(items):
                return mark(result, hidden_key, False)
            usage = response.get("usage")
            model = response.get("model")
        else:
            fresh, response_type, model = {}, None, None
            usage = {"prompt_tokens": 0, "total_tokens": 0}
        data = []
        for i in range(len(items)):
            entry = fresh.get(i) or found[i]
            assert entry is not None
            response_type = response_type or entry["type"]
            model = model or entry.get("model")
            data.append({**entry["data"], "index": i})
        assembled = {
            "object": "list",
            "data": data,
            "model": model or kwargs.get("model"),
            "usage": usage,
        }
        return mark(rebuild(assembled, response_type), hidden_key, not missing)

    async def _store_many(
        self, items: list[tuple[str, dict[str, Any]]], call_type: str, controls: Controls
    ) -> None:
        ttl: TTLArg = USE_DEFAULT if controls.ttl is None else controls.ttl
        start = now()
        try:
            if self.custom_add is not None:
                for key, entry in items:
                    await _maybe_await(self.custom_add(entry, cache_key=key))
            else:
                await self.backend.async_set_cache_pipeline(items, ttl)
        except Exception as exc:
            self._backend_error("store", items[0][0], call_type, exc)
            return
        self._event("store", None, call_type, start)

    # -- report ---------------------------------------------------------------------------
    def _event(
        self,
        kind: EventKind,
        key: str | None,
        call_type: str,
        start: float | None = None,
        similarity: float | None = None,
        tokens: int = 0,
        error: str | None = None,
        reason: str | None = None,
    ) -> None:
        events = self.events
        if not events.listening:
            events.count(kind, tokens, similarity is not None)
            return
        latency = 0.0 if start is None else now() - start
        events.emit(
            CacheEvent(
                kind, key, call_type, self.backend_name, latency, similarity, tokens, error, reason
            )
        )

    def _backend_error(self, operation: str, key: str, call_type: str, exc: Exception) -> None:
        self._event("error", key, call_type, error=type(exc).__name__, reason=operation)
        last = self._last_error_log.get(operation, 0.0)
        moment = time.monotonic()
        if moment - last >= _ERROR_LOG_INTERVAL:
            self._last_error_log[operation] = moment
            logger.warning(
                "cache %s failed on the %s backend (%s); calling upstream without the cache",
                operation,
                self.backend_name,
                type(exc).__name__,
            )
        else:
            logger.debug("cache %s failed (%s)", operation, type(exc).__name__)
