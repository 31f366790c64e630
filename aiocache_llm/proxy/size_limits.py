"""Size limits of request bodies and upstream answers: LiteLLM's ``general_settings``
``max_request_size_mb`` and ``max_response_size_mb``, in LiteLLM's unit (1 MB = 1024 * 1024
bytes).

A request body over the limit is refused with a 413 before it is read: at once when its
``Content-Length`` says so, else as soon as the bytes read pass the limit (a chunked body that
never ends included). An upstream answer over the limit is never passed on as complete and
never stored: the forwarder stops reading it at the limit and raises
:class:`ResponseTooLarge`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import httpx
import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .audio import AudioAnswer

__all__ = [
    "DEFAULT_MAX_REQUEST_SIZE_MB",
    "MIB",
    "RequestSizeLimit",
    "ResponseTooLarge",
    "cap_answers",
    "cap_response",
    "limit_bytes",
    "read_capped",
    "too_large_message",
]

#: LiteLLM's megabyte: ``bytes / (1024 * 1024)``.
MIB: Final = 1024 * 1024
#: The request limit when ``max_request_size_mb`` is not set (LiteLLM has none by default and
#: recommends about 32 MB in production).
DEFAULT_MAX_REQUEST_SIZE_MB: Final = 32.0


def limit_bytes(megabytes: float | None) -> int | None:
    """The limit in bytes (``None``: no limit, for ``None`` or a value <= 0, as in LiteLLM)."""
    if megabytes is None or megabytes <= 0:
        return None
    return int(megabytes * MIB)


def too_large_message(what: str, megabytes: float) -> str:
    """LiteLLM's wording: ``Request size is too large. Max size is 32.0 MB``."""
    return f"{what} size is too large. Max size is {megabytes} MB"


class ResponseTooLarge(Exception):
    """An upstream answer passed ``max_response_size_mb``: not passed on, never stored."""

    def __init__(self, megabytes: float) -> None:
        super().__init__(too_large_message("Response", megabytes))
        self.megabytes = megabytes


class _RequestTooLarge(Exception):
    """Raised from ``receive`` when a body read passes the limit."""


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one; the count still holds
    return None


class RequestSizeLimit:
    """ASGI middleware: a request whose body passes ``max_bytes`` gets ``refusal`` (a 413).

    Nothing of an over-long body is read when its ``Content-Length`` says it is too long;
    otherwise the body is counted as the app reads it, and the read that passes the limit
    ends the request. The refusal closes the connection (the rest of the body is never read).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, refusal: Response) -> None:
        self.app = app
        self.max_bytes = max_bytes
        refusal.headers["connection"] = "close"
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self.refusal(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _RequestTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _RequestTooLarge:
            if started:  # an answer is under way (it cannot be when a body is still read)
                raise
            await self.refusal(scope, receive, send)


class _CappedStream(httpx.AsyncByteStream):
    """An upstream body that raises :class:`ResponseTooLarge` once it passes the limit."""

    def __init__(self, stream: httpx.AsyncByteStream, max_bytes: int, megabytes: float) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._megabytes = megabytes

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for part in self._stream:
            seen += len(part)
            if seen > self._max_bytes:
                raise ResponseTooLarge(self._megabytes)
            yield part

    async def aclose(self) -> None:
        await self._stream.aclose()


async def cap_response(response: httpx.Response, megabytes: float | None) -> None:
    """Make ``response`` (sent with ``stream=True``, not yet read) stop at the limit: refused
    at once when its ``Content-Length`` passes it, else when the bytes received do."""
    max_bytes = limit_bytes(megabytes)
    if max_bytes is None or megabytes is None:
        return
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        await response.aclose()
        raise ResponseTooLarge(megabytes)
    stream = response.stream
    if isinstance(stream, httpx.AsyncByteStream):
        response.stream = _CappedStream(stream, max_bytes, megabytes)


async def read_capped(response: httpx.Response, megabytes: float | None) -> bytes:
    """The whole body of a capped ``response`` (its decoded size counted too: a compressed
    body may pass the limit only once decoded); the response is closed."""
    max_bytes = limit_bytes(megabytes)
    parts: list[bytes] = []
    seen = 0
    try:
        async for part in response.aiter_bytes():
            seen += len(part)
            if max_bytes is not None and megabytes is not None and seen > max_bytes:
                raise ResponseTooLarge(megabytes)
            parts.append(part)
    finally:
        await response.aclose()
    return b"".join(parts)


def cap_answers(
    call: Callable[..., Awaitable[Any]], megabytes: float | None
) -> Callable[..., Awaitable[Any]]:
    """An upstream call whose answers (their JSON) may not pass the limit: for a call whose
    client reads the answer itself (litellm's Router), checked on what it returns, so that an
    answer over the limit is neither passed on nor stored."""
    max_bytes = limit_bytes(megabytes)
    if max_bytes is None or megabytes is None:
        return call

    async def capped(**body: Any) -> Any:
        answer = await call(**body)
        if hasattr(answer, "__aiter__"):
            return _capped_chunks(answer, max_bytes, megabytes)
        size = len(answer.content if isinstance(answer, AudioAnswer) else orjson.dumps(answer))
        if size > max_bytes:
            raise ResponseTooLarge(megabytes)
        return answer

    return capped


async def _capped_chunks(stream: Any, max_bytes: int, megabytes: float) -> AsyncIterator[Any]:
    seen = 0
    try:
        async for chunk in stream:
            seen += len(orjson.dumps(chunk))
            if seen > max_bytes:
                raise ResponseTooLarge(megabytes)
            yield chunk
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
