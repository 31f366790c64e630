"""Who is calling, and what they may do.

``general_settings.master_key`` is the admin key: every route, every model. Callers use the API
keys of the config's ``keys`` section (LiteLLM's virtual-key fields: ``key``, ``key_alias``,
``team_id``, ``user_id``, ``models``, ``rpm_limit``, ``tpm_limit``), each value may come from
the environment (``os.environ/NAME``). A caller's cache scope is its team (else its user, else
its key): answers are never shared across scopes, and the scope is an HMAC of that name under a
secret of the proxy, so no caller can compute another scope's cache keys.

A keyless proxy (``general_settings.allow_unauthenticated: true``, loopback only) treats every
caller alike except that each caller's own upstream key, when it sends one, is its scope.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from ..storage.base import BaseCache
from ..storage.memory import InMemoryCache

__all__ = [
    "ApiKey",
    "Caller",
    "KeyRing",
    "api_key",
    "bearer_token",
    "current_identity",
    "request_identity",
]

logger = logging.getLogger("aiocache_llm.proxy")

#: Cache types whose counters every process of the proxy shares (Redis, or Redis behind memory).
SHARED_COUNTER_TYPES: Final = frozenset(
    {"redis", "redis-cluster", "dual", "redis-semantic", "dual-semantic"}
)
#: The prefix of the rate-limit counters in a shared store.
_PREFIX: Final = "aiocache-llm-proxy:limits:"


#: The cache identity of the request being served (read by the cache through ``Cache(identity=)``).
request_identity: Final[ContextVar[str | None]] = ContextVar("request_identity", default=None)
_SCOPE_LABEL: Final = b"aiocache-llm-proxy-scope:"
_FALLBACK_SECRET: Final = b"aiocache-llm-proxy-keyless"


@dataclass(frozen=True)
class ApiKey:
    """One caller's API key from the config, with what it may do."""

    key: str = field(repr=False)
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    #: model names this key may call (``None``: every configured model)
    models: frozenset[str] | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None

    @property
    def scope_name(self) -> str:
        """Whose entries this key reads and writes: its team, else its user, else itself."""
        if self.team_id is not None:
            return "team:" + self.team_id
        if self.user_id is not None:
            return "user:" + self.user_id
        return "key:" + (self.key_alias or hashlib.sha256(self.key.encode()).hexdigest())

    @functools.cached_property
    def counter(self) -> str:
        """The name of this key's rate-limit counters (a digest, never the key)."""
        return hashlib.sha256(b"counter:" + self.key.encode()).hexdigest()[:24]

    @property
    def label(self) -> str:
        """A name safe to show in logs and metrics (never the key)."""
        return self.key_alias or self.team_id or self.user_id or "key"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated request's caller."""

    admin: bool
    #: the cache identity (an HMAC of the scope name; ``None`` for a keyless anonymous caller)
    scope: str | None
    key: ApiKey | None = None
    #: the caller's own key, forwarded upstream only by a keyless proxy
    own_upstream_key: str | None = None

    def may_call(self, model: str) -> bool:
        allowed = self.key.models if self.key is not None else None
        return allowed is None or model in allowed


class KeyRing:
    """The master key and the API keys, checked in constant time per key."""

    def __init__(
        self,
        master_key: str | None,
        keys: tuple[ApiKey, ...],
        *,
        unauthenticated: bool,
        shared: bool,
    ) -> None:
        self.master_key = master_key
        self._master = None if master_key is None else master_key.encode()
        self.unauthenticated = unauthenticated
        self._shared = shared
        secret = (master_key or "").encode() or _FALLBACK_SECRET
        self._secret = hashlib.sha256(_SCOPE_LABEL + secret).digest()
        admin_scope = None if shared else self.scope_of("admin")
        self._admin = Caller(True, admin_scope) if master_key is not None else None
        self._keys: dict[bytes, Caller] = {
            _digest(k.key): Caller(False, None if shared else self.scope_of(k.scope_name), k)
            for k in keys
        }
        self._local = InMemoryCache(max_size_in_memory=100_000)
        self._store: BaseCache | None = None

    def share_counters(self, counters: BaseCache) -> None:
        """Count rate limits in ``counters`` (a store every process of the proxy shares), so
        that a limit holds across workers and hosts; the process's own counters take over while
        that store fails."""
        self._store = counters

    async def _count(self, name: str, value: float) -> float:
        """Add ``value`` to the counter ``name`` (kept two minutes); its new total."""
        if self._store is not None:
            try:
                return float(await self._store.async_increment(_PREFIX + name, value, ttl=120))
            except Exception as exc:  # the store failed: count here, never refuse for that
                _store_failed(exc)
        return await self._local.async_increment(name, value, ttl=120)

    async def _read(self, name: str) -> float:
        """The counter ``name``'s total (0 when it has none); what was counted here while the
        shared store failed counts too."""
        local = _number(await self._local.async_get_cache(name))
        if self._store is None:
            return local
        try:
            shared = _number(await self._store.async_get_cache(_PREFIX + name))
        except Exception as exc:
            _store_failed(exc)
            return local
        return max(shared, local)

    def scope_of(self, name: str) -> str:
        return hmac.new(self._secret, name.encode(), hashlib.sha256).hexdigest()[:32]

    def caller(self, token: str | None) -> Caller | None:
        """The caller of ``token``, or ``None`` when it is refused."""
        if token is not None:
            if self._master is not None and hmac.compare_digest(token.encode(), self._master):
                return self._admin
            found = self._keys.get(_digest(token))
            if found is not None:
                return found
        if not self.unauthenticated:
            return None
        if token is None or self._shared:
            return Caller(False, None)
        return Caller(False, self.scope_of("caller:" + token), own_upstream_key=token)

    async def over_limit(self, caller: Caller) -> str | None:
        """Count one request of ``caller``; the exceeded limit's name, if any."""
        key = caller.key
        if key is None or (key.rpm_limit is None and key.tpm_limit is None):
            return None
        window = int(time.time() // 60)
        if key.tpm_limit is not None:
            used = await self._read(f"tpm:{key.counter}:{window}")
            if used >= key.tpm_limit:
                return "tpm_limit"
        if key.rpm_limit is not None:
            count = await self._count(f"rpm:{key.counter}:{window}", 1)
            if count > key.rpm_limit:
                return "rpm_limit"
        return None

    async def spend_tokens(self, caller: Caller, answer: Any) -> None:
        """Add the answer's tokens to the caller's tokens-per-minute count."""
        key = caller.key
        if key is None or key.tpm_limit is None or not isinstance(answer, Mapping):
            return
        usage = answer.get("usage")
        total = usage.get("total_tokens") if isinstance(usage, Mapping) else None
        if isinstance(total, int) and not isinstance(total, bool) and total > 0:
            window = int(time.time() // 60)
            await self._count(f"tpm:{key.counter}:{window}", total)

    async def aclose(self) -> None:
        await self._local.async_disconnect()


def _store_failed(exc: Exception) -> None:
    logger.warning("rate-limit counters: the shared store failed (%s)", type(exc).__name__)


def _number(value: Any) -> float:
    """A stored counter's value (a store may give it back as text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, bytes)):
        return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


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


def current_identity(kwargs: Mapping[str, Any]) -> str | None:
    """``Cache(identity=...)`` callback: the identity of the request being served."""
    return request_identity.get()
