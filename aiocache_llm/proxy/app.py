"""The proxy's ASGI app: OpenAI-compatible endpoints in front of the cache, and cache admin.

Every cached request takes the library's one path (:class:`~aiocache_llm.handler.Handler`):
the proxy only turns HTTP into a handler call and the answer back into HTTP. Answers carry
``x-aiocache-llm-cache-key`` (for embeddings: the comma-separated key of each input, up to 32
inputs), ``x-aiocache-llm-cache-hit`` and, for a semantic hit,
``x-aiocache-llm-semantic-similarity``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..cache import Cache
from ..errors import InvalidArgumentError
from ..streaming import CachedStream
from .auth import bearer_token, current_identity, identity_of, is_authorized, request_identity
from .config import ProxyConfig
from .forward import Forwarder, UpstreamError, UpstreamUnreachable
from .metrics import CONTENT_TYPE, ProxyMetrics

__all__ = ["ProxyState", "create_app"]

logger = logging.getLogger("aiocache_llm.proxy")

KEY_HEADER: Final = "x-aiocache-llm-cache-key"
HIT_HEADER: Final = "x-aiocache-llm-cache-hit"
SIMILARITY_HEADER: Final = "x-aiocache-llm-semantic-similarity"
_PING_KEY: Final = "aiocache-llm:proxy:ping"
#: Embedding answers list their per-input keys in the header up to this many inputs (headers
#: have size limits); larger ones carry only the hit header.
_MAX_HEADER_KEYS: Final = 32

#: endpoint -> (upstream path, call types to use: the async name, else the blocking one)
_ENDPOINTS: Final = {
    "chat": ("/chat/completions", ("acompletion", "completion")),
    "completions": ("/completions", ("atext_completion", "text_completion")),
    "embeddings": ("/embeddings", ("aembedding", "embedding")),
}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def _error(status: int, message: str, type_: str, code: str | None = None) -> Response:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return _json(body, status)


class ProxyState:
    """What a running proxy holds: its config, cache, upstream client and metrics."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.cache: Cache | None = config.cache.build(
            identity=None if config.cache.shared else current_identity
        )
        self.metrics = ProxyMetrics()
        if self.cache is not None:
            self.cache.add_callback(self.metrics.on_event)
        supported = set(self.cache.supported_call_types) if self.cache is not None else set()
        self.call_types = {
            name: next((t for t in types if t in supported), types[0])
            for name, (_, types) in _ENDPOINTS.items()
        }
        self.forwarder: Forwarder | None = None

    async def start(self) -> None:
        self.forwarder = Forwarder(self.config.request_timeout)

    async def stop(self) -> None:
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
            token = bearer_token(request.headers.get("authorization"))
            if not is_authorized(token, master_key):
                return _error(
                    401,
                    "Authentication failed: send a valid key as 'Authorization: Bearer <key>'.",
                    "auth_error",
                    "invalid_api_key",
                )
            return await endpoint(request, token)

        return check

    def llm_endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        path = _ENDPOINTS[name][0]

        async def endpoint(request: Request, token: str | None) -> Response:
            return await _serve(state, name, path, request, token)

        return guarded(endpoint)

    async def health(request: Request) -> Response:
        return _json({"status": "healthy"})

    async def models(request: Request, token: str | None) -> Response:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "aiocache-llm"}
            for name in config.deployments
            if name != "*"
        ]
        return _json({"object": "list", "data": data})

    async def ping(request: Request, token: str | None) -> Response:
        report = await ping_cache(state.cache, config)
        return _json(report, 200 if report["status"] == "healthy" else 503)

    async def delete(request: Request, token: str | None) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "the body must be JSON", "invalid_request_error")
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            return _error(400, "'keys' must be a list of cache keys", "invalid_request_error")
        if state.cache is None:
            return _error(400, "caching is off", "invalid_request_error")
        try:
            for key in keys:
                await state.cache.backend.async_delete_cache(key)
        except Exception as exc:
            return _error(503, f"the cache failed: {type(exc).__name__}", "cache_error")
        return _json({"status": "success", "deleted": keys})

    async def flush(request: Request, token: str | None) -> Response:
        if state.cache is None:
            return _error(400, "caching is off", "invalid_request_error")
        try:
            await state.cache.backend.async_flush_cache()
        except Exception as exc:
            return _error(503, f"the cache failed: {type(exc).__name__}", "cache_error")
        return _json({"status": "success"})

    async def stats(request: Request, token: str | None) -> Response:
        return _json(cache_stats(state.cache))

    async def metrics(request: Request, token: str | None) -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    routes = [Route("/health", health, methods=["GET"])]
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/chat/completions", llm_endpoint("chat"), methods=["POST"]),
            Route(f"{prefix}/completions", llm_endpoint("completions"), methods=["POST"]),
            Route(f"{prefix}/embeddings", llm_endpoint("embeddings"), methods=["POST"]),
            Route(f"{prefix}/models", guarded(models), methods=["GET"]),
        ]
    routes += [
        Route("/cache/ping", guarded(ping), methods=["GET"]),
        Route("/cache/delete", guarded(delete), methods=["POST"]),
        Route("/cache/flushall", guarded(flush), methods=["POST"]),
        Route("/cache/stats", guarded(stats), methods=["GET"]),
        Route("/metrics", guarded(metrics), methods=["GET"]),
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


async def _serve(
    state: ProxyState, name: str, path: str, request: Request, token: str | None
) -> Response:
    started = time.perf_counter()
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _error(400, "the request body must be JSON", "invalid_request_error")
    if not isinstance(body, dict):
        return _error(400, "the request body must be a JSON object", "invalid_request_error")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _error(400, "'model' is required", "invalid_request_error", "model_required")
    deployment = state.config.deployment(model)
    if deployment is None:
        return _error(
            404,
            f"the model {model!r} is not configured",
            "invalid_request_error",
            "model_not_found",
        )
    assert state.forwarder is not None, "the proxy has not started"
    caller_key = None if state.config.master_key is not None else token
    upstream = state.forwarder.upstream(path, deployment, caller_key)
    cache = state.cache
    reset = request_identity.set(identity_of(token))
    try:
        if cache is None:
            body.pop("cache", None)
            result = await upstream(**body)
        else:
            result = await cache.handler.call(state.call_types[name], upstream, body)
    except InvalidArgumentError as exc:
        return _error(400, str(exc), "invalid_request_error", "invalid_cache_control")
    except UpstreamError as exc:
        state.metrics.upstream_errors.labels(name, str(exc.status)).inc()
        return Response(exc.body, exc.status, media_type=exc.content_type)
    except UpstreamUnreachable as exc:
        status = 504 if exc.timeout else 502
        state.metrics.upstream_errors.labels(name, str(status)).inc()
        return _error(status, f"{exc} for the model {model!r}", "upstream_error")
    finally:
        request_identity.reset(reset)
    hidden: dict[str, Any] = getattr(result, "_hidden_params", None) or {}
    headers = _cache_headers(hidden)
    outcome = "none" if not headers else ("hit" if hidden.get("cache_hit") else "miss")
    state.metrics.request_seconds.labels(name, outcome).observe(time.perf_counter() - started)
    if isinstance(result, CachedStream) or hasattr(result, "__aiter__"):
        return StreamingResponse(_sse(result), headers=headers, media_type="text/event-stream")
    return _json(result, headers=headers)


def _cache_headers(hidden: dict[str, Any]) -> dict[str, str]:
    key = hidden.get("cache_key")
    if key is None:
        return {}
    headers = {HIT_HEADER: "true" if hidden.get("cache_hit") else "false"}
    if isinstance(key, str):
        headers[KEY_HEADER] = key
    elif len(key) <= _MAX_HEADER_KEYS:  # one key per embedding input
        headers[KEY_HEADER] = ",".join(key)
    similarity = hidden.get("similarity")
    if similarity is not None:
        headers[SIMILARITY_HEADER] = f"{similarity:.6f}"
    return headers


async def _sse(stream: Any) -> AsyncIterator[bytes]:
    """Chunks as server-sent events, ending in ``[DONE]`` (or an error event)."""
    try:
        async for chunk in stream:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except Exception as exc:  # the status is sent already: end with an error event
        message = str(exc) if isinstance(exc, UpstreamUnreachable) else "the stream failed"
        logger.warning("a streamed answer broke off (%s)", type(exc).__name__)
        error = {"error": {"message": message, "type": "upstream_error", "code": None}}
        yield b"data: " + orjson.dumps(error) + b"\n\n"
        return
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
    yield b"data: [DONE]\n\n"


async def ping_cache(cache: Cache | None, config: ProxyConfig) -> dict[str, Any]:
    """The ``/cache/ping`` report: status, type, ping and set results, masked parameters."""
    if cache is None:
        return {"status": "unhealthy", "cache_type": None, "error": "caching is off"}
    report: dict[str, Any] = {
        "status": "healthy",
        "cache_type": cache.type,
        "cache_params": config.masked_cache_params(),
    }
    try:
        report["ping_response"] = bool(await cache.backend.async_ping())
        await cache.backend.async_set_cache(_PING_KEY, {"ping": time.time()}, 60)
        report["set_cache_response"] = "success"
        await cache.backend.async_delete_cache(_PING_KEY)
    except Exception as exc:  # a diagnostic: reported, not raised (the type only: no secrets)
        report["status"] = "unhealthy"
        report["error"] = type(exc).__name__
    if report.get("ping_response") is False:
        report["status"] = "unhealthy"
    return report


def cache_stats(cache: Cache | None) -> dict[str, Any]:
    """Event counters of the cache and its backend's own counters."""
    if cache is None:
        return {"cache_type": None}
    counters = dict(cache.events.counters)
    lookups = counters["hit"] + counters["miss"]
    return {
        "cache_type": cache.type,
        "events": counters,
        "hit_rate": round(counters["hit"] / lookups, 4) if lookups else None,
        "backend": cache.backend.stats.as_dict(),
    }
