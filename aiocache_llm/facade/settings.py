"""The facade's own settings, checked once when a :class:`~aiocache_llm.facade.Cache` is made.

Each check takes what a user passed (LiteLLM's enums included) and returns the value the cache
keeps, or raises :class:`~aiocache_llm.errors.ConfigurationError` naming the setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from ..errors import ConfigurationError

__all__ = [
    "CALL_TYPES",
    "HANDLER_SETTINGS",
    "NAMESPACED_TYPES",
    "VIEW_SETTINGS",
    "call_types",
    "enum_value",
    "lease_seconds",
    "mode",
    "namespace",
    "seconds_or_none",
]

#: Every call type a cache can serve (LiteLLM's names).
CALL_TYPES: Final = (
    "completion",
    "acompletion",
    "text_completion",
    "atext_completion",
    "embedding",
    "aembedding",
    "transcription",
    "atranscription",
    "rerank",
    "arerank",
    "responses",
    "aresponses",
    "anthropic_messages",
    "aanthropic_messages",
    "search",
    "asearch",
)


def enum_value(obj: Any) -> Any:
    """The ``.value`` of an enum (LiteLLM's ``LiteLLMCacheType``, ``CacheMode``), else obj."""
    return getattr(obj, "value", obj)


def seconds_or_none(name: str, value: object) -> float | None:
    """``value`` as a positive number of seconds, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds or None")
    return float(value)


def mode(value: object) -> str:
    """``"default_on"`` or ``"default_off"``."""
    value = enum_value(value)
    if value not in ("default_on", "default_off"):
        raise ConfigurationError(f"mode must be 'default_on' or 'default_off', not {value!r}")
    return str(value)


def namespace(value: object) -> str | None:
    """A non-empty namespace, or ``None``."""
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError("namespace must be a non-empty str")
    return value


def call_types(value: Iterable[Any] | None) -> tuple[str, ...]:
    """The call types served: all of :data:`CALL_TYPES` for ``None``."""
    if value is None:
        return CALL_TYPES
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError("supported_call_types must be a list of call type names")
    chosen = tuple(str(enum_value(t)) for t in value)
    unknown = sorted(set(chosen) - set(CALL_TYPES))
    if unknown:
        raise ConfigurationError(f"unknown call types {unknown}; known: {list(CALL_TYPES)}")
    return chosen


def lease_seconds(name: str, value: object) -> Any:
    """``value`` (``lease_ttl`` / ``lease_wait``) unchanged when it is ``None`` or positive."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
    ):
        raise ConfigurationError(f"{name} must be a positive number of seconds")
    return value


#: Types whose store takes a namespace of its own (and flushes only that namespace).
NAMESPACED_TYPES: Final = frozenset({"redis", "dual"})

#: Settings the LiteLLM view is made from: changing one makes it anew.
VIEW_SETTINGS: Final = frozenset(
    {"mode", "namespace", "ttl", "supported_call_types", "backend", "key_format"}
)

HANDLER_SETTINGS: Final = frozenset(
    {
        "custom_get_cache_key",
        "custom_get_cache",
        "custom_add_cache",
        "namespace",
        "identity",
        "key_on_user",
        "mode",
        "supported_call_types",
        "backend",
        "lease_ttl",
        "lease_wait",
        "stale_if_error",
        "stale_while_revalidate",
        "prices",
    }
)
