"""The proxy's LLM endpoints: every call type LiteLLM's caching docs list, one path for all.

Each request becomes one :meth:`Cache.async_call <aiocache_llm.facade.Cache.async_call>` whose
upstream is the forwarder; the answer goes back as JSON or as server-sent events. Answers carry
the cache key and hit flag in ``x-aiocache-llm-*`` headers and in LiteLLM's
``x-litellm-cache-key`` / ``x-litellm-semantic-similarity``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import CacheError, InvalidArgumentError, InvalidRequestError
from ..llm.keys import call_family
from ..llm.keys import deployment as key_deployment
from ..llm.validation import check_arguments
from .audio import AudioAnswer, form_arguments
from .auth import Caller, request_identity
from .body_shapes import body_problem
from .forward import (
    HEADERS_MARK,
    STREAM_MARK,
    RequestRefused,
    UncacheableAnswer,
    UpstreamError,
    UpstreamUnreachable,
    forwarded_headers,
)
from .request_checks import fallback_targets, test_switches
from .routing import LITELLM_CALLS
from .size_limits import ResponseTooLarge, cap_answers
from .trace_context import continue_trace, end_trace

if TYPE_CHECKING:
    from .app import ProxyState

__all__ = ["ENDPOINTS", "Endpoint", "error", "json_response", "scope_prefix", "serve"]

logger = logging.getLogger("aiocache_llm.proxy")

KEY_HEADER: Final = "x-aiocache-llm-cache-key"
HIT_HEADER: Final = "x-aiocache-llm-cache-hit"
SIMILARITY_HEADER: Final = "x-aiocache-llm-semantic-similarity"
LITELLM_KEY_HEADER: Final = "x-litellm-cache-key"
LITELLM_SIMILARITY_HEADER: Final = "x-litellm-semantic-similarity"
#: Embedding answers list their per-input keys in the header up to this many inputs (headers
#: have size limits); larger ones carry only the hit header.
_MAX_HEADER_KEYS: Final = 32
#: characters a key keeps in a header; any other is percent-encoded (a namespace may hold them)
_KEY_SAFE: Final = ":/,-_.~"


@dataclass(frozen=True)
class Endpoint:
    """One LLM route: where it goes upstream and which call type it is cached as."""

    name: str
    path: str
    call_types: tuple[str, ...]  #: the async name first, then the blocking one
    #: Streams whose events are named (``event: <type>``): the Responses and Messages APIs.
    #: Their streams are cached apart from their plain answers.
    named_events: bool = False
    multipart: bool = False
    #: answers are stored (``/audio/speech`` is passed through, as LiteLLM's cache does)
    cached: bool = True
    #: more paths of the route (LiteLLM's, besides ``path`` with and without ``/v1``)
    aliases: tuple[str, ...] = ()


ENDPOINTS: Final = {
    e.name: e
    for e in (
        Endpoint("chat", "/chat/completions", ("acompletion", "completion")),
        Endpoint("completions", "/completions", ("atext_completion", "text_completion")),
        Endpoint("embeddings", "/embeddings", ("aembedding", "embedding")),
        Endpoint(
            "transcriptions",
            "/audio/transcriptions",
            ("atranscription", "transcription"),
            multipart=True,
        ),
        Endpoint("speech", "/audio/speech", ("aspeech", "speech"), cached=False),
        Endpoint("rerank", "/rerank", ("arerank", "rerank"), aliases=("/v2/rerank",)),
        Endpoint("responses", "/responses", ("aresponses", "responses"), named_events=True),
        Endpoint("messages", "/messages", ("anthropic_messages",), named_events=True),
    )
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def error(status: int, message: str, type_: str, code: str | None = None) -> Response:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return json_response(body, status)


async def _read_body(endpoint: Endpoint, request: Request) -> dict[str, Any] | Response:
    if endpoint.multipart:
        body = await form_arguments(await request.form())
        if isinstance(body, str):
            return error(400, body, "invalid_request_error")
        return body
    try:
        parsed = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return error(400, "the request body must be JSON", "invalid_request_error")
    if not isinstance(parsed, dict):
        return error(400, "the request body must be a JSON object", "invalid_request_error")
    return parsed


def scope_prefix(state: ProxyState, scope: str) -> str:
    """The namespace every entry of the scope ``scope`` is stored under (a caller's own
    ``cache={"namespace": ...}`` goes below it, after a ``/``)."""
    base = state.cache.namespace if state.cache is not None else None
    return f"{base}/s-{scope}" if base else f"s-{scope}"


def _scoped(body: dict[str, Any], prefix: str) -> InvalidArgumentError | None:
    """Put the call under its scope's namespace (an error for a malformed ``cache``)."""
    controls = body.get("cache")
    if controls is None:
        body["cache"] = {"namespace": prefix}
        return None
    if not isinstance(controls, dict):
        return InvalidArgumentError("'cache' must be an object of cache controls")
    own = controls.get("namespace")
    if own is not None and (not isinstance(own, str) or not own):
        return InvalidArgumentError("cache control 'namespace' must be a non-empty str")
    body["cache"] = {**controls, "namespace": f"{prefix}/{own}" if own else prefix}
    return None


def _refusal(body: dict[str, Any], caller: Caller, model: str) -> Response | None:
    """A caller's fallbacks only to models it may call; litellm's test switches for the admin."""
    try:
        targets = fallback_targets(body)
    except ValueError as exc:
        return error(400, str(exc), "invalid_request_error", "rejected_parameter")
    barred = sorted(t for t in targets if not caller.may_call(t))
    if barred:
        message = f"this key may not call the model {barred[0]!r} (named in the fallbacks)"
        return error(403, message, "auth_error", "model_not_allowed")
    switches = test_switches(body) if not caller.admin else []
    if switches:
        message = f"{switches[0]} is for the admin only (it forces a failure or a fallback)"
        return error(403, message, "auth_error", "admin_only")
    return None


async def serve(
    state: ProxyState, endpoint: Endpoint, request: Request, caller: Caller
) -> Response:
    """Answer one LLM request from the cache or its upstream."""
    started = time.perf_counter()
    body = await _read_body(endpoint, request)
    if isinstance(body, Response):
        return body
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error(400, "'model' is required", "invalid_request_error", "model_required")
    if not caller.may_call(model):
        return error(
            403,
            f"this key may not call the model {model!r}",
            "auth_error",
            "model_not_allowed",
        )
    route = state.route(model)
    if route is None:
        return error(
            404,
            f"the model {model!r} is not configured",
            "invalid_request_error",
            "model_not_found",
        )
    deployment, routed = route
    if caller.key is not None:
        limit = await state.keys.over_limit(caller)
        if limit is not None:
            return error(429, f"this key's {limit} is reached", "rate_limit_error", limit)
    assert state.forwarder is not None, "the proxy has not started"
    name = endpoint.name
    router = state.router
    request_headers = request.headers
    passed = forwarded_headers(request_headers)
    refused = _refusal(body, caller, model)
    if refused is not None:
        return refused
    if routed and router is not None and name in LITELLM_CALLS:
        megabytes = state.config.max_response_size_mb  # litellm reads the answer itself
        upstream = cap_answers(router.upstream(name, model, request_headers), megabytes)
    elif not deployment.openai_compatible:
        # the forwarder speaks OpenAI's wire format: never send this entry's key elsewhere
        return error(
            400,
            f"the model {model!r} ({deployment.provider}) is not served on {endpoint.path}",
            "invalid_request_error",
            "endpoint_not_supported",
        )
    else:
        upstream = state.forwarder.upstream(
            endpoint, deployment, model, caller.own_upstream_key, request_headers, passed
        )
    if endpoint.named_events and body.get("stream") is True:
        body[STREAM_MARK] = True  # event streams are cached apart from plain answers
    if passed:  # beta and version headers change the answer: they are part of the key
        body[HEADERS_MARK] = passed
    cache = state.cache
    try:
        problem = None if endpoint.multipart else body_problem(name, body)  # a form's: text
        if problem is not None:
            raise InvalidRequestError(problem)
        check_arguments(call_family(endpoint.call_types[0]), body)
    except InvalidRequestError as exc:
        return error(400, str(exc), "invalid_request_error", "invalid_request")
    scope = caller.scope
    if scope is not None and cache is not None and not caller.admin:
        # a caller's entries live under its scope's namespace: it deletes only there
        bad = _scoped(body, scope_prefix(state, scope))
        if bad is not None:
            return error(400, str(bad), "invalid_request_error", "invalid_cache_control")
    reset = request_identity.set(scope)
    trace = continue_trace(request_headers)
    try:
        if cache is None or not endpoint.cached:
            body.pop("cache", None)
            result = await upstream(**body)
        else:
            result = await cache.async_call(
                state.call_types[name], upstream, body, None, key_deployment(deployment.api_base)
            )
    except InvalidArgumentError as exc:
        return error(400, str(exc), "invalid_request_error", "invalid_cache_control")
    except CacheError as exc:  # the cache failed under the fail_closed policy
        logger.warning("the cache failed for %s (%s)", name, type(exc).__name__)
        return error(503, "the cache is unavailable", "cache_error", "cache_unavailable")
    except ResponseTooLarge as exc:  # never passed on as complete, never stored
        state.metrics.upstream_errors.labels(name, "502").inc()
        return error(502, str(exc), "upstream_error", "response_too_large")
    except UpstreamError as exc:
        if not isinstance(exc, (UncacheableAnswer, RequestRefused)):
            state.metrics.upstream_errors.labels(name, str(exc.status)).inc()
        body_out = state.secret_filter.redact_bytes(exc.body)  # an upstream may quote its key
        return Response(body_out, exc.status, media_type=exc.content_type)
    except UpstreamUnreachable as exc:
        status = 504 if exc.timeout else 502
        state.metrics.upstream_errors.labels(name, str(status)).inc()
        return error(status, f"{exc} for the model {model!r}", "upstream_error")
    finally:
        end_trace(trace)
        request_identity.reset(reset)
    if caller.key is not None and caller.key.tpm_limit is not None:
        await state.keys.spend_tokens(caller, result)
    hidden: dict[str, Any] = getattr(result, "_hidden_params", None) or {}
    headers = cache_headers(hidden)
    outcome = "none" if not headers else ("hit" if hidden.get("cache_hit") else "miss")
    state.status.count_model(model, outcome)
    state.metrics.request_seconds.labels(name, outcome).observe(time.perf_counter() - started)
    if isinstance(result, AudioAnswer):
        return Response(result.content, media_type=result.content_type)
    if hasattr(result, "__aiter__"):
        events = _sse(result, endpoint.named_events)
        return StreamingResponse(events, headers=headers, media_type="text/event-stream")
    return json_response(result, headers=headers)


def cache_headers(hidden: dict[str, Any]) -> dict[str, str]:
    """The response headers of an answer's ``_hidden_params`` (none for an uncached call)."""
    key = hidden.get("cache_key")
    if key is None:
        return {}
    headers = {HIT_HEADER: "true" if hidden.get("cache_hit") else "false"}
    if key.__class__ is not str:  # one key per embedding input
        key = ",".join(key) if len(key) <= _MAX_HEADER_KEYS else None
    if key is not None:
        if not (key.isascii() and key.isprintable()):  # a header carries printable ASCII only
            key = quote(key, safe=_KEY_SAFE)
        headers[KEY_HEADER] = headers[LITELLM_KEY_HEADER] = key
    similarity = hidden.get("similarity")
    if similarity is not None:
        headers[SIMILARITY_HEADER] = headers[LITELLM_SIMILARITY_HEADER] = f"{similarity:.6f}"
    return headers


async def _sse(stream: Any, named: bool) -> AsyncIterator[bytes]:
    """Chunks as server-sent events (named by their ``type`` for the Responses and Messages
    APIs), ending in ``[DONE]`` for the OpenAI chat and text APIs, or in an error event."""
    try:
        async for chunk in stream:
            data = b"data: " + orjson.dumps(chunk) + b"\n\n"
            kind = chunk.get("type") if named and isinstance(chunk, dict) else None
            yield data if not isinstance(kind, str) else f"event: {kind}\n".encode() + data
    except Exception as exc:  # the status is sent already: end with an error event
        told = isinstance(exc, (UpstreamUnreachable, ResponseTooLarge))
        message = str(exc) if told else "the stream failed"
        code = "response_too_large" if isinstance(exc, ResponseTooLarge) else None
        logger.warning("a streamed answer broke off (%s)", type(exc).__name__)
        failure = {"error": {"message": message, "type": "upstream_error", "code": code}}
        prefix = b"event: error\n" if named else b""
        yield prefix + b"data: " + orjson.dumps(failure) + b"\n\n"
        return
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
    if not named:
        yield b"data: [DONE]\n\n"
