"""The one path every cached call takes.

decide (controls, supported call types, mode) -> key -> look up (exact, then semantic when the
backend can) -> follow an identical call in flight, or lead one -> upstream -> store -> report
(events). Each call carries its state in one :class:`CallContext`.

A backend failure during the lookup or the store is logged (rate-limited), counted and then
ignored: the call goes upstream as if the cache were empty (under ``failure_policy=
"fail_closed"`` the typed error is raised instead). While the backend's circuit breaker is
open, calls skip the cache at once. Only bad controls and bad arguments raise, before anything
is sent upstream. A call spends at most one ``backend_deadline`` on the cache in all: what the
lookup used is gone for the store.

Entries stored with a stale grace window carry ``"f"``, the time they stop being fresh; past
it they are served flagged stale when the upstream fails (stale-if-error) or at once while one
caller refreshes them (stale-while-revalidate).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from .backends.base import USE_DEFAULT, BaseCache, TTLArg
from .controls import DEFAULT_CONTROLS, Controls, parse_controls
from .embedding_calls import embedding_call
from .errors import BackendTimeout, BackendUnavailable, CacheError, InvalidArgumentError
from .events import CacheEvent, EventBus, EventKind, now
from .keys import call_family, make_key, scoped_custom_key
from .resilience import GuardedCache, RateLimitedLog
from .responses import (
    AS_STORED,
    Shape,
    aggregate_chunks,
    dump,
    is_usage_chunk,
    make_entry,
    mark,
    rebuild,
    response_to_chunks,
    type_name,
    usage_tokens,
)
from .singleflight import Flight, SingleFlight
from .streaming import Broadcast, CachedStream, replay

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["CallContext", "Handler", "call_upstream"]

logger = logging.getLogger("aiocache_llm.handler")

T = TypeVar("T")
Upstream = Callable[..., Any]
_ERROR_LOG_INTERVAL = 10.0
_ENTRY_VERSION = 1
_LEASE = ":lease"
_LEASE_POLL = 0.05
_NUMBER = (float, int)
#: entry kind -> the classes its data may have (a transcription can answer plain text)
_SHAPES: dict[Any, tuple[type, ...]] = {
    "response": (dict, list, str),
    "chunks": (list,),
    "embedding": (dict,),
}


async def call_upstream(upstream: Upstream, kwargs: dict[str, Any]) -> Any:
    """``upstream(**kwargs)``, awaited when it returns an awaitable."""
    result = upstream(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


_call = call_upstream  # the name earlier versions exported


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


@functools.lru_cache(maxsize=512)
def _takes(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name``."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: do not guess
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


@dataclass(slots=True)
class CallContext:
    """Everything one cached call carries from decision to report."""

    call_type: str
    upstream: Upstream
    kwargs: dict[str, Any]
    controls: Controls
    shape: Shape
    key: str = ""
    stream: bool = False
    #: The caller asked for a usage chunk (``stream_options.include_usage``).
    wants_usage: bool = False
    #: Seconds this call may still spend on the backend (``None``: no deadline).
    budget: float | None = None


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
        self.deadline: float | None = None
        if self.guard is not None:
            self.deadline = self.guard.deadline
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
        self._warmed = not self.semantic
        self.flights = SingleFlight()
        self.lease_ttl = cache.lease_ttl
        self.lease_wait = cache.lease_wait
        self.stale_if_error: float | None = getattr(cache, "stale_if_error", None)
        self.stale_while_revalidate: float | None = getattr(cache, "stale_while_revalidate", None)
        self._refreshing: set[str] = set()
        self._log = RateLimitedLog(logger, _ERROR_LOG_INTERVAL)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- decide ---------------------------------------------------------------------------
    async def call(
        self,
        call_type: str,
        upstream: Upstream,
        kwargs: dict[str, Any],
        shape: Shape | None = None,
    ) -> Any:
        """Run ``upstream(**kwargs)`` through the cache; ``kwargs`` is consumed. ``shape``
        says which types the caller gets back (default: the types the entry was stored as)."""
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
            return await call_upstream(upstream, kwargs)
        guard = self.guard
        if guard is not None and guard.breaker.is_open() and self.custom_get is None:
            return await self._bypass(call_type, upstream, kwargs)
        ctx = CallContext(call_type, upstream, kwargs, controls, shape or AS_STORED)
        ctx.budget = self.deadline
        if call_family(call_type) == "embedding":
            return await self._embedding(ctx)
        ctx.key = self._key(call_type, kwargs, controls)
        if kwargs.get("stream") is True:
            ctx.stream = True
            options = kwargs.get("stream_options")
            ctx.wants_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        if controls.no_cache:
            return await self._lead(ctx)
        start = now()
        found = await self._lookup(ctx)
        if found is not None:
            entry, similarity = found
            fresh_until = entry.get("f")
            if fresh_until is not None and time.time() > fresh_until:
                return await self._stale(ctx, entry, similarity, start)
            answer = self._answer(ctx, entry, similarity)
            if answer is not None:
                self._event("hit", ctx.key, call_type, start, similarity, _entry_tokens(entry))
                return answer
        return await self._fly(ctx, start)

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
        self, ctx: CallContext, entry: dict[str, Any], similarity: float | None, start: float
    ) -> Any:
        """An entry past its fresh-until time: served at once while one caller refreshes it
        (stale-while-revalidate), served if the upstream fails (stale-if-error), or a miss."""
        stale_if_error, while_revalidate = self._grace(ctx.controls)
        overdue = time.time() - entry["f"]
        if overdue <= while_revalidate:
            answer = self._answer(ctx, entry, similarity)
            if answer is not None:
                self._refresh(ctx)
                return self._stale_hit(answer, ctx, start, "stale-while-revalidate")
        if overdue > stale_if_error:
            return await self._fly(ctx, start, "stale")
        try:
            return await self._fly(ctx, start, "stale")
        except Exception:  # the upstream failed: the stale entry is served instead
            answer = self._answer(ctx, entry, similarity)
            if answer is None:
                raise
            return self._stale_hit(answer, ctx, None, "stale-if-error")

    def _stale_hit(self, answer: Any, ctx: CallContext, start: float | None, reason: str) -> Any:
        hidden = getattr(answer, "_hidden_params", None)
        if isinstance(hidden, dict):
            hidden["stale"] = True
        self.events.counters["stale_hit"] += 1
        self._event("hit", ctx.key, ctx.call_type, start, reason=reason)
        return answer

    def _refresh(self, ctx: CallContext) -> None:
        """Refresh ``ctx.key`` in the background, unless a refresh or a call for it runs."""
        key = ctx.key
        if key in self._refreshing or self.flights.join(key) is not None:
            return
        self._refreshing.add(key)
        fresh = {k: v for k, v in ctx.kwargs.items() if k not in ("stream", "stream_options")}
        background = replace(ctx, kwargs=fresh, stream=False, budget=self.deadline)

        async def refresh() -> None:
            try:
                await self._lead(background)
            except Exception as exc:  # the stale answer was served; the next call retries
                logger.debug("a background refresh failed (%s)", type(exc).__name__)
            finally:
                self._refreshing.discard(key)

        self._spawn(refresh())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
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
        return await call_upstream(upstream, kwargs)

    # -- keys -----------------------------------------------------------------------------
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
            return scoped_custom_key(
                str(self.custom_key(**kwargs)), namespace=namespace, identity=identity
            )
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

    # -- the backend, within the call's budget --------------------------------------------
    async def _within(self, ctx: CallContext, operation: Awaitable[T]) -> T:
        """Await one backend operation within what is left of the call's deadline."""
        left = ctx.budget
        if left is None:
            return await operation
        if left <= 0:
            if inspect.iscoroutine(operation):
                operation.close()
            raise BackendTimeout("the call's cache deadline is spent")
        started = time.monotonic()
        try:
            if self.deadline is not None and left >= self.deadline:
                return await operation  # the guard's own deadline (and breaker) applies
            return await asyncio.wait_for(operation, left)
        except asyncio.TimeoutError as exc:
            raise BackendTimeout(f"the call's {self.deadline}s cache deadline passed") from exc
        finally:
            ctx.budget = left - (time.monotonic() - started)

    async def _warm(self) -> None:
        """Let a semantic backend load its embedding model, outside any deadline."""
        self._warmed = True
        warm = getattr(self.backend, "semantic_warm", None)
        if warm is None:
            return
        try:
            await warm()
        except Exception as exc:  # a model that cannot load makes lookups quiet misses
            logger.warning("the embedding model could not be loaded (%s)", type(exc).__name__)

    # -- look up --------------------------------------------------------------------------
    async def _lookup(self, ctx: CallContext) -> tuple[dict[str, Any], float | None] | None:
        """``(entry, similarity)`` on a hit, ``None`` on a miss (or a failed lookup)."""
        key, controls = ctx.key, ctx.controls
        try:
            if self.custom_get is not None:
                raw = await _maybe_await(self.custom_get(**ctx.kwargs, cache_key=key))
            else:
                raw = await self._within(ctx, self.backend.async_get_cache(key))
        except Exception as exc:  # a store's or a get_cache hook's failure never fails the call
            self._backend_error("lookup", ctx, exc)
            return None
        entry = self._usable(raw, controls)
        if entry is not None:
            return entry, None
        if not self.semantic or call_family(ctx.call_type) not in ("chat", "text"):
            return None
        if not self._warmed:
            await self._warm()
        try:
            hit = await self._within(
                ctx,
                self.backend.async_semantic_lookup(  # type: ignore[attr-defined]
                    ctx.call_type, ctx.kwargs, self._scope(ctx.kwargs, controls)
                ),
            )
        except Exception as exc:  # an index's failure never fails the call
            self._backend_error("semantic lookup", ctx, exc)
            return None
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
        if raw.get("tokens", 0).__class__ is not int:
            return None
        if controls.max_age is not None and time.time() - created > controls.max_age:
            return None
        return raw

    def _answer(
        self,
        ctx: CallContext,
        entry: dict[str, Any],
        similarity: float | None,
        facts: Mapping[str, Any] | None = None,
    ) -> Any:
        """The caller's own answer (a fresh object) from a stored entry; ``None`` if the entry
        cannot be rebuilt."""
        try:
            kind, data, stored = entry["kind"], entry["data"], entry["type"]
            if ctx.stream:
                hidden: dict[str, Any] = {"cache_hit": True, "cache_key": ctx.key, **(facts or {})}
                if similarity is not None:
                    hidden["similarity"] = similarity
                chunk_type = ctx.shape.chunk_type(kind, stored)
                if kind == "response":
                    data = response_to_chunks(data, ctx.wants_usage)
                elif not ctx.wants_usage:
                    data = [chunk for chunk in data if not is_usage_chunk(chunk)]
                chunks = [rebuild(chunk, chunk_type) for chunk in data]
                return CachedStream(replay(chunks), hidden)
            if kind == "chunks":
                data = aggregate_chunks(data)
            answer = rebuild(data, ctx.shape.response_type(kind, stored))
            return mark(answer, ctx.key, True, similarity, facts)
        except Exception as exc:  # the traceback could quote the stored answer: not logged
            self.backend.stats.corrupt_reads += 1
            logger.warning(
                "a cached entry could not be rebuilt (%s); treated as a miss", type(exc).__name__
            )
            return None

    # -- single-flight: follow an identical call in flight, or lead one --------------------
    async def _fly(self, ctx: CallContext, start: float, reason: str | None = None) -> Any:
        """A miss: served by an identical call already in flight (a hit of kind "coalesced"),
        else led to the upstream."""
        flight = self.flights.join(ctx.key)
        if flight is not None:
            answer = await self._follow(ctx, flight)
            if answer is not None:
                self.events.counters["coalesced_hit"] += 1
                self._event("hit", ctx.key, ctx.call_type, start, reason="coalesced")
                return answer
        self._event("miss", ctx.key, ctx.call_type, start, reason=reason)
        return await self._lead(ctx)

    async def _follow(self, ctx: CallContext, flight: Flight) -> Any:
        """The answer of the flight ``ctx`` joined; ``None`` if its leader gave up."""
        broadcast = flight.broadcast
        facts = {"coalesced": True}
        if ctx.stream and broadcast is not None:
            shape = ctx.shape
            dumped = broadcast.dumped
            kind = "chunks"

            def convert(i: int) -> Any:
                stored = type_name(broadcast.objects[i])
                return rebuild(dumped[i], shape.chunk_type(kind, stored))

            return CachedStream(
                self._without_usage(ctx, broadcast.subscribe(int), dumped, convert),
                {"cache_hit": True, "cache_key": ctx.key, **facts},
            )
        entry = await flight.outcome()
        if entry is None:
            return None
        return self._answer(ctx, entry, None, facts)

    @staticmethod
    async def _without_usage(
        ctx: CallContext,
        indexes: AsyncIterator[int],
        dumped: list[Any],
        convert: Callable[[int], Any],
    ) -> AsyncIterator[Any]:
        """``convert(i)`` for every chunk, leaving out the usage chunk unless it was asked for."""
        async for i in indexes:
            if ctx.wants_usage or not is_usage_chunk(dumped[i]):
                yield convert(i)

    async def _lead(self, ctx: CallContext) -> Any:
        """Call the upstream for ``ctx.key``, identical calls meanwhile following this one."""
        key = ctx.key
        flight = self.flights.lead(key)
        leased = False
        try:
            if self.lease_ttl is not None and not ctx.controls.no_store:
                leased, entry = await self._lease(ctx)
                if entry is not None:
                    flight.resolve(entry)
                    self.flights.finish(key, flight)
                    answer = self._answer(ctx, entry, None)
                    if answer is not None:
                        return answer
            result = await call_upstream(ctx.upstream, self._upstream_arguments(ctx))
        except BaseException as exc:
            flight.fail(exc)
            self.flights.finish(key, flight)
            if leased:
                await self._release(ctx)
            raise
        if ctx.stream and hasattr(result, "__aiter__"):
            return self._lead_stream(ctx, flight, result, leased)
        ctx.shape.learn(result)
        try:
            entry = make_entry("response", dump(result), type_name(result))
            flight.resolve(entry)
            if not ctx.controls.no_store:
                await self._store(ctx, entry)
        finally:
            flight.resolve(None)
            self.flights.finish(key, flight)
            if leased:
                await self._release(ctx)
        return mark(result, key, False)

    def _upstream_arguments(self, ctx: CallContext) -> dict[str, Any]:
        """What the upstream is sent: a stream asks for its usage too (when the upstream takes
        ``stream_options``), so the stored entry serves plain calls with the same fields."""
        kwargs = ctx.kwargs
        if not ctx.stream or ctx.wants_usage or not _takes(ctx.upstream, "stream_options"):
            return kwargs
        options = kwargs.get("stream_options")
        given = dict(options) if isinstance(options, Mapping) else {}
        return {**kwargs, "stream_options": {**given, "include_usage": True}}

    # -- cross-process single-flight: a short lease in the backend --------------------------
    async def _lease(self, ctx: CallContext) -> tuple[bool, dict[str, Any] | None]:
        """Take the lease on ``ctx.key`` -> (True, None); or wait for its holder's entry ->
        (False, entry), or (False, None) after ``lease_wait`` seconds."""
        key = ctx.key
        try:
            holders = await self._within(
                ctx, self.backend.async_increment(key + _LEASE, 1, self.lease_ttl)
            )
        except CacheError as exc:
            self._backend_error("lease", ctx, exc)
            return False, None
        if holders == 1:
            return True, None
        deadline = time.monotonic() + self.lease_wait
        while time.monotonic() < deadline:
            await asyncio.sleep(_LEASE_POLL)
            try:
                raw = await self._within(ctx, self.backend.async_get_cache(key))
            except CacheError as exc:
                self._backend_error("lookup", ctx, exc)
                return False, None
            entry = self._usable(raw, ctx.controls)
            if entry is not None:
                return False, entry
        return False, None

    async def _release(self, ctx: CallContext) -> None:
        try:
            await self.backend.async_delete_cache(ctx.key + _LEASE)
        except CacheError:  # the lease expires on its own
            logger.debug("could not release a single-flight lease", exc_info=True)

    def _lead_stream(
        self, ctx: CallContext, flight: Flight, source: Any, leased: bool
    ) -> CachedStream:
        key = ctx.key

        async def complete(objects: list[Any], dumped: list[Any]) -> None:
            stored = type_name(objects[0]) if objects else None
            entry = make_entry("chunks", dumped, stored)
            flight.resolve(entry)
            if objects:
                ctx.shape.learn(objects[0], chunk=True)
            if not ctx.controls.no_store and dumped:
                await self._store(ctx, entry)

        def finish(broadcast: Broadcast) -> None:
            if broadcast.error is not None:
                flight.fail(broadcast.error)
            flight.resolve(None)
            self.flights.finish(key, flight)

        broadcast = Broadcast(source, dump, complete, finish)
        flight.broadcast = broadcast
        objects = broadcast.objects
        chunks = self._without_usage(
            ctx, broadcast.subscribe(int), broadcast.dumped, objects.__getitem__
        )
        if leased:

            async def release() -> None:
                await broadcast.wait()
                await self._release(ctx)

            self._spawn(release())
        return CachedStream(chunks, {"cache_hit": False, "cache_key": key})

    # -- store ----------------------------------------------------------------------------
    def _ttl(self, controls: Controls, entry: dict[str, Any]) -> tuple[TTLArg, dict[str, Any]]:
        """The ttl to store ``entry`` with, and the entry (marked with its fresh-until time
        when it is kept past its ttl for stale serving)."""
        ttl: TTLArg = USE_DEFAULT if controls.ttl is None else controls.ttl
        grace = max(self._grace(controls))
        if grace:
            seconds = self.backend.default_ttl if controls.ttl is None else controls.ttl
            if seconds is not None:
                return seconds + grace, {**entry, "f": time.time() + seconds}
        return ttl, entry

    async def _store(self, ctx: CallContext, entry: dict[str, Any]) -> None:
        key, kwargs = ctx.key, ctx.kwargs
        if ctx.budget is not None and ctx.budget <= 0:  # a failed lookup spent it all
            logger.debug("the call's cache deadline is spent: the answer is not stored")
            return
        ttl, entry = self._ttl(ctx.controls, entry)
        start = now()
        try:
            if self.custom_add is not None:
                await _maybe_await(self.custom_add(entry, **kwargs, cache_key=key))
            else:
                await self._within(ctx, self.backend.async_set_cache(key, entry, ttl))
            if self.semantic and call_family(ctx.call_type) in ("chat", "text"):
                if not self._warmed:
                    await self._warm()
                scope = self._scope(kwargs, ctx.controls)
                await self._within(
                    ctx,
                    self.backend.async_semantic_store(  # type: ignore[attr-defined]
                        ctx.call_type, kwargs, scope, entry, ttl
                    ),
                )
        except Exception as exc:  # a store's or an add_cache hook's failure never fails the call
            self._backend_error("store", ctx, exc)
            return
        self._event("store", key, ctx.call_type, start)

    # -- embeddings: one entry per input ----------------------------------------------------
    call_upstream = staticmethod(call_upstream)

    async def _embedding(self, ctx: CallContext) -> Any:
        return await embedding_call(self, ctx)

    async def lookup_many(
        self, ctx: CallContext, keys: list[str], items: list[Any]
    ) -> list[dict[str, Any] | None]:
        """The usable entry under each of ``keys`` (``None`` where there is none)."""
        try:
            if self.custom_get is not None:
                raws = [
                    await _maybe_await(
                        self.custom_get(**{**ctx.kwargs, "input": item}, cache_key=key)
                    )
                    for item, key in zip(items, keys, strict=True)
                ]
            else:
                raws = await self._within(ctx, self.backend.async_batch_get_cache(keys))
        except Exception as exc:  # a store's or a get_cache hook's failure never fails the call
            self._backend_error("lookup", ctx, exc)
            raws = [None] * len(keys)
        return [self._usable(raw, ctx.controls) for raw in raws]

    async def store_many(self, ctx: CallContext, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Store every ``(key, entry)`` of ``items`` (one pipeline)."""
        controls = ctx.controls
        ttl: TTLArg = USE_DEFAULT if controls.ttl is None else controls.ttl
        start = now()
        try:
            if self.custom_add is not None:
                for key, entry in items:
                    await _maybe_await(self.custom_add(entry, cache_key=key))
            else:
                await self._within(ctx, self.backend.async_set_cache_pipeline(items, ttl))
        except Exception as exc:  # a store's or an add_cache hook's failure never fails the call
            self._backend_error("store", ctx, exc)
            return
        self._event("store", None, ctx.call_type, start)

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

    def report_skip(self, call_type: str, reason: str) -> None:
        """Report a call that went upstream past the cache, and why (a ``skip`` event)."""
        self._event("skip", None, call_type, reason=reason)

    def _backend_error(self, operation: str, ctx: CallContext, exc: Exception) -> None:
        """Report a failed backend operation; under ``fail_closed``, raise its typed error
        (a hook's own exception is reported, never raised)."""
        key = ctx.key or None
        self._event("error", key, ctx.call_type, error=type(exc).__name__, reason=operation)
        closed = self.fail_closed and isinstance(exc, CacheError)
        outcome = "raising it (fail_closed)" if closed else "calling upstream without the cache"
        self._log.warning(
            "cache %s failed on the %s backend (%s); %s",
            operation,
            self.backend_name,
            type(exc).__name__,
            outcome,
        )
        if closed:
            raise exc


def _entry_tokens(entry: dict[str, Any]) -> int:
    """The tokens a hit on ``entry`` saved (its usage's total, or an embedding's tokens)."""
    data = entry["data"]
    if entry["kind"] == "chunks":
        for chunk in reversed(data):
            tokens = usage_tokens(chunk)
            if tokens:
                return tokens
        return 0
    return usage_tokens(data)
