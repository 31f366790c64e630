"""Settings made safe to show: passwords, keys and tokens masked, URLs without their password."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

__all__ = ["SecretFilter", "mask_secrets", "secret_values"]

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
        if value is not None and _is_secret_name(str(name)):
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


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


def _mask_url(url: str) -> str:
    """``url`` without its password: in the user info (which may itself hold ``@``), and in
    query parameters named like secrets (``?password=...``)."""
    scheme, _, rest = url.partition("://")
    base, question, query = rest.partition("?")
    query, hash_mark, fragment = query.partition("#")
    authority, slash, path = base.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
        authority = f"{user}:***@{host}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _is_secret_name(k) else v) for k, v in pairs], safe="*")
    return f"{scheme}://{authority}{slash}{path}{question}{query}{hash_mark}{fragment}"


def secret_values(settings: Mapping[str, Any]) -> Iterator[Any]:
    """The values of ``settings`` (nested too) that :func:`mask_secrets` would hide."""
    for name, value in settings.items():
        if value is not None and _is_secret_name(str(name)) and not isinstance(value, Mapping):
            yield value
        elif isinstance(value, Mapping):
            yield from secret_values(value)
        elif isinstance(value, str) and "://" in value:
            masked = _mask_url(value)
            if masked != value:
                yield value


class SecretFilter(logging.Filter):
    """Replaces known secrets by ``***`` in every record a handler's logger passes on."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def redact_bytes(self, body: bytes) -> bytes:
        """``body`` (an upstream's answer, passed on) with every known secret as ``***``."""
        for secret in self._secrets:
            raw = secret.encode()
            if raw in body:
                body = body.replace(raw, b"***")
        return body

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            cleaned = self.redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True
