"""Settings made safe to show: passwords, keys and tokens masked, URLs without their password."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["mask_secrets"]

_SECRET_WORDS: Final = (
    "password",
    "secret",
    "token",
    "api_key",
    "master_key",
    "credential",
    "access_key",
)
_SECRET_NAMES: Final = frozenset({"key", "connection_string", "gcp_service_account"})


def mask_secrets(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``settings`` safe to show: passwords, keys and tokens become ``"***"``."""
    out: dict[str, Any] = {}
    for name, value in settings.items():
        lowered = str(name).lower()
        if value is not None and (
            lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)
        ):
            out[name] = "***"
        elif isinstance(value, str) and "://" in value:
            out[name] = _mask_url(value)
        elif isinstance(value, Mapping):
            out[name] = mask_secrets(value)
        elif isinstance(value, list):
            out[name] = [mask_secrets(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[name] = value
    return out


def _mask_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, hostpart = rest.partition("@")
    user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
    return f"{scheme}://{user}:***@{hostpart}"
