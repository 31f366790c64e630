"""Functions with a cache in front: :func:`cached`, the one adapter onto the cached path.

:func:`cached` puts a cache in front of any ``acompletion``-style function (keyword arguments
``model``, ``messages``, ...): ``litellm.acompletion``, an SDK method, your own coroutine. The
wrapped coroutine function has a blocking twin, ``.blocking``; a blocking function
(``litellm.completion``) is wrapped into a blocking function. Blocking forms come from the
adapter in :mod:`aiocache_llm._sync`; a blocking upstream runs on its I/O workers.

Each call may pass ``cache={...}`` and ``caching=...`` (see :mod:`aiocache_llm.llm.controls`);
they are taken out before the upstream is called. SDK clients are wrapped by
:mod:`.clients` (``wrap_openai``, ``wrap_anthropic``), on top of this.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from .._sync import blocking_function, in_worker, iterate_in_workers
from ..llm.context import call_upstream
from ..llm.keys import deployment as _deployment
from ..llm.result_types import Shape
from ..llm.streaming import BlockingStream, CachedStream
from . import default as _default
from .settings import CALL_TYPES

if TYPE_CHECKING:
    from .cache import Cache

__all__ = ["cached"]

F = TypeVar("F", bound=Callable[..., Any])


def _is_async_call_type(call_type: str) -> bool:
    """Whether ``call_type`` is the async form of another (``aresponses`` of ``responses``)."""
    return call_type.startswith("a") and call_type[1:] in CALL_TYPES


def _infer_call_type(fn: Callable[..., Any], is_async: bool) -> str:
    name = getattr(fn, "__name__", "")
    if name in CALL_TYPES:
        return str(name)
    return "acompletion" if is_async else "completion"


def _binder(fn: Callable[..., Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """Turns positional arguments into keywords (only calls that pass any pay for it)."""
    signature: inspect.Signature | None = None

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        nonlocal signature
        if signature is None:
            signature = inspect.signature(fn)
        bound = signature.bind_partial(*args, **kwargs)
        out: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                raise TypeError("cached functions cannot take *args")
            else:
                out[name] = value
        return out

    return bind


def _blocking_upstream(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A blocking function as an async upstream (run on the I/O workers, streams included)."""

    @functools.wraps(fn)  # its signature says which arguments fn takes
    async def upstream(**kwargs: Any) -> Any:
        result = await in_worker(fn, **kwargs)
        if kwargs.get("stream") is True and isinstance(result, Iterator):
            return iterate_in_workers(result)
        return result

    return upstream


#: The attribute naming the deployment of a function that calls an SDK client on its behalf.
DEPLOYMENT_ATTR = "__aiocache_llm_deployment__"
_UNDECLARED: Any = object()


def deployment_of(fn: Callable[..., Any]) -> str | None:
    """The deployment ``fn`` calls, as a key spells it: an SDK client method's ``base_url``
    (``None``: the provider's default, or not a client method)."""
    declared = getattr(fn, DEPLOYMENT_ATTR, _UNDECLARED)
    if declared is not _UNDECLARED:
        return declared  # type: ignore[no-any-return]
    client = getattr(getattr(fn, "__self__", None), "_client", None)
    base = getattr(client, "base_url", None)
    return None if base is None else _deployment(base)


def _blocking_result(result: Any) -> Any:
    """What a blocking caller gets: a stream as a :class:`BlockingStream`, else the value."""
    if isinstance(result, CachedStream):
        return BlockingStream(result)
    if isinstance(result, AsyncIterable) and not isinstance(result, Iterable):
        return BlockingStream(CachedStream(cast(AsyncIterator[Any], result), {}))
    return result


@overload
def cached(
    fn: F,
    *,
    cache: Cache | None = None,
    call_type: str | None = None,
    blocking: bool | None = None,
) -> F: ...
@overload
def cached(
    fn: None = None,
    *,
    cache: Cache | None = None,
    call_type: str | None = None,
    blocking: bool | None = None,
) -> Callable[[F], F]: ...
def cached(
    fn: F | None = None,
    *,
    cache: Cache | None = None,
    call_type: str | None = None,
    blocking: bool | None = None,
) -> F | Callable[[F], F]:
    """``fn`` with ``cache`` (default: the process default at call time) in front of it.

    Use it as ``cached(fn)``, ``@cached`` or ``@cached(cache=..., call_type=...)``.

    ``call_type`` defaults to ``fn``'s name when it is one of LiteLLM's call types, else
    ``"acompletion"`` (``"completion"`` for a blocking ``fn``). ``blocking`` says whether ``fn``
    blocks (default: it does unless it is a coroutine function or its call type is the async
    form of another, such as ``"aresponses"``).
    """
    if fn is None:
        return functools.partial(cached, cache=cache, call_type=call_type, blocking=blocking)
    if blocking is None:
        # through decorators too: the SDKs' methods are async functions behind a sync wrapper
        inner = inspect.unwrap(fn)
        is_async = any(map(inspect.iscoroutinefunction, (fn, inner))) or any(
            map(inspect.isasyncgenfunction, (fn, inner))
        )
        if not is_async and call_type is not None:
            is_async = _is_async_call_type(call_type)
        blocking = not is_async
    kind = call_type or _infer_call_type(fn, not blocking)
    bind = _binder(fn)
    deployment = deployment_of(fn)
    shape = Shape.of(fn)  # fn's own result types, whichever call shape stored an entry

    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The cache to use (``None``: call ``fn`` as is) and the call's keyword arguments."""
        if args:
            kwargs = bind(args, kwargs)
        chosen = cache if cache is not None else _default.current
        if chosen is None:  # no cache: the cache controls are not fn's arguments
            kwargs.pop("cache", None)
            kwargs.pop("caching", None)
        return chosen, kwargs

    if blocking:
        upstream = _blocking_upstream(fn)

        async def through(chosen: Cache, kwargs: dict[str, Any]) -> Any:
            return await chosen.async_call(kind, upstream, kwargs, shape, deployment)

        run_through = blocking_function(through, result=_blocking_result)

        @functools.wraps(fn)
        def blocking_wrapper(*args: Any, **kwargs: Any) -> Any:
            chosen, kwargs = prepare(args, kwargs)
            if chosen is None:
                return fn(**kwargs)
            return run_through(chosen, kwargs)

        return blocking_wrapper

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        chosen, kwargs = prepare(args, kwargs)
        if chosen is None:
            return await call_upstream(fn, kwargs)
        return await chosen.async_call(kind, fn, kwargs, shape, deployment)

    wrapper.blocking = blocking_function(wrapper, result=_blocking_result)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
