"""One chain of middlewares in front of a backend, composed once.

A middleware is ``async def __call__(self, op: Operation, call_next: CallNext) -> Any``: it
may look at or change ``op`` (the contract method and its arguments), hand it on with
``await call_next(op)``, and look at or change the answer. :func:`compose` links a backend and
its middlewares into a :class:`ComposedCache`; the first middleware is the outermost, and the
last one hands the operation to the backend. The chain is built once, when the cache is, and
costs one frame per middleware on each call.

Every contract method runs through the chain, and so do a backend's extra ``async_`` methods
(``async_publish``, ``async_semantic_lookup``, ...); anything else passes straight through to
the backend. Every layer counts into one stats sink, the backend's ``stats``, which the
composed cache shares: what a middleware counts (failures, corrupt reads) shows wherever the
counters are read (``test_connection``, the proxy's ``/cache/stats``, metrics).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from ..core.codec import Entry
from ..errors import BackendError
from ..storage.base import USE_DEFAULT, BaseCache, IncrementOp, TTLArg, check_ttl

__all__ = ["CallNext", "ComposedCache", "Middleware", "Operation", "compose"]

#: What a middleware calls to hand an operation on (to the next middleware, or the backend).
CallNext = Callable[["Operation"], Awaitable[Any]]

#: How each contract method is named in logs and errors; an extra method is named without
#: its ``async_`` prefix.
LABELS: Final = {
    "async_get_cache": "get",
    "async_get_entry": "get",
    "async_batch_get_cache": "batch get",
    "async_batch_get_entries": "batch get",
    "async_set_cache": "set",
    "async_set_cache_pipeline": "set",
    "async_increment": "increment",
    "async_increment_pipeline": "increment",
    "async_delete_cache": "delete",
    "async_flush_cache": "flush",
    "async_get_ttl": "ttl",
    "async_ping": "ping",
    "async_test_connection": "test connection",
    "async_disconnect": "disconnect",
}


class Operation:
    """One call of a backend method on its way through the chain.

    ``method`` is the backend method's name (``"async_get_cache"``); contract methods carry
    their arguments positionally in the contract's order (``async_set_cache``:
    ``(key, value, ttl)``), so a middleware finds them without binding a signature. A
    middleware may replace ``args`` (encryption seals the value of a set). ``backend`` is the
    cache at the end of the chain: its ``stats`` are the stack's one stats sink.
    """

    __slots__ = ("args", "backend", "kwargs", "method")

    def __init__(
        self,
        method: str,
        args: tuple[Any, ...],
        backend: BaseCache,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.args = args
        self.backend = backend
        self.kwargs = kwargs

    @property
    def label(self) -> str:
        """The operation's name for logs and errors (``"get"``, ``"batch get"``, ...)."""
        return LABELS.get(self.method) or self.method.removeprefix("async_")

    def __repr__(self) -> str:
        return f"Operation({self.method!r}, {len(self.args)} args)"  # never keys or values


class Middleware:
    """Base of a middleware: a callable of the one signature, and what it adds to reports.

    A middleware whose ``active`` is false when the chain is composed is left out of it (it
    still describes itself in reports).
    """

    active: bool = True

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        return await call_next(op)

    def describe(self) -> dict[str, Any]:
        """What this middleware adds to ``test_connection()``'s report (secret-free)."""
        return {}


def _backend_call(op: Operation) -> Awaitable[Any]:
    """The end of every chain: the backend's own method (looked up per call, so a method
    replaced on the backend instance is the one called)."""
    method = getattr(op.backend, op.method)
    if op.kwargs:
        return method(*op.args, **op.kwargs)  # type: ignore[no-any-return]
    return method(*op.args)  # type: ignore[no-any-return]


def _link(middlewares: Sequence[Middleware]) -> CallNext:
    """``middlewares`` (outermost first) linked once into one callable."""
    chain: CallNext = _backend_call
    for middleware in reversed(middlewares):
        if not getattr(middleware, "active", True):  # e.g. a deadline of None: no frame at all
            continue
        chain = functools.partial(middleware, call_next=chain)
    return chain


class ComposedCache(BaseCache):
    """A backend behind a chain of middlewares: the whole contract, through the chain.

    Composing a composed cache makes one chain: ``ComposedCache(ComposedCache(b, [m2]), [m1])``
    runs ``m1``, then ``m2``, then ``b``. ``inner`` is the cache this one was built around.
    """

    def __init__(self, inner: BaseCache, middlewares: Sequence[Middleware] = ()) -> None:
        backend, chain = inner, list(middlewares)
        if isinstance(inner, ComposedCache):
            backend, chain = inner.backend, [*chain, *inner.middlewares]
        self.__dict__["backend"] = backend
        super().__init__(default_ttl=backend.default_ttl)
        self.inner = inner
        self.middlewares: tuple[Middleware, ...] = tuple(chain)
        self.backend_name = backend.backend_name
        self.stats = backend.stats
        self._chain = _link(self.middlewares)

    @property
    def default_ttl(self) -> float | None:
        """The backend's default TTL: one setting, wherever it is changed."""
        return self.__dict__["backend"].default_ttl  # type: ignore[no-any-return]

    @default_ttl.setter
    def default_ttl(self, value: float | None) -> None:
        self.__dict__["backend"].default_ttl = check_ttl(value)

    def __getattr__(self, name: str) -> Any:
        """A backend's extras: its ``async_`` methods run through the chain; anything else is
        the attribute of the cache this one was built around."""
        backend = self.__dict__.get("backend")
        if backend is None:
            raise AttributeError(name)
        if name.startswith("async_"):
            attribute = getattr(backend, name)
            if asyncio.iscoroutinefunction(attribute):
                return functools.partial(self._extra, name)
            return attribute
        return getattr(self.__dict__.get("inner", backend), name)

    async def _extra(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._chain(Operation(method, args, self.backend, kwargs))

    # -- the contract, each method through the chain ---------------------------------------
    async def async_get_cache(self, key: str) -> Any:
        return await self._chain(Operation("async_get_cache", (key,), self.backend))

    async def async_get_entry(self, key: str) -> Entry | None:
        op = Operation("async_get_entry", (key,), self.backend)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        op = Operation("async_batch_get_cache", (keys,), self.backend)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        op = Operation("async_batch_get_entries", (keys,), self.backend)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self._chain(Operation("async_set_cache", (key, value, ttl), self.backend))

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        await self._chain(Operation("async_set_cache_pipeline", (cache_list, ttl), self.backend))

    async def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        kwargs = {"refresh_ttl": True} if refresh_ttl else None
        op = Operation("async_increment", (key, value, ttl), self.backend, kwargs)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_increment_pipeline(self, increment_list: Iterable[IncrementOp]) -> list[float]:
        op = Operation("async_increment_pipeline", (increment_list,), self.backend)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_delete_cache(self, key: str) -> None:
        await self._chain(Operation("async_delete_cache", (key,), self.backend))

    async def async_flush_cache(self) -> None:
        await self._chain(Operation("async_flush_cache", (), self.backend))

    async def async_get_ttl(self, key: str) -> float | None:
        op = Operation("async_get_ttl", (key,), self.backend)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_ping(self) -> bool:
        op = Operation("async_ping", (), self.backend)
        return await self._chain(op)  # type: ignore[no-any-return]

    async def async_test_connection(self) -> dict[str, Any]:
        """The backend's report through the chain (a failure reads as ``unhealthy``, by type
        only: a message may quote a URL), with what each middleware adds."""
        try:
            report = dict(await self._chain(Operation("async_test_connection", (), self.backend)))
        except (TimeoutError, BackendError) as exc:
            report = {
                "status": "unhealthy",
                "backend": self.backend_name,
                "error": type(exc).__name__,
            }
        for middleware in self.middlewares:
            describe = getattr(middleware, "describe", None)
            if describe is not None:
                report.update(describe())
        return report

    async def async_disconnect(self) -> None:
        await self._chain(Operation("async_disconnect", (), self.backend))

    def __repr__(self) -> str:
        names = ", ".join(type(m).__name__ for m in self.middlewares)
        return f"{type(self).__name__}({self.inner!r}, [{names}])"


def compose(backend: BaseCache, middlewares: Sequence[Middleware]) -> ComposedCache:
    """``backend`` behind ``middlewares``, the first one outermost.

    The order the library builds (and recommends) is
    ``[Breaker(...), Deadline(...), Encryption(...)]``: the breaker and failure policy see
    every failure, the deadline covers the encryption as well as the backend, and encryption
    sits next to the store, so every value is sealed before it leaves the process.
    """
    return ComposedCache(backend, middlewares)
