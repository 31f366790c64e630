"""Which router sends requests upstream: ``litellm.Router`` when litellm is installed, else
the proxy's own OpenAI-compatible forwarder, which refuses at start-up what it cannot serve.

With litellm, the Router is built from the config's ``model_list`` and ``router_settings``
(several deployments per ``model_name``, ``num_retries``, ``fallbacks``, every provider litellm
speaks), and chat, text, embedding, Responses API and Anthropic Messages requests go through
it; its answers come back in the format of the route asked (OpenAI's, or Anthropic's for
``/v1/messages``), streams as the route's own events. Without it (or with
``general_settings.router: openai-compatible``), only OpenAI-compatible entries are served:
any other provider prefix, a second deployment of one model name, ``router_settings`` or a
``litellm_settings`` entry other than the cache's is an error naming the entry and the extra
to install, never silently ignored. Either way a
deployment's credential goes only to its own entry's ``api_base``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Final

import httpx
import orjson

from ..errors import ConfigurationError, MissingDependencyError
from ..llm.responses import CachedDict
from .deployments import OPENAI_COMPATIBLE
from .forward import (
    HEADERS_MARK,
    STREAM_MARK,
    UpstreamError,
    UpstreamUnreachable,
    event_payloads,
)
from .trace_context import trace_headers

__all__ = [
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
}
_EXTRA_HINT: Final = "pip install 'aiocache-llm[litellm]'"
#: litellm_settings entries the proxy itself reads (the cache); the rest are litellm's.
_CACHE_ENTRIES: Final = frozenset({"cache", "cache_params"})


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
    other = sorted(set(raw.get("litellm_settings") or {}) - _CACHE_ENTRIES)
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
    return litellm


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
            if name in _CACHE_ENTRIES:
                continue
            if not hasattr(litellm, name):
                raise ConfigurationError(f"litellm_settings.{name}: not a litellm setting")
            setattr(litellm, name, value)
        self._litellm = litellm
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

        async def call(**body: Any) -> Any:
            body.pop(STREAM_MARK, None)
            passed = {**(body.pop(HEADERS_MARK, None) or {}), **trace_headers(request_headers)}
            if passed:  # the trace goes on upstream, like the forwarded headers
                body["extra_headers"] = {**(body.get("extra_headers") or {}), **passed}
            body["model"] = model
            try:
                answer = await method(**body)
            except Exception as exc:
                raise self._error(exc) from None
            if body.get("stream") is True:
                return self._chunks(answer)
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
        if isinstance(exc, litellm.Timeout):
            return UpstreamUnreachable(True)
        if isinstance(exc, litellm.APIConnectionError):
            return UpstreamUnreachable(False)
        status = getattr(exc, "status_code", None)
        if not isinstance(status, int) or status < 400:
            status = 502
        message = self.redact(str(getattr(exc, "message", None) or exc))
        body = {"error": {"message": message, "type": type(exc).__name__, "code": status}}
        return UpstreamError(status, orjson.dumps(body), "application/json")


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
