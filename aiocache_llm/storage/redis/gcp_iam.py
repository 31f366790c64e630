"""A redis-py credential provider that authenticates with short-lived GCP IAM access tokens.

Memorystore for Redis (Cluster) with IAM authentication takes an OAuth2 access token of a
service account as the password. :class:`GCPIAMCredentialProvider` asks the IAM Credentials
API (``generateAccessToken``) for one, caches it, and fetches a new one ``refresh_margin``
seconds before it expires, or after :meth:`~GCPIAMCredentialProvider.invalidate` (the cache
calls it when the server refuses a token, then connects again). redis-py calls the provider
on every new connection, single node or cluster, sync or async.

The provider is also a redis-py *streaming* credential provider: on a Redis Cluster, redis-py
registers a re-authentication callback for the nodes of every cluster client, and the provider
fetches the next token ``refresh_margin`` seconds before the current one expires and hands it
to those callbacks, which send ``AUTH`` with it on every node's idle connections. Connections
that stay open for hours so never outlive their token.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from redis.auth.token import SimpleToken
from redis.credentials import StreamingCredentialProvider

from ..._sync import in_worker
from ...errors import BackendUnavailable, ConfigurationError, MissingDependencyError

__all__ = ["GCPIAMCredentialProvider", "google_default_token"]

logger = logging.getLogger("aiocache_llm.redis")

IAM_CREDENTIALS_ENDPOINT = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

#: Returns the caller's own access token, used to call the IAM Credentials API.
SourceToken = Callable[[], "str | Awaitable[str]"]


def google_default_token() -> str:
    """An access token of the application-default credentials (needs ``google-auth``)."""
    try:
        google_auth: Any = importlib.import_module("google.auth")
        transport: Any = importlib.import_module("google.auth.transport.requests")
    except ImportError as exc:
        raise MissingDependencyError("GCP IAM authentication", "gcp-iam") from exc
    credentials, _ = google_auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    credentials.refresh(transport.Request())
    return str(credentials.token)


def _httpx() -> Any:
    try:
        return importlib.import_module("httpx")
    except ImportError as exc:
        raise MissingDependencyError("GCP IAM authentication", "gcp-iam") from exc


class GCPIAMCredentialProvider(StreamingCredentialProvider):
    """Short-lived access tokens of ``service_account`` as Redis credentials.

    ``source_token`` gives the token that authorises the IAM Credentials call (default: the
    application-default credentials through google-auth). ``endpoint`` is the IAM Credentials
    API root. Tokens live ``lifetime`` seconds and are replaced ``refresh_margin`` seconds
    before they expire.
    """

    def __init__(
        self,
        service_account: str,
        *,
        endpoint: str = IAM_CREDENTIALS_ENDPOINT,
        source_token: SourceToken | None = None,
        lifetime: int = 3600,
        refresh_margin: float = 300.0,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        username: str = "default",
        timeout: float = 10.0,
    ) -> None:
        if not service_account or "@" not in service_account:
            raise ConfigurationError("gcp_service_account must be a service account e-mail")
        self.service_account = service_account
        self.endpoint = endpoint.rstrip("/")
        self.lifetime = lifetime
        self.refresh_margin = refresh_margin
        self.scopes = list(scopes)
        self.username = username
        self.timeout = timeout
        self._source_token: SourceToken = source_token or google_default_token
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        #: How many tokens were fetched (for tests and diagnostics).
        self.fetches = 0
        #: Re-authentication callbacks per event loop (weakly held: they die with their client).
        self._listeners: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        self._refreshers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    # -- streaming: re-authenticate open connections before their token expires ------------
    def is_streaming(self) -> bool:
        return True

    def on_next(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(token)`` with every token fetched before the current one expires
        (on the event loop that registered it)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a blocking client: it authenticates each new connection only
            return
        ref: Any = weakref.WeakMethod(callback) if inspect.ismethod(callback) else lambda: callback
        listeners = self._listeners.setdefault(loop, [])
        if all(other() != callback for other in listeners):
            listeners.append(ref)
        if loop not in self._refreshers or self._refreshers[loop].done():
            self._refreshers[loop] = loop.create_task(self._refresh_before_expiry(loop))

    def on_error(self, callback: Callable[[Exception], Any]) -> None:
        """Errors of a refresh are logged; the next connection fetches a token itself."""

    async def _refresh_before_expiry(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            if self._token is None:
                await self.get_credentials_async()
            await asyncio.sleep(max(1.0, self._expires_at - self.refresh_margin - time.time()))
            listeners = [ref() for ref in self._listeners.get(loop, [])]
            self._listeners[loop] = [ref for ref in self._listeners.get(loop, []) if ref()]
            if not any(listeners):
                self._refreshers.pop(loop, None)
                return
            try:
                username, value = await self.get_credentials_async()
                token = SimpleToken(
                    value, self._expires_at * 1000, time.time() * 1000, {"oid": username}
                )
                for callback in listeners:
                    if callback is not None:
                        result = callback(token)
                        if inspect.isawaitable(result):
                            await result
            except Exception as exc:  # the connections re-authenticate when they reconnect
                logger.warning("re-authenticating Redis connections failed: %r", exc)

    @property
    def url(self) -> str:
        account = self.service_account
        return f"{self.endpoint}/v1/projects/-/serviceAccounts/{account}:generateAccessToken"

    def invalidate(self) -> None:
        """Forget the cached token: the next connection fetches a new one."""
        with self._lock:
            self._token, self._expires_at = None, 0.0

    def _cached(self) -> str | None:
        if self._token is not None and time.time() < self._expires_at - self.refresh_margin:
            return self._token
        return None

    def _body(self) -> dict[str, Any]:
        return {"scope": self.scopes, "lifetime": f"{self.lifetime}s"}

    def _store(self, payload: Any) -> str:
        try:
            token = str(payload["accessToken"])
            expires = datetime.fromisoformat(str(payload["expireTime"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendUnavailable(f"unexpected IAM Credentials answer: {exc}") from exc
        with self._lock:
            self._token, self._expires_at = token, expires.timestamp()
            self.fetches += 1
        return token

    def get_credentials(self) -> tuple[str, str]:
        token = self._cached()
        if token is None:
            httpx = _httpx()
            source = self._source_token()
            if not isinstance(source, str):
                raise ConfigurationError("a blocking connection needs a blocking source_token")
            try:
                response = httpx.post(
                    self.url,
                    json=self._body(),
                    headers={"Authorization": f"Bearer {source}"},
                    timeout=self.timeout,
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise BackendUnavailable(f"cannot get a GCP IAM token: {exc}") from exc
            token = self._store(response.json())
        return self.username, token

    async def get_credentials_async(self) -> tuple[str, str]:
        token = self._cached()
        if token is None:
            httpx = _httpx()
            if self._source_token is google_default_token:  # blocking I/O: in the I/O workers
                source: str | Awaitable[str] = await in_worker(google_default_token)
            else:
                source = self._source_token()
            if not isinstance(source, str):
                source = await source
            try:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(
                        self.url, json=self._body(), headers={"Authorization": f"Bearer {source}"}
                    )
                    response.raise_for_status()
            except httpx.HTTPError as exc:
                raise BackendUnavailable(f"cannot get a GCP IAM token: {exc}") from exc
            token = self._store(response.json())
        return self.username, token

    def __repr__(self) -> str:
        return f"GCPIAMCredentialProvider(service_account={self.service_account!r})"
