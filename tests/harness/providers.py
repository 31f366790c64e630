"""Stand-ins for three providers' wire formats, each a real HTTP server on loopback.

``python -m tests.harness.providers --port P --name N --key K`` serves, for the one credential
``K`` (anything else is a 401 in that provider's own error shape):

* OpenAI: ``POST /v1/chat/completions`` with ``Authorization: Bearer K`` (SSE when streamed,
  each event's JSON over several ``data:`` lines);
* Azure OpenAI: ``POST /openai/deployments/<deployment>/chat/completions?api-version=...``
  with an ``api-key: K`` header (a missing ``api-version`` is a 404, as on Azure);
* Anthropic Messages: ``POST /v1/messages`` with ``x-api-key: K`` and ``anthropic-version``;
* Cohere rerank: ``POST /v2/rerank`` with ``Authorization: Bearer K`` (documents scored by the
  words they share with the query, the answer's ``id`` naming N);
* audio, OpenAI's and Azure's paths (``/v1/audio/...`` with the bearer key,
  ``/openai/deployments/<deployment>/audio/...`` with ``api-key``): a transcription is
  ``"audio <sha256 of the file> [from N]"`` (``verbose_json`` lists words and segments as
  ``timestamp_granularities[]`` asks), speech is ``b"ID3 speech: <input> [from N]"``.

Answers are ``"echo: <last user text> [from N]"``, so a test sees which deployment answered.
``GET /_seen`` lists every request as ``{"path", "credentials"}`` (every credential header
value received, accepted or not); ``POST /_config {"fail": n}`` fails the next n requests
with a 500, ``{"redirect": url}`` answers every request with a 307 to ``url`` + its path;
``POST /_reset`` clears them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import _upstream_shapes as shapes
from .process import LOOPBACK, ServerProcess, free_port, start_server

_CREDENTIAL_HEADERS = ("authorization", "api-key", "x-api-key")


def build_app(name: str, key: str) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
    from starlette.routing import Route

    seen: list[dict[str, Any]] = []
    failing = {"count": 0}
    redirect = {"to": ""}

    def record(request: Request) -> None:
        credentials = [request.headers[h] for h in _CREDENTIAL_HEADERS if h in request.headers]
        seen.append({"path": request.url.path, "credentials": credentials})

    def failed() -> Response | None:
        if failing["count"] > 0:
            failing["count"] -= 1
            return JSONResponse({"error": {"message": f"{name} failed"}}, status_code=500)
        return None

    def question(body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages") or []):
            if message.get("role") == "user":
                return shapes.text_of(message.get("content"))
        return ""

    def openai_answer(body: dict[str, Any]) -> Response:
        text = f"echo: {question(body)} [from {name}]"
        usage = {"prompt_tokens": 3, "completion_tokens": len(text.split()), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        base = {"id": shapes.ident(body, "chatcmpl"), "created": 1_700_000_000}
        base["model"] = body.get("model", name)
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            answer = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            return JSONResponse(answer)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            data = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            # one event's data over several lines, as SSE allows
            lines = json.dumps(data, indent=1).splitlines()
            return ("".join(f"data: {line}\n" for line in lines) + "\n").encode()

        async def events() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            for i, word in enumerate(text.split(" ")):
                yield chunk({"content": word if i == 0 else " " + word})
            yield chunk({}, "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    def refused(request: Request, azure: bool = False) -> Response | None:
        """The provider's own 401 for a request without its key (recorded either way)."""
        record(request)
        if azure and request.headers.get("api-key") != key:
            message = "Access denied due to invalid subscription key."
            return JSONResponse({"error": {"code": "401", "message": message}}, 401)
        sent = request.headers.get("authorization")
        if not azure and sent != f"Bearer {key}":
            # quoting what it got, as some providers do: a proxy must not pass that on
            message = f"Incorrect API key provided: {sent}"
            error = {"message": message, "type": "invalid_request_error"}
            return JSONResponse({"error": {**error, "code": "invalid_api_key"}}, 401)
        return None

    async def openai_chat(request: Request) -> Response:
        return refused(request) or failed() or openai_answer(await request.json())

    async def azure_chat(request: Request) -> Response:
        if "api-version" not in request.query_params:
            record(request)
            return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, 404)
        denied = refused(request, azure=True)
        if denied is not None:
            return denied
        body = await request.json()
        body.setdefault("model", request.path_params["deployment"])
        return failed() or openai_answer(body)

    async def anthropic_messages(request: Request) -> Response:
        record(request)
        if request.headers.get("x-api-key") != key:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return JSONResponse({"type": "error", "error": error}, 401)
        if "anthropic-version" not in request.headers:
            error = {"type": "invalid_request_error", "message": "anthropic-version required"}
            return JSONResponse({"type": "error", "error": error}, 400)
        body = await request.json()
        stop = failed()
        if stop is not None:
            return stop
        text = f"echo: {question(body)} [from {name}]"
        answer, events = shapes.messages({**body, "messages": [{"role": "user", "content": ""}]})
        answer["content"] = [{"type": "text", "text": text}]
        if not body.get("stream"):
            return JSONResponse(answer)

        def fill(event: str, data: dict[str, Any]) -> dict[str, Any]:
            if event == "content_block_delta":
                return {**data, "delta": {"type": "text_delta", "text": text}}
            return data

        stream = _one_delta(events, "content_block_delta", fill)
        return StreamingResponse(stream, media_type="text/event-stream")

    def responses_answer(body: dict[str, Any]) -> Response:
        answer, events = shapes.responses(body)
        text = f"echo: {shapes._last_user_text(body.get('input'))} [from {name}]"
        _retext(answer, text)
        if not body.get("stream"):
            return JSONResponse(answer)

        def fill(event: str, data: dict[str, Any]) -> dict[str, Any]:
            # the answer inside the other events is the final one, already re-texted
            if event == "response.output_text.delta":
                return {**data, "delta": text}
            if event == "response.output_text.done":
                return {**data, "text": text}
            return data

        stream = _one_delta(events, "response.output_text.delta", fill)
        return StreamingResponse(stream, media_type="text/event-stream")

    async def openai_responses(request: Request) -> Response:
        return refused(request) or failed() or responses_answer(await request.json())

    async def azure_responses(request: Request) -> Response:
        denied = refused(request, azure=True)
        return denied or failed() or responses_answer(await request.json())

    async def cohere_rerank(request: Request) -> Response:
        return refused(request) or failed() or JSONResponse(_reranked(await request.json(), name))

    async def transcription(request: Request) -> Response:
        denied = refused(request, azure="deployment" in request.path_params)
        if denied is not None:
            return denied
        form = await request.form()
        stop = failed()
        if stop is not None:
            return stop
        upload: Any = form["file"]
        text = f"audio {hashlib.sha256(await upload.read()).hexdigest()[:12]} [from {name}]"
        kind = form.get("response_format")
        if kind in ("text", "srt", "vtt"):
            return Response(text, media_type="text/plain")
        if kind != "verbose_json":
            return JSONResponse({"text": text})
        wanted = form.getlist("timestamp_granularities[]")
        answer: dict[str, Any] = {"text": text, "language": form.get("language") or "english"}
        answer["duration"] = 1.5
        if "word" in wanted:
            answer["words"] = [{"word": w, "start": 0.0, "end": 1.0} for w in text.split()]
        if "segment" in wanted:
            answer["segments"] = [_segment(text)]
        return JSONResponse(answer)

    async def speech(request: Request) -> Response:
        denied = refused(request, azure="deployment" in request.path_params)
        body = {} if denied is not None else await request.json()
        audio = f"ID3 speech: {body.get('input')} [from {name}]".encode()
        kind = "audio/wav" if body.get("response_format") == "wav" else "audio/mpeg"
        return denied or failed() or Response(audio, media_type=kind)

    async def unknown(request: Request) -> Response:
        record(request)
        return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, 404)

    async def seen_requests(request: Request) -> Response:
        return JSONResponse(seen)

    async def configure(request: Request) -> Response:
        settings = await request.json()
        failing["count"] = int(settings.get("fail", 0))
        redirect["to"] = str(settings.get("redirect", ""))
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> Response:
        seen.clear()
        failing["count"] = 0
        redirect["to"] = ""
        return JSONResponse({"ok": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def redirecting(request: Request, call_next: Any) -> Response:
        if redirect["to"] and not request.url.path.startswith(("/_", "/health")):
            record(request)
            return RedirectResponse(redirect["to"] + request.url.path, status_code=307)
        response: Response = await call_next(request)
        return response

    return Starlette(
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=redirecting)],
        routes=[
            Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            Route(
                "/openai/deployments/{deployment}/chat/completions", azure_chat, methods=["POST"]
            ),
            Route("/v1/messages", anthropic_messages, methods=["POST"]),
            Route("/v1/responses", openai_responses, methods=["POST"]),
            Route("/openai/responses", azure_responses, methods=["POST"]),
            Route("/openai/v1/responses", azure_responses, methods=["POST"]),
            Route("/v2/rerank", cohere_rerank, methods=["POST"]),
            Route("/v1/audio/transcriptions", transcription, methods=["POST"]),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route(
                "/openai/deployments/{deployment}/audio/transcriptions",
                transcription,
                methods=["POST"],
            ),
            Route("/openai/deployments/{deployment}/audio/speech", speech, methods=["POST"]),
            Route("/_seen", seen_requests),
            Route("/_config", configure, methods=["POST"]),
            Route("/_reset", reset, methods=["POST"]),
            Route("/health", health),
            Route("/{path:path}", unknown, methods=["GET", "POST"]),
        ],
    )


_RESPONSE_EVENTS = ("response.created", "response.in_progress", "response.completed")


async def _one_delta(
    events: list[tuple[str, dict[str, Any]]],
    kind: str,
    fill: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """``events`` as named server-sent events, the deltas of ``kind`` folded into the first
    (each event's data edited by ``fill``)."""
    sent = False
    for event, data in events:
        if event == kind:
            if sent:
                continue
            sent = True
        payload = json.dumps({"type": event, **fill(event, data)})
        yield f"event: {event}\ndata: {payload}\n\n".encode()


def _reranked(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Cohere's v2 rerank answer: the documents scored by the words they share with the query."""
    words = set(str(body.get("query", "")).lower().split())
    texts = [str(d.get("text") if isinstance(d, dict) else d) for d in body.get("documents") or []]
    scores = [len(words & set(t.lower().split())) / (len(words) or 1) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -scores[i])[: body.get("top_n") or len(texts)]
    results = [{"index": i, "relevance_score": scores[i]} for i in order]
    meta = {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}
    return {"id": shapes.ident(body, f"rerank-{name}"), "results": results, "meta": meta}


def _segment(text: str) -> dict[str, Any]:
    return {"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": text, "tokens": [1]}


def _retext(answer: dict[str, Any], text: str) -> None:
    """Put ``text`` in every output text part of a Responses API answer."""
    for item in answer.get("output") or []:
        for part in item.get("content") or []:
            if part.get("type") == "output_text":
                part["text"] = text


@dataclass
class Provider:
    """A running provider stand-in: its URL, name and the one key it accepts."""

    process: ServerProcess
    name: str
    key: str

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.process.port}"

    def seen(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url + "/_seen", timeout=5).json())

    def credentials(self) -> set[str]:
        """Every credential header value this provider received."""
        return {c for request in self.seen() for c in request["credentials"]}

    def fail(self, count: int) -> None:
        httpx.post(self.url + "/_config", json={"fail": count}, timeout=5).raise_for_status()

    def redirect(self, url: str) -> None:
        """Answer every request with a 307 to ``url`` (``""``: stop)."""
        httpx.post(self.url + "/_config", json={"redirect": url}, timeout=5).raise_for_status()

    def reset(self) -> None:
        httpx.post(self.url + "/_reset", timeout=5).raise_for_status()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://{LOOPBACK}:{port}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def start_provider(log_dir: Path, name: str, key: str) -> Provider:
    """A provider stand-in named ``name`` accepting only ``key`` (stop with .process.stop)."""
    port = free_port()
    argv = ["-m", "tests.harness.providers", "--port", str(port), "--name", name, "--key", key]
    root = Path(__file__).resolve().parents[2]
    process = start_server(
        f"provider-{name}",
        [sys.executable, *argv],
        port=port,
        log_dir=log_dir,
        ready=lambda: _answers(port),
        cwd=root,
    )
    return Provider(process, name, key)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    app = build_app(args.name, args.key)
    uvicorn.run(app, host=LOOPBACK, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
