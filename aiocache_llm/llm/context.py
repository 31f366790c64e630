"""The state one cached call carries, and how the upstream is called."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ..storage.base import BaseCache
from .controls import Controls
from .events import EventBus
from .keys import call_family
from .result_types import Shape

__all__ = [
    "CHAT_FAMILIES",
    "CacheSettings",
    "CallContext",
    "Upstream",
    "call_upstream",
    "maybe_await",
    "takes",
    "upstream_arguments",
]

Upstream = Callable[..., Any]
#: the call families a semantic backend serves, and whose streams are asked for usage
CHAT_FAMILIES: Final = frozenset({"chat", "text"})


class CacheSettings(Protocol):
    """What the handler reads from the cache it serves (the facade's ``Cache``), once."""

    backend: BaseCache
    events: EventBus
    supported_call_types: tuple[str, ...]
    mode: str
    namespace: str | None
    identity: Callable[[Mapping[str, Any]], str | None] | None
    key_on_user: bool
    custom_get_cache_key: Callable[..., str] | None
    custom_get_cache: Callable[..., Any] | None
    custom_add_cache: Callable[..., Any] | None
    lease_ttl: float | None
    lease_wait: float


@dataclass(slots=True)
class CallContext:
    """Everything one cached call carries from decision to report."""

    call_type: str
    upstream: Upstream
    kwargs: dict[str, Any]
    controls: Controls
    shape: Shape
    #: What the key is made of: ``kwargs``, plus the deployment of an SDK client.
    keyed: Mapping[str, Any]
    key: str = ""
    stream: bool = False
    #: The caller asked for a usage chunk (``stream_options.include_usage``).
    wants_usage: bool = False
    #: Seconds this call may still spend on the backend (``None``: no deadline).
    budget: float | None = None
    #: Seconds the upstream took to answer (to the end of a stream), once it has.
    upstream_latency: float | None = None


async def call_upstream(upstream: Upstream, kwargs: dict[str, Any]) -> Any:
    """``upstream(**kwargs)``, awaited when it returns an awaitable."""
    result = upstream(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def maybe_await(value: Any) -> Any:
    """``value``, awaited if it is awaitable (a hook may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


@functools.lru_cache(maxsize=512)
def takes(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name``."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: do not guess
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def upstream_arguments(ctx: CallContext) -> dict[str, Any]:
    """What the upstream is sent: a chat or text stream asks for its usage too (when the
    upstream takes ``stream_options``), so its entry serves plain calls with the same fields;
    the usage chunk reaches only callers who asked for it."""
    kwargs = ctx.kwargs
    if not ctx.stream or ctx.wants_usage or call_family(ctx.call_type) not in CHAT_FAMILIES:
        return kwargs
    if not takes(ctx.upstream, "stream_options"):
        return kwargs
    options = kwargs.get("stream_options")
    given = dict(options) if isinstance(options, Mapping) else {}
    return {**kwargs, "stream_options": {**given, "include_usage": True}}
