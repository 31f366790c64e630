"""Who is calling: the master-key check and the cache identity derived from the caller's key.

The identity is a hash of the API key, never the key itself, so one key's cached answers are
never served to another key (unless the cache is configured as shared).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final

__all__ = [
    "api_key",
    "bearer_token",
    "current_identity",
    "identity_of",
    "is_authorized",
    "request_identity",
]

#: The identity of the request being served (read by the cache through ``Cache(identity=)``).
request_identity: Final[ContextVar[str | None]] = ContextVar("request_identity", default=None)
_IDENTITY_PREFIX: Final = b"aiocache-llm-proxy-identity:"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


#: Headers LiteLLM clients send the key in besides ``Authorization: Bearer`` (Anthropic's SDK:
#: ``x-api-key``; Azure OpenAI's: ``api-key``; LiteLLM's own: ``x-litellm-api-key``).
_KEY_HEADERS: Final = ("x-litellm-api-key", "x-api-key", "api-key")


def api_key(headers: Mapping[str, str]) -> str | None:
    """The caller's API key: ``Authorization: Bearer <key>``, else a key header."""
    token = bearer_token(headers.get("authorization"))
    if token is not None:
        return token
    for name in _KEY_HEADERS:
        value = headers.get(name)
        if value:
            value = value.strip()
            return bearer_token(value) or value or None
    return None


def is_authorized(token: str | None, master_key: str | None) -> bool:
    """Whether ``token`` may use the proxy (anyone may when no master key is set)."""
    if master_key is None:
        return True
    if token is None:
        return False
    return hmac.compare_digest(token.encode(), master_key.encode())


def identity_of(token: str | None) -> str | None:
    """A stable, irreversible identity for an API key (``None`` for none)."""
    if token is None:
        return None
    return hashlib.sha256(_IDENTITY_PREFIX + token.encode()).hexdigest()[:32]


def current_identity(kwargs: Mapping[str, Any]) -> str | None:
    """``Cache(identity=...)`` callback: the identity of the request being served."""
    return request_identity.get()
