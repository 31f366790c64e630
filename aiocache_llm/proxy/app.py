"""The proxy's ASGI app: OpenAI-compatible endpoints in front of the cache, and cache admin.

Every cached request takes the library's one path through the public
:class:`~aiocache_llm.facade.Cache` API (see :mod:`.serving`). Admin endpoints: ``/health``,
``/cache/ping``, ``/cache/delete``, ``/cache/flushall`` (admin only), ``/cache/stats``,
``/metrics``, and the status page ``/ui`` with its data ``/ui/data`` (see :mod:`.status`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..facade import Cache
from .auth import api_key, current_identity, is_authorized
from .config import ProxyConfig
from .forward import Forwarder
from .metrics import CONTENT_TYPE, ProxyMetrics
from .serving import ENDPOINTS, Endpoint, error, json_response, serve
from .status import StatusHistory, basic_password, status_data, status_page

__all__ = ["ProxyState", "cache_stats", "create_app", "ping_cache"]

logger = logging.getLogger("aiocache_llm.proxy")

_AUTH_HELP = (
    "Authentication failed: send a valid key as 'Authorization: Bearer <key>'"
    " (or in an 'x-api-key' / 'api-key' header)."
)


class ProxyState:
    """What a running proxy holds: its config, cache, upstream client and metrics."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.cache: Cache | None = config.cache.build(
            identity=None if config.cache.shared else current_identity
        )
        self.metrics = ProxyMetrics()
        if self.cache is not None:
            cache = self.cache
            cache.add_callback(self.metrics.on_event)
            self.metrics.watch_store(lambda: cache.stats_report()["backend"])
        supported = set(self.cache.supported_call_types) if self.cache is not None else set()
        self.call_types = {
            name: next((t for t in e.call_types if t in supported), e.call_types[0])
            for name, e in ENDPOINTS.items()
        }
        self.forwarder: Forwarder | None = None
        #: what the status page (/ui) shows over time
        self.status = StatusHistory()

    async def start(self) -> None:
        self.forwarder = Forwarder(self.config.request_timeout)
        self.status.start(self.cache)
        if self.cache is not None:  # say at once whether the cache works, and if not why
            health = await self.cache.async_health()
            if health["status"] == "healthy":
                logger.info("cache %s: healthy (%s)", self.cache.type, self.config.cache.reason)
            else:
                logger.warning(
                    "cache %s is unhealthy, requests go upstream uncached: %s",
                    self.cache.type,
                    health.get("error"),
                )

    async def stop(self) -> None:
        await self.status.stop()
        if self.forwarder is not None:
            await self.forwarder.aclose()
            self.forwarder = None
        if self.cache is not None:
            await self.cache.async_disconnect()


def create_app(config: ProxyConfig) -> Starlette:
    """The proxy app for ``config`` (the cache is built now; upstream clients at start-up)."""
    state = ProxyState(config)
    master_key = config.master_key

    def guarded(
        endpoint: Callable[[Request, str | None], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def check(request: Request) -> Response:
            token = api_key(request.headers)
            if not is_authorized(token, master_key):
                return error(401, _AUTH_HELP, "auth_error", "invalid_api_key")
            return await endpoint(request, token)

        return check

    def llm_endpoint(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request, token: str | None) -> Response:
            return await serve(state, endpoint, request, token)

        return guarded(answer)

    async def health(request: Request) -> Response:
        return json_response({"status": "healthy"})

    async def models(request: Request, token: str | None) -> Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "aiocache-llm"}
            for name in config.deployments
            if name != "*"
        ]
        return json_response({"object": "list", "data": data})

    async def ping(request: Request, token: str | None) -> Response:
        report = await ping_cache(state.cache, config)
        return json_response(report, 200 if report["status"] == "healthy" else 503)

    async def delete(request: Request, token: str | None) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "the body must be JSON", "invalid_request_error")
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            return error(400, "'keys' must be a list of cache keys", "invalid_request_error")
        if state.cache is None:
            return error(400, "caching is off", "invalid_request_error")
        try:
            deleted = await state.cache.async_delete_keys(keys)
        except Exception as exc:
            return error(503, f"the cache failed: {type(exc).__name__}", "cache_error")
        missing = [k for k in keys if k not in deleted]
        return json_response({"status": "success", "deleted": deleted, "not_found": missing})

    async def flush(request: Request, token: str | None) -> Response:
        if master_key is None and not config.allow_flush_without_master_key:
            return error(
                403,
                "flushing empties every caller's entries: set general_settings.master_key"
                " (or general_settings.allow_flush_without_master_key: true)",
                "auth_error",
                "admin_only",
            )
        if state.cache is None:
            return error(400, "caching is off", "invalid_request_error")
        try:
            await state.cache.async_flush()
        except Exception as exc:
            return error(503, f"the cache failed: {type(exc).__name__}", "cache_error")
        return json_response({"status": "success"})

    async def stats(request: Request, token: str | None) -> Response:
        return json_response(cache_stats(state.cache))

    async def metrics(request: Request, token: str | None) -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    def admin_page(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """Admin only when there is a master key: as a bearer token, or as the password of
        HTTP basic auth (which a browser asks for)."""

        async def check(request: Request) -> Response:
            token = api_key(request.headers) or basic_password(request.headers)
            if not is_authorized(token, master_key):
                return Response(
                    b"the status page needs the master key",
                    401,
                    {"www-authenticate": 'Basic realm="aiocache-llm", charset="UTF-8"'},
                    media_type="text/plain",
                )
            return await endpoint(request)

        return check

    async def ui(request: Request) -> Response:
        return Response(status_page(), media_type="text/html; charset=utf-8")

    async def ui_data(request: Request) -> Response:
        return json_response(status_data(state), headers={"cache-control": "no-store"})

    routes = [Route("/health", health, methods=["GET"])]
    for prefix in ("/v1", ""):
        routes += [
            Route(prefix + e.path, llm_endpoint(e), methods=["POST"]) for e in ENDPOINTS.values()
        ]
        routes.append(Route(f"{prefix}/models", guarded(models), methods=["GET"]))
    routes += [
        Route("/cache/ping", guarded(ping), methods=["GET"]),
        Route("/cache/delete", guarded(delete), methods=["POST"]),
        Route("/cache/flushall", guarded(flush), methods=["POST"]),
        Route("/cache/stats", guarded(stats), methods=["GET"]),
        Route("/metrics", guarded(metrics), methods=["GET"]),
        Route("/ui", admin_page(ui), methods=["GET"]),
        Route("/ui/data", admin_page(ui_data), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.proxy = state
    return app


async def ping_cache(cache: Cache | None, config: ProxyConfig) -> dict[str, Any]:
    """The ``/cache/ping`` report: status, type, ping and set results, masked parameters."""
    if cache is None:
        return {"status": "unhealthy", "cache_type": None, "error": "caching is off"}
    health = await cache.async_health()
    return {
        "status": health.pop("status"),
        "cache_type": cache.type,
        "cache_params": config.masked_cache_params(),
        **health,
    }


def cache_stats(cache: Cache | None) -> dict[str, Any]:
    """Event counters of the cache and its backend's own counters."""
    if cache is None:
        return {"cache_type": None}
    return cache.stats_report()
