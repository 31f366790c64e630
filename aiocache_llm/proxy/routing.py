"""Which router sends requests upstream: ``litellm.Router`` when litellm is installed, else
the proxy's own OpenAI-compatible forwarder, which refuses at start-up what it cannot serve.

With litellm, the Router is built from the config's ``model_list`` and ``router_settings``
(several deployments per ``model_name``, ``num_retries``, ``fallbacks``, every provider litellm
speaks), and chat, text, embedding, Responses API and Anthropic Messages requests go through
it, and so do rerank (``arerank``), transcription (``atranscription``) and speech
(``aspeech``) requests; its answers come back in the format of the route asked (OpenAI's,
Anthropic's for ``/v1/messages``, Cohere's for rerank, audio bytes for speech), streams as the
route's own events. Without it (or with
``general_settings.router: openai-compatible``), only OpenAI-compatible entries are served:
any other provider prefix, a second deployment of one model name, ``router_settings`` or a
``litellm_settings`` entry other than the cache's is an error naming the entry and the extra
to install, never silently ignored. Either way a
deployment's credential goes only to its own entry's ``api_base``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from ..errors import ConfigurationError, MissingDependencyError
from ..llm.responses import CachedDict
from .audio import TEXT_FORMATS, speech_answer
from .deployments import OPENAI_COMPATIBLE
from .forward import (
    HEADERS_MARK,
    STREAM_MARK,
    RequestRefused,
    UncacheableAnswer,
    UpstreamError,
    UpstreamUnreachable,
    event_payloads,
)
from .request_checks import BodyCheck, body_check
from .trace_context import trace_headers

__all__ = [
    "CACHE_ENTRIES",
    "litellm_cost_map",
    "LITELLM_CALLS",
    "OPENAI_COMPATIBLE",
    "LitellmRouter",
    "check_openai_compatible",
    "choose_router",
    "provider_of",
]

#: The proxy endpoints sent through ``litellm.Router``, by the Router method that serves them.
LITELLM_CALLS: Final = {
    "chat": "acompletion",
    "completions": "atext_completion",
    "embeddings": "aembedding",
    "responses": "aresponses",
    "messages": "aanthropic_messages",
    "rerank": "arerank",
    "transcriptions": "atranscription",
    "speech": "aspeech",
}
_PATHS: Final = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
    "messages": "/messages",
    "rerank": "/rerank",
    "transcriptions": "/audio/transcriptions",
    "speech": "/audio/speech",
}
_EXTRA_HINT: Final = "pip install 'aiocache-llm[litellm]'"
#: litellm_settings entries the proxy itself reads (the cache); the rest are litellm's.
CACHE_ENTRIES: Final = frozenset({"cache", "cache_params"})


def provider_of(model: str) -> str | None:
    """The provider prefix of a litellm model name (``None`` for a bare name)."""
    provider, slash, _ = model.partition("/")
    return provider if slash else None


def litellm_importable() -> bool:
    """Whether ``import litellm`` can work (without importing it)."""
    try:
        return importlib.util.find_spec("litellm") is not None
    except (ImportError, ValueError):
        return False


def litellm_cost_map() -> dict[str, Any] | None:
    """litellm's cost map as its package ships it, read without importing litellm (a proxy
    whose requests never take the Router prices hits with it all the same)."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    try:
        table = orjson.loads((folder / "model_prices_and_context_window_backup.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return table if isinstance(table, dict) else None


def choose_router(requested: str) -> str:
    """``"litellm"`` or ``"openai-compatible"`` for ``general_settings.router``."""
    if requested == "openai-compatible":
        return requested
    if litellm_importable():
        return "litellm"
    if requested == "litellm":
        raise ConfigurationError(
            f"general_settings.router: litellm is not installed ({_EXTRA_HINT})"
        )
    return "openai-compatible"


def check_openai_compatible(raw: Mapping[str, Any]) -> None:
    """Refuse what the OpenAI-compatible forwarder would serve wrongly or ignore."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw.get("model_list") or []):
        name = entry.get("model_name")
        params = entry.get("litellm_params") or {}
        model = str(params.get("model", name))
        provider = provider_of(model)
        where = f"model_list[{i}] ({name})"
        if provider is not None and provider not in OPENAI_COMPATIBLE:
            problems.append(
                f"{where}: the provider {provider!r} of {model!r} needs litellm's router"
                f" ({_EXTRA_HINT}); without it only OpenAI-compatible entries are served"
            )
        if name in seen:
            problems.append(
                f"{where}: a second deployment of {name!r} (first: model_list[{seen[name]}])"
                f" needs litellm's router to balance and fall back ({_EXTRA_HINT})"
            )
        else:
            seen[name] = i
    if raw.get("router_settings"):
        names = ", ".join(sorted(raw["router_settings"]))
        problems.append(f"router_settings ({names}): needs litellm's router ({_EXTRA_HINT})")
    other = sorted(set(raw.get("litellm_settings") or {}) - CACHE_ENTRIES)
    if other:
        problems.append(
            f"litellm_settings ({', '.join(other)}): only the cache entries are read without"
            f" litellm ({_EXTRA_HINT})"
        )
    if problems:
        raise ConfigurationError("\n  ".join(["not served without litellm:", *problems]))


def _import_litellm() -> Any:
    # the cost map ships with litellm: never fetch it over the network
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError as exc:
        raise MissingDependencyError("litellm", "litellm") from exc
    _never_follow_redirects(litellm)
    return litellm


def _never_follow_redirects(litellm: Any) -> None:
    """litellm's HTTP clients follow redirects, and a redirect to another host carries a
    provider's key header there (``x-api-key`` and ``api-key`` are not dropped as
    ``Authorization`` is) with the request: in the proxy they follow none, so a key and a
    prompt reach only their own entry's host. The OpenAI SDK clients (OpenAI, Azure) take
    litellm's ``aclient_session`` / ``client_session`` (unless the config sets them); litellm's
    own handlers are made without redirects."""
    if litellm.aclient_session is None:
        litellm.aclient_session = httpx.AsyncClient(follow_redirects=False, timeout=600.0)
    if litellm.client_session is None:
        litellm.client_session = httpx.Client(follow_redirects=False, timeout=600.0)
    try:
        from litellm.llms.custom_httpx import http_handler
    except ImportError:  # another layout: nothing of litellm's to set
        return
    for cls in (http_handler.AsyncHTTPHandler, http_handler.HTTPHandler):
        original = cls.__init__
        if getattr(original, "_follows_no_redirects", False):
            continue

        def init(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            kwargs["follow_redirects"] = False
            _original(self, *args, **kwargs)

        init._follows_no_redirects = True  # type: ignore[attr-defined]
        functools.update_wrapper(init, original)
        cls.__init__ = init  # type: ignore[method-assign]


class LitellmRouter:
    """``litellm.Router`` over the config's ``model_list``, answering in OpenAI's format."""

    def __init__(
        self,
        model_list: list[dict[str, Any]],
        router_settings: Mapping[str, Any],
        litellm_settings: Mapping[str, Any],
        secrets: Iterable[str],
    ) -> None:
        litellm = _import_litellm()
        for name, value in litellm_settings.items():
            if name in CACHE_ENTRIES:
                continue
            if not hasattr(litellm, name):
                raise ConfigurationError(f"litellm_settings.{name}: not a litellm setting")
            setattr(litellm, name, value)
        self._litellm = litellm
        #: refuses body fields that would retarget a call (litellm's proxy check)
        self.check_body: BodyCheck = body_check()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        try:
            self.router = litellm.Router(
                model_list=[_with_provider(litellm, e) for e in model_list], **router_settings
            )
        except TypeError as exc:
            raise ConfigurationError(f"router_settings: {exc}") from exc
        except Exception as exc:  # litellm's own validation of the model list
            raise ConfigurationError(f"model_list: {self.redact(str(exc))}") from exc

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def upstream(
        self, endpoint_name: str, model: str, request_headers: Mapping[str, str]
    ) -> Callable[..., Awaitable[Any]]:
        """The upstream call of one request to the model group ``model``."""
        method = getattr(self.router, LITELLM_CALLS[endpoint_name])

        route = "/v1" + _PATHS[endpoint_name]

        async def call(**body: Any) -> Any:
            try:  # before the call goes upstream (an answer from the cache was checked so)
                self.check_body(body, model, route)
            except ValueError as exc:
                raise _refused(str(exc)) from None
            body.pop(STREAM_MARK, None)
            passed = {**(body.pop(HEADERS_MARK, None) or {}), **trace_headers(request_headers)}
            if passed:  # the trace goes on upstream, like the forwarded headers
                body["extra_headers"] = {**(body.get("extra_headers") or {}), **passed}
            body["model"] = model
            try:
                answer = await method(**body)
            except Exception as exc:
                raise self._error(exc) from None
            if endpoint_name == "speech":  # audio bytes, passed on as they came
                return speech_answer(answer, body.get("response_format"))
            if body.get("stream") is True:
                return self._chunks(answer)
            if endpoint_name == "transcriptions":
                return _transcription(_plain(answer), body.get("response_format"))
            return CachedDict(_plain(answer))

        return call

    async def _chunks(self, stream: Any) -> AsyncIterator[Any]:
        try:
            async for chunk in _payloads(stream):
                yield chunk
        except UpstreamUnreachable:
            raise
        except Exception as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> Exception:
        litellm = self._litellm
        if isinstance(exc, litellm.Timeout) or _caused_by(exc, _TIMEOUTS):
            return UpstreamUnreachable(True)
        if _caused_by(exc, _CONNECTION_FAILURES):
            return UpstreamUnreachable(False)
        message = self.redact(str(getattr(exc, "message", None) or exc))
        if isinstance(exc, getattr(litellm, "RouterRateLimitError", ())):
            # every deployment of the model is cooling down after failures: try again soon
            body = {"error": {"message": message, "type": "rate_limit_error", "code": 429}}
            return UpstreamError(429, orjson.dumps(body), "application/json")
        local = isinstance(exc, (litellm.APIConnectionError, TypeError, ValueError, KeyError))
        if local and not _caused_by(exc, (httpx.HTTPError,)):
            # nothing went over the network: litellm could not make a request of this body
            first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
            first = first.removeprefix("litellm.APIConnectionError: ")[:300]
            return _refused(f"the request could not be sent as given: {first}")
        status = getattr(exc, "status_code", None)
        if local or not isinstance(status, int) or status < 400:
            status = 502  # an answer litellm could not read (a redirect, say)
        body = {"error": {"message": message, "type": type(exc).__name__, "code": status}}
        return UpstreamError(status, orjson.dumps(body), "application/json")


_TIMEOUTS: Final = (TimeoutError, httpx.TimeoutException)
_CONNECTION_FAILURES: Final = (ConnectionError, httpx.TransportError)


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether an exception of ``kinds`` (or, for connection failures, aiohttp's) is in the
    causes of ``exc``."""
    cause: BaseException | None = exc
    for _ in range(12):
        if cause is None:
            return False
        if isinstance(cause, kinds) or (
            kinds is _CONNECTION_FAILURES
            and type(cause).__module__.startswith("aiohttp")
            and "Connect" in type(cause).__name__
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _refused(message: str) -> RequestRefused:
    """A 400 for a body field the caller may not send (never sent upstream, never stored)."""
    code = "rejected_parameter"
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return RequestRefused(400, orjson.dumps(body), "application/json")


def _transcription(data: dict[str, Any], response_format: Any) -> CachedDict:
    """A transcription in the format asked: JSON without litellm's empty fields, or plain
    text passed through unstored (as the forwarder passes a provider's text on)."""
    if response_format in TEXT_FORMATS:
        text = str(data.get("text") or "").encode()
        raise UncacheableAnswer(200, text, "text/plain; charset=utf-8")
    return CachedDict({k: v for k, v in data.items() if v is not None})


def _with_provider(litellm: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with ``openai/`` before a model name litellm knows no provider of (a bare
    name at an ``api_base``: an OpenAI-compatible server, as the forwarder treats it)."""
    params = dict(entry.get("litellm_params") or {})
    model = str(params.get("model", entry.get("model_name")))
    try:
        provider = litellm.get_llm_provider(model=model, api_base=params.get("api_base"))[1]
    except Exception:
        params["model"], provider = "openai/" + model, "openai"
    if provider in OPENAI_COMPATIBLE and params.get("api_base") and not params.get("api_key"):
        # a keyless OpenAI-compatible server: the client needs some key, and this one
        # holds no secret (it never falls back to $OPENAI_API_KEY, meant for another host)
        params["api_key"] = "no-key"
    return {**entry, "litellm_params": params}


async def _payloads(stream: Any) -> AsyncIterator[Any]:
    """The chunks of a litellm stream as JSON-ready dicts: its objects dumped, or the events
    of a stream litellm passes on as server-sent-event bytes (the Anthropic Messages API's)."""
    chunks: AsyncIterator[Any] = aiter(stream)
    first = await anext(chunks, None)
    if first is None:
        return
    if not isinstance(first, (bytes, str)):
        yield _plain(first)
        async for chunk in chunks:
            yield _plain(chunk)
        return

    async def raw() -> AsyncIterator[bytes]:
        piece: Any = first
        while piece is not None:
            yield piece.encode() if isinstance(piece, str) else piece
            piece = await anext(chunks, None)

    sse = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=raw())
    async for event in event_payloads(sse, False):
        yield event


def _plain(answer: Any) -> dict[str, Any]:
    """An answer of litellm's as the JSON-ready dict its API sends."""
    dump = getattr(answer, "model_dump", None)
    data = dump(mode="json") if dump is not None else dict(answer)
    if isinstance(data, dict):
        data.pop("_hidden_params", None)
        data.pop("_response_headers", None)
    return data
