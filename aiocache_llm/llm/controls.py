"""Per-call cache controls: ``cache={...}`` and ``caching=True/False``.

``cache`` takes LiteLLM's names:

=============  ========  =====================================================================
key            type      meaning
=============  ========  =====================================================================
``no-cache``   bool      do not read from the cache (the fresh answer is still stored)
``no-store``   bool      do not store this answer
``ttl``        seconds   how long this answer lives (overrides the cache's default); ``0``:
                         do not store it (as with LiteLLM)
``s-maxage``   seconds   accept a cached answer only if it is at most this old
``namespace``  str       look up and store under this namespace instead of the cache's
``use-cache``  bool      opt this call in (needed with ``mode="default_off"``) or out
``stale-if-    seconds   if the upstream fails, serve an entry expired at most this long ago
error``                  (flagged stale); ``0`` turns the cache's setting off for this call
``stale-       seconds   serve an entry expired at most this long ago at once (flagged stale)
while-                   and refresh it in the background, one caller per key; ``0``: off
revalidate``
=============  ========  =====================================================================

Seconds may be given as numbers or ``datetime.timedelta``. ``caching=True`` /
``caching=False`` is a shorthand for ``use-cache``. Anything else raises
:class:`~aiocache_llm.errors.InvalidControlError` before any upstream call.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..errors import InvalidControlError
from ..storage._checks import MAX_TTL

__all__ = ["DEFAULT_CONTROLS", "CONTROL_KEYS", "Controls", "parse_controls"]

CONTROL_KEYS: Final = frozenset(
    {
        "no-cache",
        "no-store",
        "ttl",
        "s-maxage",
        "namespace",
        "use-cache",
        "stale-if-error",
        "stale-while-revalidate",
    }
)


@dataclass(frozen=True, slots=True)
class Controls:
    """The parsed controls of one call."""

    no_cache: bool = False
    no_store: bool = False
    ttl: float | None = None
    max_age: float | None = None
    namespace: str | None = None
    use_cache: bool | None = None
    #: ``None``: the cache's setting applies.
    stale_if_error: float | None = None
    stale_while_revalidate: float | None = None


#: The controls of a call that passes none (shared; parsing is skipped).
DEFAULT_CONTROLS: Final = Controls()


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidControlError(f"cache control {name!r} must be a bool, not {value!r}")
    return value


def _seconds(name: str, value: object, *, zero_ok: bool) -> float:
    """A control's seconds: a finite number from 0 (when ``zero_ok``) up to :data:`MAX_TTL`
    (ints of any size compared exactly, so a huge one is refused, never overflows)."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidControlError(f"cache control {name!r} must be a number of seconds")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidControlError(f"cache control {name!r} must be a number of seconds")
    if value < 0 or (value == 0 and not zero_ok):
        shown = value if isinstance(value, float) or value > -(10**30) else "a huge int"
        raise InvalidControlError(f"cache control {name!r} must be positive, not {shown!r}")
    if value > MAX_TTL:
        raise InvalidControlError(
            f"cache control {name!r} must be at most {MAX_TTL:.0f} seconds (100 years)"
        )
    return float(value)


def parse_controls(cache: object = None, caching: object = None) -> Controls:
    """Validate the ``cache`` and ``caching`` arguments of one call into :class:`Controls`."""
    if caching is not None and not isinstance(caching, bool):
        raise InvalidControlError(f"caching must be True or False, not {caching!r}")
    if cache is None:
        return DEFAULT_CONTROLS if caching is None else Controls(use_cache=caching)
    if not isinstance(cache, Mapping):
        raise InvalidControlError(f"cache must be a dict of controls, not {type(cache).__name__}")
    unknown = set(cache) - CONTROL_KEYS
    if unknown:
        raise InvalidControlError(
            f"unknown cache control(s) {sorted(map(str, unknown))}; known: {sorted(CONTROL_KEYS)}"
        )
    values: dict[str, Any] = {"use_cache": caching}
    keep = True
    for name, value in cache.items():
        if value is None:
            continue
        if name == "no-cache":
            values["no_cache"] = _flag(name, value)
        elif name == "no-store":
            values["no_store"] = _flag(name, value)
        elif name == "use-cache":
            use = _flag(name, value)
            if caching is not None and caching != use:
                raise InvalidControlError("caching and cache['use-cache'] disagree")
            values["use_cache"] = use
        elif name == "ttl":
            ttl = _seconds(name, value, zero_ok=True)
            if ttl == 0:  # LiteLLM's "do not keep this answer"
                keep = False
            else:
                values["ttl"] = ttl
        elif name == "s-maxage":
            values["max_age"] = _seconds(name, value, zero_ok=True)
        elif name == "stale-if-error":
            values["stale_if_error"] = _seconds(name, value, zero_ok=True)
        elif name == "stale-while-revalidate":
            values["stale_while_revalidate"] = _seconds(name, value, zero_ok=True)
        elif name == "namespace":
            if not isinstance(value, str) or not value:
                raise InvalidControlError("cache control 'namespace' must be a non-empty str")
            try:
                value.encode()
            except UnicodeEncodeError:  # a lone surrogate: no backend could store its keys
                raise InvalidControlError(
                    "cache control 'namespace' must be text UTF-8 can encode"
                ) from None
            values["namespace"] = value
    if not keep:
        values["no_store"] = True
    return Controls(**values)
