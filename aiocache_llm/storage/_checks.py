"""What input the backend contract accepts: keys, TTLs, numbers and increment operations.

Each check returns the value in the form backends use, or raises the typed error every backend
raises for that input (:mod:`aiocache_llm.errors`). :mod:`.base` re-exports them all.
"""

from __future__ import annotations

import datetime
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypeAlias

from ..errors import InvalidArgumentError, InvalidKeyError, InvalidTTLError


class _UseDefault(enum.Enum):
    USE_DEFAULT = "USE_DEFAULT"

    def __repr__(self) -> str:
        return "USE_DEFAULT"


#: Marks a ``ttl`` the caller left out: the cache's ``default_ttl`` applies. ``ttl=None`` is
#: different: that entry never expires.
USE_DEFAULT: Final = _UseDefault.USE_DEFAULT

TTLArg: TypeAlias = "float | Literal[_UseDefault.USE_DEFAULT] | None"
IncrementOp: TypeAlias = "tuple[str, float] | tuple[str, float, TTLArg] | Mapping[str, Any]"


#: The longest TTL any backend accepts (100 years): beyond it Redis's millisecond expiry
#: overflows, so every backend refuses it alike.
MAX_TTL: Final = 100 * 365.25 * 86400


def check_key(key: object) -> str:
    """Return ``key`` if it is a non-empty ``str`` that UTF-8 can encode (no lone surrogate);
    raise :class:`InvalidKeyError` otherwise."""
    if isinstance(key, str) and key:
        if not key.isascii():
            try:
                key.encode()
            except UnicodeEncodeError:
                raise InvalidKeyError(
                    "cache keys must be encodable as UTF-8 (this one has a lone surrogate)"
                ) from None
        return key if key.__class__ is str else str(key)
    raise InvalidKeyError(f"cache keys must be non-empty str, not {type(key).__name__!r}")


def check_ttl(ttl: object) -> float | None:
    """Return ``ttl`` as seconds (or ``None``); raise :class:`InvalidTTLError` if it is not one.

    A TTL is a positive number of seconds up to :data:`MAX_TTL`; ints of any size are compared
    exactly, so a huge one is refused rather than overflowing. A ``datetime.timedelta`` is its
    seconds.
    """
    if ttl is None:
        return None
    kind = ttl.__class__
    if (kind is float or kind is int) and 0 < ttl <= MAX_TTL:  # type: ignore[operator]
        return float(ttl)  # type: ignore[arg-type]
    if isinstance(ttl, datetime.timedelta):
        ttl = ttl.total_seconds()
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise InvalidTTLError(f"ttl must be a number of seconds or None, not {type(ttl).__name__}")
    if not 0 < ttl <= MAX_TTL:
        shown = ttl if isinstance(ttl, float) or abs(ttl) < 10**30 else "a huge int"
        raise InvalidTTLError(
            f"ttl must be a positive number of seconds up to {MAX_TTL:.0f}, not {shown}"
        )
    return float(ttl)


#: The range of an int a counter takes (Redis counts in signed 64-bit ints; every backend
#: refuses the same ints, rather than one adding exactly and another rounding).
MIN_INT: Final = -(2**63)
MAX_INT: Final = 2**63 - 1


def check_number(value: object, what: str = "increment") -> float:
    """Return ``value`` if it is a finite float or an int in the signed 64-bit range (not
    bool); raise :class:`InvalidArgumentError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"{what} must be a finite int or float, not {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{what} must be a finite int or float, not {value!r}")
    elif not MIN_INT <= value <= MAX_INT:
        raise InvalidArgumentError(f"{what} must be an int in the signed 64-bit range")
    return value


def normalize_increments(ops: Iterable[IncrementOp]) -> list[tuple[str, float, TTLArg]]:
    """Turn increment operations into ``(key, by, ttl)`` triples, validating each.

    An operation is ``(key, by)``, ``(key, by, ttl)``, or a mapping with LiteLLM's names
    ``{"key": ..., "increment_value": ..., "ttl": ...}`` (``ttl`` optional).
    """
    out: list[tuple[str, float, TTLArg]] = []
    for op in ops:
        ttl: TTLArg = USE_DEFAULT
        if isinstance(op, Mapping):
            key, by = op.get("key"), op.get("increment_value", op.get("value"))
            if "ttl" in op:
                ttl = op["ttl"]
        elif isinstance(op, Sequence) and len(op) in (2, 3):
            key, by = op[0], op[1]
            if len(op) == 3:
                ttl = op[2]
        else:
            raise InvalidArgumentError(f"an increment operation is (key, by[, ttl]), not {op!r}")
        out.append(check_increment(key, by, ttl))
    return out


def check_increment(key: object, by: object, ttl: object) -> tuple[str, float, TTLArg]:
    """One increment's ``(key, by, ttl)``, each checked (``ttl`` may be ``USE_DEFAULT``)."""
    return check_key(key), check_number(by), ttl if ttl is USE_DEFAULT else check_ttl(ttl)
