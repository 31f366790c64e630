"""The state one cached call carries, and how the upstream is called."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..backends.base import BaseCache
from ..controls import Controls
from ..events import EventBus
from .result_types import Shape

__all__ = ["CacheSettings", "CallContext", "Upstream", "call_upstream", "maybe_await", "takes"]

Upstream = Callable[..., Any]


class CacheSettings(Protocol):
    """What the handler reads from the cache it serves (the facade's ``Cache``), once."""

    backend: BaseCache
    events: EventBus
    supported_call_types: tuple[str, ...]
    mode: str
    namespace: str | None
    identity: Callable[[Mapping[str, Any]], str | None] | None
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
    key: str = ""
    stream: bool = False
    #: The caller asked for a usage chunk (``stream_options.include_usage``).
    wants_usage: bool = False
    #: Seconds this call may still spend on the backend (``None``: no deadline).
    budget: float | None = None


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
