"""The one place where async becomes blocking.

Backends write each contract method once, as ``async_<name>``; this module generates the
blocking ``<name>`` from it. There are three ways to write the async method, and the adapter
picks the cheapest correct blocking form for each:

* ``@inline`` on a plain ``def``: the body never waits (the in-memory backend). The async form
  is a coroutine wrapper; the blocking form *is* the function, so it costs what a dict costs.
* ``@threaded`` on a plain ``def``: the body does blocking local I/O (the disk backend). The async
  form runs it in a worker thread so the event loop never blocks; the blocking form calls it
  directly, without a thread hop.
* ``@read_through(first)`` on a plain ``def``: a faster level's lookup answers when it finds
  something (an L1 hit), else the body answers or returns a coroutine for the rest (an L2
  read); the blocking form answers in the caller's thread, with no thread hop, unless it has
  to wait, and then runs the coroutine as below.
* a real ``async def`` (network backends): the blocking form runs the coroutine on one
  long-lived, process-wide event-loop thread and waits for it. Clients and connection pools made
  there belong to that loop and are reused by every blocking call, from any thread, including
  threads whose own event loop is running (a sync helper called from async code, Jupyter).

Calling a blocking method on that loop thread itself would deadlock; it raises
``RuntimeError`` instead.

The same adapter serves functions and iterators: :func:`blocking_function` is the blocking form
of an async function, :class:`BlockingIterator` of an async iterator; :func:`in_worker` and
:func:`iterate_in_workers` go the other way, running blocking work (a sync SDK call, a model,
a sync stream) on the library's I/O workers (:mod:`aiocache_llm.core.workers`) without blocking
the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from types import CoroutineType as _CoroutineType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from .core.loop_thread import at_exit
from .core.loop_thread import loop_thread as _loop_thread
from .core.workers import in_worker, iterate_in_workers, offload

__all__ = [
    "BlockingIterator",
    "at_exit",
    "blocking",
    "blocking_function",
    "in_worker",
    "install_blocking_methods",
    "inline",
    "iterate_in_workers",
    "read_through",
    "run_sync",
    "threaded",
]

S = TypeVar("S")
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

_CORE = "__aiocache_llm_core__"


def _forwarding_coroutine(
    fn: Callable[..., Any], template: str, env: dict[str, Any], header: str = "async def"
) -> Any:
    """Compile ``async def <name>(<fn's parameters>)`` (or another ``header``, ``def``) whose
    body is ``template`` around a call.

    Forwarding with the exact parameter list instead of ``*args, **kwargs`` halves the cost of
    an awaited in-memory get.
    """
    sig = inspect.signature(fn)
    namespace: dict[str, Any] = {**env, "__fn": fn}
    params, call = [], []
    for i, p in enumerate(sig.parameters.values()):
        if p.default is not p.empty:
            namespace[f"__d{i}"] = p.default
            p = p.replace(default=_Name(f"__d{i}"))
        params.append(p.replace(annotation=p.empty))
        if p.kind is p.VAR_POSITIONAL:
            call.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            call.append(f"**{p.name}")
        elif p.kind is p.KEYWORD_ONLY:
            call.append(f"{p.name}={p.name}")
        else:
            call.append(p.name)
    signature = sig.replace(parameters=params, return_annotation=sig.empty)
    source = f"{header} {fn.__name__}{signature}:\n    " + template.format(call=", ".join(call))
    exec(compile(source, f"<aiocache_llm {fn.__qualname__}>", "exec"), namespace)
    method = functools.wraps(fn)(namespace[fn.__name__])
    setattr(method, _CORE, fn)
    return method


class _Name:
    """Renders as a bare name inside a compiled signature (for default values)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def inline(
    fn: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Make an async contract method from a body that never waits on anything."""
    return _forwarding_coroutine(fn, "return __fn({call})", {})  # type: ignore[no-any-return]


def threaded(
    fn: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Make an async contract method from a body that blocks on local I/O.

    The async form runs the body in the library's I/O worker threads, so the event loop never
    blocks; the blocking form calls it in the caller's thread.
    """
    return _forwarding_coroutine(  # type: ignore[no-any-return]
        fn, "return await __offload(__fn, {call})", {"__offload": offload}
    )


def read_through(
    first: str,
) -> Callable[
    [Callable[Concatenate[S, P], Any]], Callable[Concatenate[S, P], Coroutine[Any, Any, Any]]
]:
    """Make an async contract method that answers from ``self.<first>(key)`` when that is not
    ``None`` (a faster level's lookup, which never waits), and otherwise from the decorated
    body, which returns its answer, or a coroutine that computes it.

    The async form awaits the body's coroutine when there is one; the blocking form answers in
    the caller's thread, with no thread hop, unless it must wait, and then runs the coroutine
    on the loop thread. ``key`` is the method's first parameter after ``self``.
    """

    def decorate(
        fn: Callable[Concatenate[S, P], Any],
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, Any]]:
        owner, key = list(inspect.signature(fn).parameters)[:2]
        answer = (
            f"__r = {owner}.{first}({key})\n    if __r is not None:\n        return __r\n"
            "    __r = __fn({call})\n    return "
        )
        env = {"__coro": _CoroutineType, "__run": run_sync}
        method = _forwarding_coroutine(
            fn, answer + "(await __r) if __r.__class__ is __coro else __r", env
        )
        blocking_form = _forwarding_coroutine(
            fn, answer + "__run(__r) if __r.__class__ is __coro else __r", env, header="def"
        )
        setattr(method, _CORE, blocking_form)
        return method  # type: ignore[no-any-return]

    return decorate


class blocking(Generic[S, P, R]):  # noqa: N801 - used like a decorator
    """Declare the blocking twin of an async method: ``get_cache = blocking(async_get_cache)``.

    The declaration carries the type; :func:`install_blocking_methods` puts the concrete function
    on every subclass, resolved against that subclass's own ``async_`` method.
    """

    def __init__(self, async_method: Callable[Concatenate[S, P], Awaitable[R]]) -> None:
        self.async_name = async_method.__name__
        self.__doc__ = f"Blocking form of :meth:`{self.async_name}`."

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> blocking[S, P, R]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        fn = _blocking_function(type(obj), self.async_name)
        return fn.__get__(obj, owner)


def _blocking_function(cls: type, async_name: str) -> Callable[..., Any]:
    async_method = getattr(cls, async_name)
    core = getattr(async_method, _CORE, None)
    if core is not None:
        return core  # type: ignore[no-any-return]

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _loop_thread.run(getattr(self, async_name)(*args, **kwargs))

    method.__name__ = async_name.removeprefix("async_")
    method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
    method.__doc__ = f"Blocking form of :meth:`{async_name}`."
    return method


def install_blocking_methods(cls: type) -> None:
    """Give ``cls`` a concrete blocking method for each ``async_`` method it has.

    Names come from the :class:`blocking` declarations (``increment_cache`` for
    ``async_increment``); any other ``async_<name>`` gets ``<name>``. There is no other way to
    have one: a class that writes a blocking method by hand raises ``TypeError`` (write the
    body once, with :func:`inline`, :func:`threaded` or :func:`read_through` when it can answer
    without the loop thread).
    """
    declared: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for name, attr in vars(klass).items():
            if isinstance(attr, blocking):
                declared[attr.async_name] = name
    made: dict[str, Any] = {}  # sync name -> the async method it was made from, this pass
    for async_name in dir(cls):
        if not async_name.startswith("async_") or not callable(getattr(cls, async_name)):
            continue
        sync_name = declared.get(async_name, async_name.removeprefix("async_"))
        if made.get(sync_name) is getattr(cls, async_name):
            continue  # an alias (``async_increment_cache = async_increment``): one twin
        made[sync_name] = getattr(cls, async_name)
        own = cls.__dict__.get(sync_name)
        if own is not None and not isinstance(own, blocking):
            raise TypeError(
                f"{cls.__qualname__}.{sync_name} is written by hand: blocking methods are"
                f" generated from {async_name} (use @inline, @threaded or @read_through for a body"
                " that answers without the library's loop thread)"
            )
        setattr(cls, sync_name, _blocking_function(cls, async_name))


def run_sync(coro: Coroutine[Any, Any, R]) -> R:
    """Run ``coro`` to completion on the process-wide loop thread and return its result."""
    return _loop_thread.run(coro)


def loop_thread_loop() -> asyncio.AbstractEventLoop:
    """The event loop that serves blocking calls (started on first use)."""
    return _loop_thread.loop()


def blocking_function(
    fn: Callable[P, Coroutine[Any, Any, R]], result: Callable[[R], Any] | None = None
) -> Callable[P, Any]:
    """The blocking form of the async function ``fn``: runs it on the loop thread and waits.

    ``result`` turns what ``fn`` returns into its blocking form (an async stream into a
    :class:`BlockingIterator`, say); by default the value is returned as it is.
    """
    run = _loop_thread.run
    if result is None:

        @functools.wraps(fn)
        def blocking_form(*args: P.args, **kwargs: P.kwargs) -> Any:
            return run(fn(*args, **kwargs))

    else:
        convert = result

        @functools.wraps(fn)
        def blocking_form(*args: P.args, **kwargs: P.kwargs) -> Any:
            return convert(run(fn(*args, **kwargs)))

    return blocking_form


class BlockingIterator(Generic[T]):
    """The blocking form of an async iterator: each item is awaited on the loop thread.

    ``close()`` (or leaving a ``with`` block) awaits the source's ``aclose()`` when it has one.
    """

    def __init__(self, source: AsyncIterator[T]) -> None:
        self._source = source

    def __iter__(self) -> BlockingIterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return _loop_thread.run(_next(self._source))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        closer = getattr(self._source, "aclose", None)
        if closer is not None:
            _loop_thread.run(closer())

    def __enter__(self) -> BlockingIterator[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _next(source: AsyncIterator[T]) -> T:
    return await source.__anext__()
