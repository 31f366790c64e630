"""The one path every cached call takes.

decide (controls, supported call types, mode) -> key -> look up (exact, then semantic when the
backend can) -> single-flight -> upstream -> store -> report (events).

A backend failure during the lookup or the store is logged (rate-limited), counted and then
ignored: the call goes upstream as if the cache were empty (under ``failure_policy=
"fail_closed"`` the typed error is raised instead). While the backend's circuit breaker is
open, calls skip the cache at once. Only bad controls and bad arguments raise, before anything
is sent upstream.

Entries stored with a stale grace window carry ``"f"``, the time they stop being fresh; past
it they are served flagged stale when the upstream fails (stale-if-error) or at once while one
caller refreshes them (stale-while-revalidate).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .backends.base import USE_DEFAULT, BaseCache, TTLArg
from .controls import DEFAULT_CONTROLS, Controls, parse_controls
from .errors import BackendUnavailable, CacheError, InvalidArgumentError
from .events import CacheEvent, EventBus, EventKind, Saving, now
from .keys import call_family, digest, make_key
from .resilience import GuardedCache
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
from .shapes import UNCACHEABLE_WHEN, uncacheable
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
_FAILED: Any = object()
_NUMBER = (float, int)
#: entry kind -> the classes its data may have (a transcription can answer plain text)
_SHAPES: dict[Any, tuple[type, ...]] = {
    "response": (dict, list, str),
    "chunks": (list,),
    "embedding": (dict,),
}


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
        backend = getattr(cache, "guarded", cache.backend)
        #: The guard's breaker (``None`` for an unguarded backend). The handler works on the
        #: guard's raising view and applies the failure policy itself, so every failure
        #: becomes an error event before the call goes upstream (or raises).
        self.guard = backend if isinstance(backend, GuardedCache) else None
        if self.guard is not None:
            backend = self.guard.strict()
        self.fail_closed = getattr(cache, "failure_policy", "fail_open") == "fail_closed"
        self.backend: BaseCache = backend
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
        self.stale_if_error: float | None = getattr(cache, "stale_if_error", None)
        self.stale_while_revalidate: float | None = getattr(cache, "stale_while_revalidate", None)
        self._refreshing: set[str] = set()
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
        if call_type in UNCACHEABLE_WHEN:
            why = uncacheable(call_type, kwargs)
            if why is not None:  # the answer is not a function of the arguments
                self._event("skip", None, call_type, reason=why)
                return await _call(upstream, kwargs)
        guard = self.guard
        if guard is not None and guard.breaker.is_open() and self.custom_get is None:
            return await self._bypass(call_type, upstream, kwargs)
        if call_family(call_type) == "embedding":
            return await self._embedding(call_type, upstream, kwargs, controls)
        key = self._key(call_type, kwargs, controls)
        stream = kwargs.get("stream") is True
        if not controls.no_cache:
            start = now()
            found = await self._lookup(key, call_type, kwargs, controls)
            if found is _FAILED:  # the backend just timed out: do not wait on it again
                controls = replace(controls, no_store=True)
                found = None
            if found is not None:
                entry, similarity = found
                fresh_until = entry.get("f")
                if fresh_until is not None and time.time() > fresh_until:
                    return await self._stale(
                        entry, similarity, key, call_type, upstream, kwargs, controls, start
                    )
                answer = self._answer(entry, stream, key, similarity)
                if answer is not None:
                    data = entry["data"]
                    stored = data if entry["kind"] == "response" else (data[-1] if data else None)
                    tokens = usage_tokens(data)
                    saving = self.events.save(
                        stored, kwargs.get("model"), self._scope(kwargs, controls)
                    )
                    self._event("hit", key, call_type, start, similarity, tokens, saving=saving)
                    return answer
            self._event("miss", key, call_type, start)
        return await self._fly(key, call_type, upstream, kwargs, controls, stream)

    # -- stale entries: kept a grace window past their ttl ----------------------------------
    def _grace(self, controls: Controls) -> tuple[float, float]:
        """(stale-if-error, stale-while-revalidate) seconds for this call (0: off)."""
        sie = self.stale_if_error if controls.stale_if_error is None else controls.stale_if_error
        swr = (
            self.stale_while_revalidate
            if controls.stale_while_revalidate is None
            else controls.stale_while_revalidate
        )
        return sie or 0.0, swr or 0.0

    async def _stale(
        self,
        entry: dict[str, Any],
        similarity: float | None,
        key: str,
        call_type: str,
        upstream: Upstream,
        kwargs: dict[str, Any],
        controls: Controls,
        start: float,
    ) -> Any:
        """An entry past its fresh-until time: served at once while one caller refreshes it
        (stale-while-revalidate), served if the upstream fails (stale-if-error), or a miss."""
        stream = kwargs.get("stream") is True
        stale_if_error, while_revalidate = self._grace(controls)
        overdue = time.time() - entry["f"]
        if overdue <= while_revalidate:
            answer = self._answer(entry, stream, key, similarity)
            if answer is not None:
                self._refresh(key, call_type, upstream, kwargs, controls)
                return self._stale_hit(answer, key, call_type, start, "stale-while-revalidate")
        self._event("miss", key, call_type, start, reason="stale")
        if overdue > stale_if_error:
            return await self._fly(key, call_type, upstream, kwargs, controls, stream)
        try:
            return await self._fly(key, call_type, upstream, kwargs, controls, stream)
        except Exception:
            answer = self._answer(entry, stream, key, similarity)
            if answer is None:
                raise
            return self._stale_hit(answer, key, call_type, None, "stale-if-error")

    def _stale_hit(
        self, answer: Any, key: str, call_type: str, start: float | None, reason: str
    ) -> Any:
        hidden = getattr(answer, "_hidden_params", None)
        if isinstance(hidden, dict):
            hidden["stale"] = True
        self.events.counters["stale_hit"] += 1
        self._event("hit", key, call_type, start, reason=reason)
        return answer

    def _refresh(
        self,
        key: str,
        call_type: str,
        upstream: Upstream,
        kwargs: dict[str, Any],
        controls: Controls,
    ) -> None:
        """Refresh ``key`` in the background, unless a refresh or a call for it is running."""
        if key in self._refreshing or self.flights.join(key) is not None:
            return
        self._refreshing.add(key)
        fresh = {k: v for k, v in kwargs.items() if k not in ("stream", "stream_options")}

        async def refresh() -> None:
            try:
                await self._fly(key, call_type, upstream, fresh, controls, False)
            except Exception as exc:  # the stale answer was served; the next call retries
                logger.debug("a background refresh failed (%s)", type(exc).__name__)
            finally:
                self._refreshing.discard(key)

        task = asyncio.get_running_loop().create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background work in progress (refreshes, lease releases)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _bypass(self, call_type: str, upstream: Upstream, kwargs: dict[str, Any]) -> Any:
        """The backend's circuit breaker is open: skip the cache at once (or refuse the call
        under ``fail_closed``)."""
        assert self.guard is not None
        self.guard.guard_stats.skipped_open += 1
        self.events.counters["circuit_open"] += 1
        self._event("skip", None, call_type, reason="circuit-open")
        if self.fail_closed:
            raise BackendUnavailable(f"the {self.backend_name} backend's circuit breaker is open")
        return await _call(upstream, kwargs)

    def _identity(self, kwargs: Mapping[str, Any]) -> str | None:
        """The caller's identity (tenant, user): ``None`` or a non-empty str, else an error."""
        if self.identity is None:
            return None
        identity = self.identity(kwargs)
        if identity is None:
            return None
        if not isinstance(identity, str) or not identity:
            raise InvalidArgumentError("the identity function must return a non-empty str or None")
        return identity

    def _key(self, call_type: str, kwargs: Mapping[str, Any], controls: Controls) -> str:
        namespace = controls.namespace or self.namespace
        identity = self._identity(kwargs)
        if self.custom_key is not None:
            key = str(self.custom_key(**kwargs))
            if identity is not None:  # a custom key still never crosses identities
                key = f"{key}:identity:{digest(['identity', identity])}"
            return f"{namespace}:{key}" if namespace else key
        return make_key(call_type, kwargs, namespace=namespace, identity=identity)

    def _scope(self, kwargs: Mapping[str, Any], controls: Controls) -> dict[str, str]:
        scope: dict[str, str] = {}
        namespace = controls.namespace or self.namespace
        if namespace:
            scope["namespace"] = namespace
        identity = self._identity(kwargs)
        if identity is not None:
            scope["identity"] = identity
        return scope

    # -- look up --------------------------------------------------------------------------
    async def _lookup(
        self, key: str, call_type: str, kwargs: dict[str, Any], controls: Controls
    ) -> Any:
        """``(entry, similarity)`` on a hit, ``None`` on a miss, ``_FAILED`` if the backend
        timed out (so the call does not wait out a second deadline to store)."""
        try:
            if self.custom_get is not None:
                raw = await _maybe_await(self.custom_get(**kwargs, cache_key=key))
            else:
                raw = await self.backend.async_get_cache(key)
        except Exception as exc:
            self._backend_error("lookup", key, call_type, exc)
            if isinstance(exc, TimeoutError):
                return _FAILED
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
            return _FAILED if isinstance(exc, TimeoutError) else None
        if hit is None:
            return None
        entry = self._usable(hit.value, controls)
        return None if entry is None else (entry, float(hit.similarity))

    @staticmethod
    def _usable(raw: Any, controls: Controls) -> dict[str, Any] | None:
        """``raw`` if it is a well-formed entry young enough for ``controls``, else ``None``
        (anything else found under a key — garbage, a foreign value — is a miss)."""
        if raw is None or raw.__class__ is not dict or raw.get("v") != _ENTRY_VERSION:
            return None
        created, data, type_ = raw.get("t"), raw.get("data"), raw.get("type")
        kind = raw.get("kind")
        shapes = _SHAPES.get(kind, ()) if kind.__class__ is str else ()
        if created.__class__ not in _NUMBER or data.__class__ not in shapes:
            return None
        if type_ is not None and type_.__class__ is not str:
            return None
        fresh_until = raw.get("f")
        if fresh_until is not None and fresh_until.__class__ not in _NUMBER:
            return None
        if controls.max_age is not None and time.time() - created > controls.max_age:
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
        grace = max(self._grace(controls))
        if grace:  # kept past its ttl for stale serving, marked with when it went stale
            seconds = self.backend.default_ttl if controls.ttl is None else controls.ttl
            if seconds is not None:
                entry = {**entry, "f": time.time() + seconds}
                ttl = seconds + grace
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
        saving: Saving | None = None,
    ) -> None:
        events = self.events
        if not events.listening:
            events.count(kind, tokens, similarity is not None)
            return
        latency = 0.0 if start is None else now() - start
        events.emit(
            CacheEvent(
                kind,
                key,
                call_type,
                self.backend_name,
                latency,
                similarity,
                tokens,
                error,
                reason,
                saving,
            )
        )

    def report_skip(self, call_type: str, reason: str) -> None:
        """Report a call that went upstream past the cache, and why (a ``skip`` event)."""
        self._event("skip", None, call_type, reason=reason)

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
        if self.fail_closed and isinstance(exc, CacheError):
            raise exc
