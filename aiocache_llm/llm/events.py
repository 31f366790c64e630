"""Cache events: who is told what happened to each cached call.

Every lookup ends in one :class:`CacheEvent` — ``hit``, ``miss``, ``store``, ``skip`` or
``error`` — delivered to the callbacks registered on an :class:`EventBus` (plain functions run
inline, coroutine functions are scheduled on the running loop) and counted in
:attr:`EventBus.counters`, which a metrics exporter can read at any time. Events carry the key,
never the prompt. A callback that raises is logged and never fails the call.

Every hit also counts what it saved (:class:`Saving`): the prompt and completion tokens of the
stored answer's usage and, given prices, the money, totalled per namespace and identity in
:meth:`EventBus.savings_report`. Prices are a table of LiteLLM's shape
(``{"gpt-4o-mini": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07}}``) or,
when none is given and the process uses litellm, litellm's own cost map.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from ..errors import ConfigurationError
from .tracing import Tracing

__all__ = ["CacheEvent", "EventBus", "EventCallback", "EventKind", "Prices", "Saving"]

logger = logging.getLogger("aiocache_llm.llm.events")

EventKind: TypeAlias = Literal["hit", "miss", "store", "skip", "error"]
EventCallback: TypeAlias = "Callable[[CacheEvent], Awaitable[None] | None]"

KINDS: Final[tuple[EventKind, ...]] = ("hit", "miss", "store", "skip", "error")

#: model -> {"input_cost_per_token": ..., "output_cost_per_token": ...} (LiteLLM's names)
Prices: TypeAlias = "Mapping[str, Mapping[str, float]]"
_NO_PRICES: Final[Mapping[str, Any]] = {}
_PROMPT_NAMES: Final = ("prompt_tokens", "input_tokens")
_COMPLETION_NAMES: Final = ("completion_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class Saving:
    """What one hit saved: the stored answer's tokens and, when its model is priced, the cost
    (``None`` when no price is known). ``namespace`` and ``identity`` say whose saving it is."""

    namespace: str | None
    identity: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float | None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def check_prices(prices: object) -> Prices | None:
    """``prices`` if it is a table of per-token prices; raise ``ConfigurationError`` if not."""
    if prices is None:
        return None
    if not isinstance(prices, Mapping):
        raise ConfigurationError("prices must map model names to their per-token prices")
    for model, row in prices.items():
        if not isinstance(model, str) or not isinstance(row, Mapping):
            raise ConfigurationError(
                f"prices[{model!r}] must be a dict like {{'input_cost_per_token': 1e-06,"
                " 'output_cost_per_token': 2e-06}}"
            )
        for name in ("input_cost_per_token", "output_cost_per_token"):
            value = row.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(f"prices[{model!r}][{name!r}] must be a number >= 0")
            if not math.isfinite(value):
                raise ConfigurationError(f"prices[{model!r}][{name!r}] must be finite")
    return prices


def _tokens(usage: Mapping[str, Any], names: tuple[str, ...]) -> int:
    for name in names:
        value = usage.get(name)
        if value.__class__ is int or (isinstance(value, int) and not isinstance(value, bool)):
            return value
    return 0


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """What happened to one cached call.

    ``latency`` is the seconds the cache step took (the lookup for hit/miss, the write for
    store). ``similarity`` is set for semantic hits, ``tokens_saved`` for hits whose answer
    carries usage. ``error`` names the exception type of an ``error`` event (never its text,
    which could quote a value); ``reason`` says why a call was skipped or missed.
    """

    kind: EventKind
    key: str | None
    call_type: str
    backend: str
    latency: float = 0.0
    similarity: float | None = None
    tokens_saved: int = 0
    error: str | None = None
    reason: str | None = None
    #: what a hit saved (tokens, money, whose), ``None`` for other events
    saving: Saving | None = None
    #: on a ``store`` event: the seconds the upstream took to answer (to the end of a stream)
    upstream_latency: float | None = None


class EventBus:
    """Callbacks and counters for cache events.

    ``counters`` maps ``hit``, ``miss``, ``store``, ``skip``, ``error``, ``semantic_hit``,
    ``stale_hit``, ``coalesced_hit`` (hits served by an identical call in flight),
    ``circuit_open`` (calls that skipped the cache because its backend's circuit breaker was
    open), ``not_stored`` (answers passed through but not kept: cut short, failed or
    erroring), ``store_failed`` (answers that could not be made into an entry) and
    ``tokens_saved`` to running totals. ``prices`` (see the module) price what hits save.
    Every event also becomes an OpenTelemetry span (see :mod:`aiocache_llm.llm.tracing`)
    when a tracer provider is given or set globally, unless ``tracing`` is false.
    """

    def __init__(
        self, prices: Prices | None = None, *, tracer_provider: Any = None, tracing: bool = True
    ) -> None:
        self.counters: dict[str, int] = dict.fromkeys(
            (
                *KINDS,
                "semantic_hit",
                "stale_hit",
                "coalesced_hit",
                "circuit_open",
                "not_stored",
                "store_failed",
                "tokens_saved",
            ),
            0,
        )
        self.prices = check_prices(prices)
        #: model -> its price, as found in ``_priced_from`` (each model looked up once)
        self._priced: dict[str, tuple[float, float]] = {}
        self._priced_from: Mapping[str, Any] | None = None
        #: (namespace, identity) -> running totals of what hits saved
        self.savings: dict[tuple[str | None, str | None], dict[str, float]] = {}
        #: (namespace, identity, model, stored model) -> [hits, prompt, completion] not priced yet
        self._unpriced: dict[tuple[Any, ...], list[int]] = {}
        self._sync: list[Callable[[CacheEvent], Any]] = []
        self._async: list[Callable[[CacheEvent], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: True when any callback is registered (the hot path builds no event otherwise).
        self.listening = False
        #: Where spans go (the hot path builds no event when no SDK is configured either).
        self.tracing = Tracing(tracer_provider, tracing)

    def add_callback(self, callback: EventCallback) -> None:
        """Call ``callback(event)`` for every event; coroutine functions are scheduled."""
        if inspect.iscoroutinefunction(callback):
            self._async.append(callback)
        else:
            self._sync.append(callback)
        self.listening = True

    def remove_callback(self, callback: EventCallback) -> None:
        """Stop calling ``callback``; an unknown callback is ignored."""
        for registry in (self._sync, self._async):
            if callback in registry:
                registry.remove(callback)  # type: ignore[arg-type]
        self.listening = bool(self._sync or self._async)

    def reset_counters(self) -> None:
        for name in self.counters:
            self.counters[name] = 0
        self.savings.clear()
        self._unpriced.clear()

    # -- savings ----------------------------------------------------------------------------
    def price(self, model: str | None) -> tuple[float, float] | None:
        """``(input, output)`` cost per token of ``model`` (also tried without its provider
        prefix, ``openai/gpt-4o`` -> ``gpt-4o``), or ``None`` when it is not priced."""
        if not model:
            return None
        table: Mapping[str, Any] = (
            self.prices
            if self.prices is not None  # else litellm's cost map, when the process uses litellm
            else getattr(sys.modules.get("litellm"), "model_cost", None) or _NO_PRICES
        )
        if table is not self._priced_from:  # what is remembered is of another table
            self._priced_from, self._priced = table, {}
        known = self._priced.get(model)
        if known is None:  # unpriced models are asked again: a price may be added later
            known = self._look_up(table, model)
            if known is not None:
                self._priced[model] = known
        return known

    @staticmethod
    def _look_up(table: Mapping[str, Any], model: str) -> tuple[float, float] | None:
        row = table.get(model)
        if not isinstance(row, Mapping):
            _, slash, bare = model.partition("/")
            row = table.get(bare) if slash and bare else None
            if not isinstance(row, Mapping):
                return None
        return (
            float(row.get("input_cost_per_token") or 0.0),
            float(row.get("output_cost_per_token") or 0.0),
        )

    def save(self, answer: Any, model: str | None, scope: Mapping[str, str]) -> Saving | None:
        """Count what a hit serving the stored ``answer`` (a response or final chunk, as
        stored) saved, for ``scope``'s namespace and identity; ``None`` if it has no usage.

        While nobody listens (no event carries the :class:`Saving`), the hit's tokens are
        tallied per model and priced when :meth:`savings_report` is asked for, once per model:
        a hit then looks up no price (unless it is traced: its span shows the cost)."""
        if answer.__class__ is not dict and not isinstance(answer, Mapping):
            return None
        usage = answer.get("usage")
        if usage.__class__ is not dict and not isinstance(usage, Mapping):
            return None
        prompt, completion = _tokens(usage, _PROMPT_NAMES), _tokens(usage, _COMPLETION_NAMES)
        stored_model = answer.get("model")
        if stored_model.__class__ is not str and not isinstance(stored_model, str):
            stored_model = None
        model = model if model.__class__ is str or isinstance(model, str) else None
        if not self.listening:
            group = (scope.get("namespace"), scope.get("identity"), model, stored_model)
            tally = self._unpriced.get(group)
            if tally is None:
                tally = self._unpriced[group] = [0, 0, 0]
            tally[0] += 1
            tally[1] += prompt
            tally[2] += completion
            if self.tracing.tracer() is None:
                return None
            # traced: the span shows the cost (the totals are priced later, as above)
            cost = self._cost(model, stored_model, prompt, completion)
            if cost is None:
                return None
            return Saving(
                scope.get("namespace"), scope.get("identity"), model, prompt, completion, cost
            )
        cost = self._cost(model, stored_model, prompt, completion)
        saving = Saving(
            scope.get("namespace"), scope.get("identity"), model, prompt, completion, cost
        )
        self._add((saving.namespace, saving.identity), 1, prompt, completion, cost)
        return saving

    def _cost(
        self, model: str | None, stored_model: str | None, prompt: int, completion: int
    ) -> float | None:
        """What ``prompt`` and ``completion`` tokens of ``model`` cost (the stored answer's
        model when the call's is not priced), or ``None``."""
        price = self.price(model)
        if price is None and stored_model is not None and stored_model != model:
            price = self.price(stored_model)
        return None if price is None else prompt * price[0] + completion * price[1]

    def _add(
        self,
        scope: tuple[str | None, str | None],
        hits: int,
        prompt: int,
        completion: int,
        cost: float | None,
    ) -> None:
        totals = self.savings.get(scope)
        if totals is None:
            totals = self.savings[scope] = {
                "hits": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "cost": 0.0,
            }
        totals["hits"] += hits
        totals["prompt_tokens"] += prompt
        totals["completion_tokens"] += completion
        totals["cost"] += cost or 0.0

    def savings_report(self) -> list[dict[str, Any]]:
        """What hits saved, one row per namespace and identity."""
        unpriced, self._unpriced = self._unpriced, {}
        for (namespace, identity, model, stored_model), (
            hits,
            prompt,
            completion,
        ) in unpriced.items():
            cost = self._cost(model, stored_model, prompt, completion)
            self._add((namespace, identity), hits, prompt, completion, cost)
        return [
            {"namespace": namespace, "identity": identity, **totals}
            for (namespace, identity), totals in self.savings.items()
        ]

    def count(self, kind: EventKind, tokens_saved: int = 0, semantic: bool = False) -> None:
        """Count an event without building it (the path when nobody listens)."""
        counters = self.counters
        counters[kind] += 1
        if tokens_saved:
            counters["tokens_saved"] += tokens_saved
        if semantic:
            counters["semantic_hit"] += 1

    def emit(self, event: CacheEvent, start: float | None = None) -> None:
        """Count ``event``, trace it (``start``: when its step began, a :func:`now` time) and
        deliver it to every callback."""
        self.count(event.kind, event.tokens_saved, event.similarity is not None)
        tracer = self.tracing.tracer()
        if tracer is not None:
            try:
                self.tracing.record(tracer, event, start)
            except Exception:
                logger.exception("tracing a cache event failed; ignored")
        for callback in self._sync:
            try:
                callback(event)
            except Exception:
                logger.exception("a cache event callback raised; ignored")
        if self._async:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                logger.warning("async cache event callbacks need a running event loop; skipped")
                return
            for callback in self._async:
                task = loop.create_task(self._run(callback, event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(callback: Callable[[CacheEvent], Awaitable[None]], event: CacheEvent) -> None:
        try:
            await callback(event)
        except Exception:
            logger.exception("a cache event callback raised; ignored")

    async def drain(self) -> None:
        """Wait until every scheduled async callback has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))


def now() -> float:
    """The clock events measure latency with."""
    return time.perf_counter()
