"""The one path every cached call takes.

decide (controls, supported call types, mode) -> key -> look up (exact, then semantic when the
backend can) -> follow an identical call in flight (a hit of kind "coalesced"), or lead one ->
upstream -> store -> report (events). Each call carries its state in one
:class:`~aiocache_llm.llm.context.CallContext`.

A backend failure during the lookup or the store is logged (rate-limited), counted and then
ignored: the call goes upstream as if the cache were empty (under ``failure_policy=
"fail_closed"`` the typed error is raised instead). While the backend's circuit breaker is
open, calls skip the cache at once. Only bad controls and bad arguments raise, before anything
is sent upstream. A call spends at most one ``backend_deadline`` on the cache in all: what the
lookup used is gone for the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Coroutine, Mapping
from typing import Any, TypeVar

from ..errors import BackendTimeout, BackendUnavailable
from ..middleware.builders import GuardedCache
from ..semantic import semantic_backend
from ..semantic.query import SemanticQuery
from ..storage.base import BaseCache
from .answers import answer_from_entry, entry_tokens, follow_stream, usage_source
from .context import (
    CHAT_FAMILIES,
    CacheSettings,
    CallContext,
    Upstream,
    call_upstream,
    maybe_await,
    upstream_arguments,
)
from .controls import DEFAULT_CONTROLS, parse_controls
from .embedding_calls import embedding_call
from .entries import ANSWER_KINDS, StoredEntry, parse_entry
from .events import now
from .keys import call_family
from .lease import release_lease, take_lease
from .report import Reporter
from .requests import semantic_query
from .responses import known_type, mark
from .result_types import AS_STORED, Shape
from .scoping import Scoping
from .shapes import UNCACHEABLE_WHEN, uncacheable
from .singleflight import Flight, SingleFlight
from .stale import serve_stale
from .storing import entry_of, lead_stream, store_entry
from .tracing import call_span
from .validation import check_arguments

__all__ = ["CallContext", "Handler", "call_upstream"]

logger = logging.getLogger("aiocache_llm.llm.handler")

T = TypeVar("T")


class Handler:
    """Runs cached calls for one cache (the facade's ``Cache``).

    Settings are copied in when the handler is built (the facade rebuilds it on a change), so a
    call reads no configuration.
    """

    def __init__(self, cache: CacheSettings) -> None:
        backend: BaseCache = getattr(cache, "guarded", cache.backend)
        #: The guard (``None`` for an unguarded backend). The handler works on the guard's
        #: raising view and applies the failure policy itself, so every failure becomes an
        #: error event before the call goes upstream (or raises).
        self.guard = backend if isinstance(backend, GuardedCache) else None
        self.deadline: float | None = None
        if self.guard is not None:
            self.deadline = self.guard.deadline
            backend = self.guard.strict()
        self.fail_closed = getattr(cache, "failure_policy", "fail_open") == "fail_closed"
        self.backend = backend
        self.backend_name = backend.backend_name
        self.events = cache.events
        self.report = Reporter(cache.events, backend.backend_name, self.fail_closed)
        self._event = self.report.event
        self.supported = frozenset(cache.supported_call_types)
        self.default_on = cache.mode == "default_on"
        self.namespace = cache.namespace
        self.identity = cache.identity
        self.custom_key = cache.custom_get_cache_key
        self.keys = Scoping(
            cache.namespace,
            cache.identity,
            cache.custom_get_cache_key,
            cache.key_on_user,
        )
        self._key = self.keys.key
        self._scope = self.keys.scope
        self.custom_get = cache.custom_get_cache
        self.custom_add = cache.custom_add_cache
        self.semantic = semantic_backend(backend) is not None and self.custom_key is None
        self._warmed = not self.semantic
        self.flights = SingleFlight()
        self.lease_ttl = cache.lease_ttl
        #: ``Cache(ttl=0)``: keep nothing, as LiteLLM (a call's own ``ttl`` still applies)
        self.keep_nothing = getattr(cache, "ttl", None) == 0
        self.lease_wait = cache.lease_wait
        self.stale_if_error: float | None = getattr(cache, "stale_if_error", None)
        self.stale_while_revalidate: float | None = getattr(cache, "stale_while_revalidate", None)
        self.refreshing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    call_upstream = staticmethod(call_upstream)

    # -- decide ---------------------------------------------------------------------------
    async def call(
        self,
        call_type: str,
        upstream: Upstream,
        kwargs: dict[str, Any],
        shape: Shape | None = None,
        deployment: str | None = None,
    ) -> Any:
        """Run ``upstream(**kwargs)`` through the cache; ``kwargs`` is consumed. ``shape``
        says which types the caller gets back (default: the types the entry was stored as);
        ``deployment``: the base URL the upstream calls (an SDK client's), part of the key."""
        if "cache" in kwargs or "caching" in kwargs:
            controls = parse_controls(kwargs.pop("cache", None), kwargs.pop("caching", None))
        else:
            controls = DEFAULT_CONTROLS
        if self.keep_nothing and controls.ttl is None and not controls.no_store:
            controls = dataclasses.replace(controls, no_store=True)
        # Bad arguments never reach the upstream: they are checked on every way there (a skip,
        # a miss, a key that cannot be built), never on a hit, which pays nothing for it.
        family = call_family(call_type)
        use = self.default_on if controls.use_cache is None else controls.use_cache
        if not use or call_type not in self.supported or (controls.no_cache and controls.no_store):
            reason = (
                "disabled"
                if not use
                else "unsupported"
                if call_type not in self.supported
                else "no-cache, no-store"
            )
            check_arguments(family, kwargs)
            self._event("skip", None, call_type, reason=reason)
            return await call_upstream(upstream, kwargs)
        if call_type in UNCACHEABLE_WHEN:
            why = uncacheable(call_type, kwargs)
            if why is not None:  # the answer is not a function of the arguments
                check_arguments(family, kwargs)
                self._event("skip", None, call_type, reason=why)
                return await call_upstream(upstream, kwargs)
        guard = self.guard
        if guard is not None and guard.breaker.is_open() and self.custom_get is None:
            check_arguments(family, kwargs)
            return await self._bypass(call_type, upstream, kwargs)
        # the deployment is keyed as LiteLLM's api_base, and never sent upstream
        keyed = kwargs if deployment is None else {"api_base": deployment, **kwargs}
        ctx = CallContext(call_type, upstream, kwargs, controls, shape or AS_STORED, keyed)
        ctx.budget = self.deadline
        if family == "embedding":
            check_arguments(family, kwargs)
            return await embedding_call(self, ctx)
        try:
            ctx.key = self._key(call_type, ctx.keyed, controls)
        except Exception:
            check_arguments(family, kwargs)  # the typed error when the arguments are to blame
            raise
        if kwargs.get("stream") is True:
            ctx.stream = True
            options = kwargs.get("stream_options")
            ctx.wants_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        if controls.no_cache:
            check_arguments(family, kwargs)
            return await self.lead(ctx)
        start = now()
        found = await self._lookup(ctx)
        if found is not None:
            entry, similarity = found
            fresh_until = entry.get("f")
            if fresh_until is not None and time.time() > fresh_until:
                return await serve_stale(self, ctx, entry, similarity, start)
            answer = self.answer(ctx, entry, similarity)
            if answer is not None:
                scope = self._scope(kwargs, controls)
                saving = self.events.save(usage_source(entry), kwargs.get("model"), scope)
                tokens = entry_tokens(entry)
                self._event("hit", ctx.key, call_type, start, similarity, tokens, saving=saving)
                return answer
        check_arguments(family, kwargs)  # a miss: about to go upstream
        span = call_span(self.events.tracing, call_type, start)
        if span is None:
            return await self.fly(ctx, start)
        with span:  # the miss's span: the upstream call and the store are within it
            return await self.fly(ctx, start)

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

    def report_skip(self, call_type: str, reason: str) -> None:
        """Report a call that went upstream past the cache, and why (a ``skip`` event)."""
        self._event("skip", None, call_type, reason=reason)

    # -- the backend, within the call's budget --------------------------------------------
    async def within(self, ctx: CallContext, operation: Awaitable[T]) -> T:
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
        try:
            await self.backend.semantic_warm()  # type: ignore[attr-defined]
        except Exception as exc:  # a model that cannot load makes lookups quiet misses
            logger.warning("the embedding model could not be loaded (%s)", type(exc).__name__)

    def semantic_query(
        self, call_type: str, kwargs: Mapping[str, Any], scope: Mapping[str, str]
    ) -> SemanticQuery | None:
        """What the semantic backend matches of a call (see :mod:`.requests`)."""
        extractor = getattr(semantic_backend(self.backend), "query_extractor", None)
        return semantic_query(call_type, kwargs, scope, extractor)

    # -- look up --------------------------------------------------------------------------
    async def exact_lookup(self, ctx: CallContext) -> StoredEntry | None:
        """The entry under ``ctx.key``; ``None`` on a miss (or a failed lookup)."""
        key = ctx.key
        try:
            if self.custom_get is not None:
                raw = await maybe_await(self.custom_get(**ctx.kwargs, cache_key=key))
            elif ctx.budget is None:  # no deadline (the in-memory store): no wrapper
                raw = await self.backend.async_get_cache(key)
            else:
                raw = await self.within(ctx, self.backend.async_get_cache(key))
        except Exception as exc:  # a store's or a get_cache hook's failure never fails the call
            self.report.backend_error("lookup", key, ctx.call_type, exc)
            return None
        return self._entry(raw, ctx.controls.max_age)

    def _entry(self, raw: Any, max_age: float | None) -> StoredEntry | None:
        entry = parse_entry(raw, max_age, ANSWER_KINDS, self.backend.stats)
        if entry is not None and entry["type"] is not None and not known_type(entry["type"]):
            self.backend.stats.corrupt_reads += 1  # a type outside the closed table
            return None
        return entry

    async def _lookup(self, ctx: CallContext) -> tuple[StoredEntry, float | None] | None:
        """``(entry, similarity)`` on a hit, ``None`` on a miss (or a failed lookup)."""
        key, controls = ctx.key, ctx.controls
        entry = await self.exact_lookup(ctx)
        if entry is not None:
            return entry, None
        if not self.semantic or call_family(ctx.call_type) not in CHAT_FAMILIES:
            return None
        if not self._warmed:
            await self._warm()
        scope = self._scope(ctx.kwargs, controls)
        lookup = self.backend.async_semantic_lookup  # type: ignore[attr-defined]
        try:
            query = self.semantic_query(ctx.call_type, ctx.keyed, scope)
            if query is None:
                return None
            hit = await self.within(ctx, lookup(ctx.call_type, query, scope))
        except Exception as exc:  # an index's failure never fails the call
            self.report.backend_error("semantic lookup", key, ctx.call_type, exc)
            return None
        if hit is None:
            return None
        entry = self._entry(hit.value, controls.max_age)
        return None if entry is None else (entry, float(hit.similarity))

    def answer(
        self,
        ctx: CallContext,
        entry: StoredEntry,
        similarity: float | None,
        facts: Mapping[str, Any] | None = None,
    ) -> Any:
        """The caller's own answer from ``entry``; ``None`` if the entry cannot be rebuilt."""
        try:
            return answer_from_entry(ctx, entry, similarity, facts)
        except Exception as exc:  # the traceback could quote the stored answer: not logged
            self.backend.stats.corrupt_reads += 1
            logger.warning(
                "a cached entry could not be rebuilt (%s); treated as a miss", type(exc).__name__
            )
            return None

    # -- single-flight: follow an identical call in flight, or lead one --------------------
    async def fly(self, ctx: CallContext, start: float, reason: str | None = None) -> Any:
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
        return await self.lead(ctx)

    async def _follow(self, ctx: CallContext, flight: Flight) -> Any:
        """The answer of the flight ``ctx`` joined; ``None`` if its leader gave up."""
        facts = {"coalesced": True}
        if ctx.stream and flight.broadcast is not None:
            return follow_stream(ctx, flight.broadcast, facts)
        entry = await flight.outcome()
        return None if entry is None else self.answer(ctx, entry, None, facts)

    async def lead(self, ctx: CallContext) -> Any:
        """Call the upstream for ``ctx.key``, identical calls meanwhile following this one."""
        key = ctx.key
        flight = self.flights.lead(key)
        leased = False
        try:
            if self.lease_ttl is not None and not ctx.controls.no_store:
                leased, entry = await take_lease(self, ctx)
                if entry is not None:
                    flight.resolve(entry)
                    self.flights.finish(key, flight)
                    answer = self.answer(ctx, entry, None)
                    if answer is not None:
                        return answer
            called = now()
            result = await call_upstream(ctx.upstream, upstream_arguments(ctx))
            ctx.upstream_latency = now() - called
        except BaseException as exc:
            flight.fail(exc)
            self.flights.finish(key, flight)
            if leased:
                await release_lease(self, ctx)
            raise
        if ctx.stream and isinstance(result, AsyncIterable):
            return lead_stream(self, ctx, flight, result, leased, called)
        try:
            entry = entry_of(self, ctx, result)
            if entry is not None:
                flight.resolve(entry)
                if not ctx.controls.no_store:
                    await store_entry(self, ctx, entry)
        finally:
            flight.resolve(None)
            self.flights.finish(key, flight)
            if leased:
                await release_lease(self, ctx)
        return mark(result, key, False)

    # -- background work ------------------------------------------------------------------
    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background, kept until it ends (see :meth:`drain`)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background work in progress (refreshes, lease releases)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def finish(self, timeout: float) -> None:
        """Let the background work in progress end for up to ``timeout`` seconds, then cancel
        what is left (a disconnect: no refresh may store, and so reconnect, afterwards)."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            tasks = list(self._tasks)
            left = deadline - time.monotonic()
            if left > 0:
                await asyncio.wait(tasks, timeout=left)
                continue
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
