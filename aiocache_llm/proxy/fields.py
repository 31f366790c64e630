"""Checks of single config values, each naming the field in its error."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError

__all__ = ["read_section", "seconds", "string"]


def read_section(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The mapping under ``name`` (empty when absent)."""
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name}: must be a mapping")
    return dict(value)


def seconds(value: Any, where: str) -> float:
    """``value`` as a positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{where}: must be a number of seconds, not {value!r}")
    if value <= 0:
        raise ConfigurationError(f"{where}: must be positive, not {value!r}")
    return float(value)


def string(value: Any, where: str, *, required: bool = True) -> str | None:
    """``value`` as a non-empty string (``None`` allowed when not ``required``)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: must be a non-empty string")
    return value
