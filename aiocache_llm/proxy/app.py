"""The proxy's ASGI app: OpenAI-compatible endpoints in front of the cache, and cache admin.

Every cached request takes the library's one path through the public
:class:`~aiocache_llm.facade.Cache` API (see :mod:`.serving`). ``/health`` answers anyone;
``/cache/ping`` and ``/models`` any caller with a valid key; ``/cache/delete``,
``/cache/flushall``, ``/cache/stats`` and ``/metrics`` only the master key, unless
``general_settings.public_routes`` opens them; the status page ``/ui`` and its data
``/ui/data`` (see :mod:`.status`) only the master key when there is one. A caller who is not
the admin deletes only entries of its own scope, and the answer for another scope's key is
the one for a key that holds nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ConfigurationError
from ..facade import Cache
from ..middleware.builders import CircuitBreaker, GuardedCache
from .auth import SHARED_COUNTER_TYPES, Caller, KeyRing, api_key, current_identity
from .config import Deployment, ProxyConfig
from .forward import Forwarder
from .metrics import CONTENT_TYPE, ProxyMetrics
from .routing import LitellmRouter, litellm_cost_map
from .schema import ADMIN_ROUTES
from .secrets import SecretFilter
from .serving import ENDPOINTS, Endpoint, error, json_response, scope_prefix, serve
from .size_limits import RequestSizeLimit, limit_bytes, too_large_message
from .status import StatusHistory, basic_password, status_data, status_page

__all__ = ["ProxyState", "cache_stats", "create_app", "ping_cache"]

logger = logging.getLogger("aiocache_llm.proxy")

_AUTH_HELP = (
    "Authentication failed: send a valid key as 'Authorization: Bearer <key>'"
    " (or in an 'x-api-key' / 'api-key' header)."
)
_ADMIN_HELP = (
    "this route needs the master key (general_settings.master_key), or"
    " general_settings.public_routes to open it"
)
#: Loggers whose records pass the secret filter.
_LOGGERS: Final = (
    "aiocache_llm",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "LiteLLM",
    "LiteLLM Router",
    "httpx",
)


class ProxyState:
    """What a running proxy holds: its config, cache, upstream client and metrics."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.secret_filter = SecretFilter(config.secrets())
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self.secret_filter)
        self.keys = KeyRing(
            config.master_key,
            config.keys,
            unauthenticated=config.allow_unauthenticated,
            shared=config.cache.shared,
        )
        self.router: LitellmRouter | None = None
        if config.router == "litellm" and config.router_needed():
            self.router = LitellmRouter(
                config.model_list,
                config.router_settings,
                config.litellm_settings,
                config.secrets(),
            )
        self.cache: Cache | None = config.cache.build(
            identity=None if config.cache.shared else current_identity,
            route_embeddings=None if self.router is None else self.router.router.aembedding,
        )
        if self.cache is not None and self.router is None and config.router == "litellm":
            events = self.cache.events  # no Router, so no litellm.model_cost in the process
            events.prices = events.prices if events.prices is not None else litellm_cost_map()
        self.metrics = ProxyMetrics(identity_labels=config.metrics_identity_labels)
        if config.master_key is None and not config.keys and not config.allow_unauthenticated:
            raise ConfigurationError(
                "general_settings.master_key: no key is configured; set a master_key (or"
                " $LITELLM_MASTER_KEY) and keys for callers, or general_settings."
                "allow_unauthenticated: true for a proxy on loopback that anyone there may use"
            )
        if self.cache is not None:
            cache = self.cache
            if cache.type in SHARED_COUNTER_TYPES:  # rate limits hold across processes
                self.keys.share_counters(cache.guarded)
            cache.add_callback(self.metrics.on_event)
            self.metrics.watch_store(lambda: cache.stats_report()["backend"])
            self.metrics.watch_breaker(lambda: _breaker(cache), cache.type)
        supported = set(self.cache.supported_call_types) if self.cache is not None else set()
        self.call_types = {
            name: next((t for t in e.call_types if t in supported), e.call_types[0])
            for name, e in ENDPOINTS.items()
        }
        self.forwarder: Forwarder | None = None
        #: what the status page (/ui) shows over time
        self.status = StatusHistory()
        self._routes: dict[str, tuple[Deployment, bool]] = {}

    def route(self, model: str) -> tuple[Deployment, bool] | None:
        """The first deployment of ``model`` and whether litellm's Router takes it (``None``:
        not configured); remembered for the configured names."""
        found = self._routes.get(model)
        if found is None:
            deployment = self.config.deployment(model)
            if deployment is None:
                return None
            found = (deployment, self.router is not None and self.config.needs_router(model))
            if model in self.config.deployments:
                self._routes[model] = found
        return found

    async def start(self) -> None:
        # the servers' handlers exist now: every record they write passes the secret filter
        for name in ("", *_LOGGERS):
            for handler in logging.getLogger(name).handlers:
                if self.secret_filter not in handler.filters:
                    handler.addFilter(self.secret_filter)
        config = self.config
        self.forwarder = Forwarder(
            config.request_timeout, max_response_size_mb=config.max_response_size_mb
        )
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
        await self.keys.aclose()
        await self.status.stop()
        if self.forwarder is not None:
            await self.forwarder.aclose()
            self.forwarder = None
        if self.cache is not None:
            await self.cache.async_disconnect()


def create_app(config: ProxyConfig) -> Starlette:
    """The proxy app for ``config`` (the cache is built now; upstream clients at start-up)."""
    state = ProxyState(config)
    if config.allow_unauthenticated:
        logger.warning(
            "general_settings.allow_unauthenticated: anyone who reaches this proxy may use it;"
            " serve it on loopback only"
        )
    keys = state.keys

    def guarded(
        endpoint: Callable[[Request, Caller], Awaitable[Response]], path: str | None = None
    ) -> Callable[[Request], Awaitable[Response]]:
        admin_only = path in ADMIN_ROUTES and path not in config.public_routes

        async def check(request: Request) -> Response:
            caller = keys.caller(api_key(request.headers))
            if caller is None:
                return error(401, _AUTH_HELP, "auth_error", "invalid_api_key")
            if admin_only and not caller.admin:
                return error(403, _ADMIN_HELP, "auth_error", "admin_only")
            return await endpoint(request, caller)

        return check

    def llm_endpoint(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request, caller: Caller) -> Response:
            return await serve(state, endpoint, request, caller)

        return guarded(answer)

    async def health(request: Request) -> Response:
        return json_response({"status": "healthy"})

    async def models(request: Request, caller: Caller) -> Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "aiocache-llm"}
            for name in config.deployments
            if name != "*" and caller.may_call(name)
        ]
        return json_response({"object": "list", "data": data})

    async def ping(request: Request, caller: Caller) -> Response:
        report = await ping_cache(state.cache, config)
        return json_response(report, 200 if report["status"] == "healthy" else 503)

    async def delete(request: Request, caller: Caller) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "the body must be JSON", "invalid_request_error")
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            return error(400, "'keys' must be a list of cache keys", "invalid_request_error")
        if state.cache is None:
            return error(400, "caching is off", "invalid_request_error")
        mine = keys
        if not caller.admin:
            # only the caller's own scope; another scope's key answers as one holding nothing
            if caller.scope is None:
                return error(403, _ADMIN_HELP, "auth_error", "admin_only")
            prefix = scope_prefix(state, caller.scope)
            mine = [k for k in keys if k.startswith(prefix)]
        try:
            deleted = await state.cache.async_delete_keys(mine) if mine else []
        except Exception as exc:
            return error(503, f"the cache failed: {type(exc).__name__}", "cache_error")
        missing = [k for k in keys if k not in deleted]
        return json_response({"status": "success", "deleted": deleted, "not_found": missing})

    async def flush(request: Request, caller: Caller) -> Response:
        if state.cache is None:
            return error(400, "caching is off", "invalid_request_error")
        try:
            await state.cache.async_flush()
        except Exception as exc:
            return error(503, f"the cache failed: {type(exc).__name__}", "cache_error")
        return json_response({"status": "success"})

    async def stats(request: Request, caller: Caller) -> Response:
        return json_response(cache_stats(state.cache))

    async def metrics(request: Request, caller: Caller) -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    def admin_page(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """Admin only when there is a master key: as a bearer token, or as the password of
        HTTP basic auth (which a browser asks for)."""

        async def check(request: Request) -> Response:
            caller = keys.caller(api_key(request.headers) or basic_password(request.headers))
            if caller is None or (config.master_key is not None and not caller.admin):
                refused = error(401, "the status page needs the master key", "auth_error")
                refused.headers["www-authenticate"] = 'Basic realm="aiocache-llm", charset="UTF-8"'
                return refused
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
        Route(path, llm_endpoint(e), methods=["POST"])
        for e in ENDPOINTS.values()
        for path in e.aliases
    ]
    routes += [
        Route("/cache/ping", guarded(ping), methods=["GET"]),
        Route("/cache/delete", guarded(delete, "/cache/delete"), methods=["POST"]),
        Route("/cache/flushall", guarded(flush, "/cache/flushall"), methods=["POST"]),
        Route("/cache/stats", guarded(stats, "/cache/stats"), methods=["GET"]),
        Route("/metrics", guarded(metrics, "/metrics"), methods=["GET"]),
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

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=_JSON_ERRORS,
        middleware=_size_limit(config),
    )
    app.state.proxy = state
    return app


def _size_limit(config: ProxyConfig) -> list[Middleware]:
    """The request body limit (``general_settings.max_request_size_mb``), if any."""
    megabytes = config.max_request_size_mb
    max_bytes = limit_bytes(megabytes)
    if max_bytes is None or megabytes is None:
        return []
    message = too_large_message("Request", megabytes)
    refusal = error(413, message, "invalid_request_error", "request_too_large")
    return [Middleware(RequestSizeLimit, max_bytes=max_bytes, refusal=refusal)]


async def _http_error(request: Request, exc: Exception) -> Response:
    """A 404 (no such route), 405 (another method) or other HTTP error, in OpenAI's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    response = error(
        status, f"{request.method} {request.url.path}: {detail}", "invalid_request_error"
    )
    if isinstance(exc, HTTPException) and exc.headers:  # the methods a 405 allows
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    """An unexpected failure: a JSON 500 that names nothing of it (the log has its type)."""
    logger.error("the proxy failed on %s (%s)", request.url.path, type(exc).__name__)
    return error(500, "the proxy failed on this request", "server_error", "internal_error")


_JSON_ERRORS: Final[dict[Any, Any]] = {HTTPException: _http_error, Exception: _server_error}


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


def _breaker(cache: Cache) -> CircuitBreaker | None:
    guarded = cache.guarded
    return guarded.breaker if isinstance(guarded, GuardedCache) else None


def cache_stats(cache: Cache | None) -> dict[str, Any]:
    """Event counters of the cache and its backend's own counters."""
    if cache is None:
        return {"cache_type": None}
    return cache.stats_report()
