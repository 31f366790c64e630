"""Forwarding a request to its upstream with httpx: JSON answers, and SSE streams as chunks.

An upstream that answers with an error status raises :class:`UpstreamError` carrying that
status and body, which the proxy passes through unchanged; one that cannot be reached raises
:class:`UpstreamUnreachable`; one whose answer passes ``max_response_size_mb`` raises
:class:`~.size_limits.ResponseTooLarge` (the body is read no further). None is ever stored in
the cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import httpx
import orjson
from httpx_sse import EventSource
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from ..llm.responses import CachedDict
from .audio import AudioAnswer, form_fields, speech_media_type
from .config import Deployment
from .size_limits import cap_response, read_capped
from .trace_context import trace_headers

if TYPE_CHECKING:
    from .serving import Endpoint

__all__ = [
    "HEADERS_MARK",
    "STREAM_MARK",
    "Forwarder",
    "RequestRefused",
    "StreamCutShort",
    "UncacheableAnswer",
    "UpstreamError",
    "UpstreamUnreachable",
    "event_payloads",
    "forwarded_headers",
]

_JSON: Final = {"content-type": "application/json"}
_NOT_AUDIO: Final = orjson.dumps(
    {"error": {"message": "the upstream answered JSON, not audio", "type": "upstream_error"}}
)
#: A request argument the proxy adds to event-stream requests so that they are cached apart
#: from plain answers; never sent upstream.
STREAM_MARK: Final = "aiocache_llm_event_stream"
#: A request argument the proxy adds with the headers it passes on (they change the answer, so
#: they are part of the key); never sent upstream in the body.
HEADERS_MARK: Final = "aiocache_llm_forwarded_headers"
#: Request headers passed on to the upstream as they are.
_PASSED_HEADERS: Final = ("anthropic-version", "anthropic-beta", "openai-beta")
_PASSED_RAW: Final = frozenset(name.encode() for name in _PASSED_HEADERS)


def forwarded_headers(request_headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a request the proxy passes on to the upstream (the first of each)."""
    raw = getattr(request_headers, "raw", None)
    if raw is None:
        return {
            name: value
            for name in _PASSED_HEADERS
            if (value := request_headers.get(name)) is not None
        }
    out: dict[str, str] = {}
    for name, value in raw:  # one pass over the lower-cased ASGI headers
        if name in _PASSED_RAW:
            out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return out


class UpstreamError(Exception):
    """The upstream answered with an error status (passed through to the caller)."""

    def __init__(self, status: int, body: bytes, content_type: str | None) -> None:
        super().__init__(f"the upstream answered {status}")
        self.status = status
        self.body = body
        self.content_type = content_type or "application/json"


class UncacheableAnswer(UpstreamError):
    """A successful answer that is not JSON (a transcription as ``text``, say): passed
    through to the caller, never stored."""


class RequestRefused(UpstreamError):
    """The proxy refused the request before it went upstream (a field the caller may not
    send): a 400, not counted as an upstream error."""


class UpstreamUnreachable(Exception):
    """The upstream could not be reached or did not answer in time."""

    def __init__(self, timeout: bool) -> None:
        super().__init__("the upstream timed out" if timeout else "the upstream is unreachable")
        self.timeout = timeout


class StreamCutShort(UpstreamUnreachable):
    """A chat or text stream ended before its ``[DONE]``: the caller is told, nothing is
    stored."""

    def __init__(self) -> None:
        Exception.__init__(self, "the upstream's stream ended before [DONE]")
        self.timeout = False


class Forwarder:
    """One httpx client, shared by every request, that sends requests to deployments."""

    def __init__(
        self, timeout: float, retries: int = 2, max_response_size_mb: float | None = None
    ) -> None:
        self.timeout = timeout
        #: an answer over this many MB raises :class:`.ResponseTooLarge` (never retried)
        self.max_response_size_mb = max_response_size_mb
        #: more tries of a failed request (LiteLLM's proxy retries too; the Router path takes
        #: ``router_settings.num_retries``)
        self.retries = retries
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self._client = httpx.AsyncClient(timeout=timeout, limits=limits)

    async def aclose(self) -> None:
        await self._client.aclose()

    def upstream(
        self,
        endpoint: Endpoint,
        deployment: Deployment,
        requested: str,
        caller_key: str | None,
        request_headers: Mapping[str, str],
        passed: Mapping[str, str],
    ) -> Callable[..., Awaitable[Any]]:
        """The upstream call of one request: ``await call(**body)`` -> answer or chunk stream.

        The body's ``model`` is replaced by the deployment's (a wildcard deployment sends the
        requested model); the deployment's API key is sent, or the caller's own when the
        deployment has none; ``passed`` are the request's :func:`forwarded_headers`.
        """
        url = deployment.api_base + endpoint.path
        headers = {} if endpoint.multipart else dict(_JSON)
        key = deployment.api_key or caller_key
        if key:
            headers["authorization"] = f"Bearer {key}"
            if endpoint.name == "messages":
                headers["x-api-key"] = key
        headers.update(passed)
        if endpoint.name == "messages":
            headers.setdefault("anthropic-version", "2023-06-01")
        model = requested if deployment.model == "*" else deployment.model
        timeout = deployment.timeout or self.timeout
        multipart = endpoint.multipart
        ends_with_done = not endpoint.named_events  # the OpenAI chat and text streams
        audio = endpoint.name == "speech"  # its answer is audio bytes

        async def call(**body: Any) -> Any:
            body.pop(STREAM_MARK, None)
            body.pop(HEADERS_MARK, None)
            body["model"] = model
            traced = trace_headers(request_headers)  # the trace goes on upstream
            sent = {**headers, **traced} if traced else headers
            if multipart:  # an upload is read once: not retried
                upload = body.pop("file")
                fields = form_fields(body)
                return await self._post(url, sent, timeout, data=fields, files={"file": upload})
            content = orjson.dumps(body)
            stream = body.get("stream") is True
            async for attempt in self._attempts():
                with attempt:
                    if stream:  # retried until the stream starts (its status is known)
                        return await self._stream(url, content, sent, timeout, ends_with_done)
                    if audio:
                        return await self._audio(url, sent, timeout, content, body)
                    return await self._post(url, sent, timeout, content=content)
            raise AssertionError("unreachable: the last attempt's error is raised")

        return call

    def _attempts(self) -> AsyncRetrying:
        """Up to ``retries`` more tries of a request that failed in a way a retry can fix (no
        answer, a timeout, 408, 409, 429 or a 5xx), with jittered exponential waits."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(multiplier=0.1, max=2.0),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )

    async def _post(
        self, url: str, headers: dict[str, str], timeout: float, **content: Any
    ) -> CachedDict:
        request = self._client.build_request(
            "POST", url, headers=headers, timeout=timeout, **content
        )
        response = await self._send(request)
        with _unreachable_on_http_error():
            body = await read_capped(response, self.max_response_size_mb)
        content_type = response.headers.get("content-type")
        if response.status_code >= 400:
            raise UpstreamError(response.status_code, body, content_type)
        try:
            return CachedDict(orjson.loads(body))
        except orjson.JSONDecodeError:
            raise UncacheableAnswer(response.status_code, body, content_type) from None

    async def _audio(
        self, url: str, headers: dict[str, str], timeout: float, content: bytes, body: Any
    ) -> AudioAnswer:
        """A speech answer: the audio as it came (an error status raises as for JSON)."""
        try:
            await self._post(url, headers, timeout, content=content)
        except UncacheableAnswer as exc:  # not JSON: the audio
            media = speech_media_type(exc.content_type, body.get("response_format"))
            return AudioAnswer(exc.body, media)
        raise UpstreamError(502, _NOT_AUDIO, "application/json") from None

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """The upstream's response, its body not read yet and capped at the size limit."""
        with _unreachable_on_http_error():
            response = await self._client.send(request, stream=True)
        await cap_response(response, self.max_response_size_mb)
        return response

    async def _stream(
        self,
        url: str,
        content: bytes,
        headers: dict[str, str],
        timeout: float,
        ends_with_done: bool,
    ) -> AsyncIterator[Any]:
        request = self._client.build_request(
            "POST", url, content=content, headers=headers, timeout=timeout
        )
        response = await self._send(request)
        if response.status_code >= 400:
            with _unreachable_on_http_error():
                body = await read_capped(response, self.max_response_size_mb)
            raise UpstreamError(response.status_code, body, response.headers.get("content-type"))
        return event_payloads(response, ends_with_done)


async def event_payloads(response: httpx.Response, ends_with_done: bool) -> AsyncIterator[Any]:
    """The JSON payloads of a server-sent-event stream (parsed by httpx-sse: an event's
    ``data:`` may span several lines), up to ``[DONE]``.

    This is the one place an upstream stream ends: ``[DONE]`` for the chat and text APIs (a
    stream of theirs that ends without one raises :class:`StreamCutShort` when
    ``ends_with_done``), the end of the body for the named-event APIs (whose last event says
    how they ended). Whether the stream is complete enough to store is decided on the chunks
    by the cache.
    """
    try:
        with _unreachable_on_http_error():
            async for event in EventSource(response).aiter_sse():
                payload = event.data
                if payload == "[DONE]":
                    return
                if payload:
                    yield orjson.loads(payload)
        if ends_with_done:
            raise StreamCutShort
    finally:
        await response.aclose()


@contextlib.contextmanager
def _unreachable_on_http_error() -> Iterator[None]:
    """httpx's failures as :class:`UpstreamUnreachable` (a timeout said so)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamUnreachable(True) from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnreachable(False) from exc


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamError):
        return exc.status in (408, 409, 429) or exc.status >= 500
    return isinstance(exc, UpstreamUnreachable)
