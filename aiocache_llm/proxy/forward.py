"""Forwarding a request to its upstream with httpx: JSON answers, and SSE streams as chunks.

An upstream that answers with an error status raises :class:`UpstreamError` carrying that
status and body, which the proxy passes through unchanged; one that cannot be reached raises
:class:`UpstreamUnreachable`. Neither is ever stored in the cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson

from ..responses import CachedDict
from .config import Deployment

__all__ = ["Forwarder", "UpstreamError", "UpstreamUnreachable"]

_JSON = {"content-type": "application/json"}


class UpstreamError(Exception):
    """The upstream answered with an error status (passed through to the caller)."""

    def __init__(self, status: int, body: bytes, content_type: str | None) -> None:
        super().__init__(f"the upstream answered {status}")
        self.status = status
        self.body = body
        self.content_type = content_type or "application/json"


class UpstreamUnreachable(Exception):
    """The upstream could not be reached or did not answer in time."""

    def __init__(self, timeout: bool) -> None:
        super().__init__("the upstream timed out" if timeout else "the upstream is unreachable")
        self.timeout = timeout


class Forwarder:
    """One httpx client, shared by every request, that sends requests to deployments."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self._client = httpx.AsyncClient(timeout=timeout, limits=limits)

    async def aclose(self) -> None:
        await self._client.aclose()

    def upstream(
        self, path: str, deployment: Deployment, caller_key: str | None
    ) -> Callable[..., Awaitable[Any]]:
        """The upstream call of one request: ``await call(**body)`` -> answer or chunk stream.

        The body's ``model`` is replaced by the deployment's; the deployment's API key is sent,
        or the caller's own when the deployment has none.
        """
        url = deployment.api_base + path
        headers = dict(_JSON)
        key = deployment.api_key or caller_key
        if key:
            headers["authorization"] = f"Bearer {key}"
        timeout = deployment.timeout or self.timeout

        async def call(**body: Any) -> Any:
            body["model"] = deployment.model
            content = orjson.dumps(body)
            if body.get("stream") is True:
                return await self._stream(url, content, headers, timeout)
            try:
                response = await self._client.post(
                    url, content=content, headers=headers, timeout=timeout
                )
            except httpx.TimeoutException as exc:
                raise UpstreamUnreachable(True) from exc
            except httpx.HTTPError as exc:
                raise UpstreamUnreachable(False) from exc
            if response.status_code >= 400:
                raise UpstreamError(
                    response.status_code, response.content, response.headers.get("content-type")
                )
            return CachedDict(orjson.loads(response.content))

        return call

    async def _stream(
        self, url: str, content: bytes, headers: dict[str, str], timeout: float
    ) -> AsyncIterator[Any]:
        request = self._client.build_request(
            "POST", url, content=content, headers=headers, timeout=timeout
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamUnreachable(True) from exc
        except httpx.HTTPError as exc:
            raise UpstreamUnreachable(False) from exc
        if response.status_code >= 400:
            try:
                body = await response.aread()
            finally:
                await response.aclose()
            raise UpstreamError(response.status_code, body, response.headers.get("content-type"))
        return _events(response)


async def _events(response: httpx.Response) -> AsyncIterator[Any]:
    """The JSON payloads of a server-sent-event stream, up to ``[DONE]``."""
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            if payload:
                yield orjson.loads(payload)
    except httpx.TimeoutException as exc:
        raise UpstreamUnreachable(True) from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnreachable(False) from exc
    finally:
        await response.aclose()
