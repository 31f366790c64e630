"""An OpenAI-compatible upstream for the tests: a real HTTP server on loopback.

Run as ``python -m tests.harness.upstream --port P`` (the ``llm_upstream`` session fixture does
this). It answers deterministically — the same request always gets the same answer:

* ``POST /v1/chat/completions``: the reply is ``"echo: <last user message>"``; when ``tools``
  are given the reply is a call of the first tool; with a ``json_schema`` response format it is
  a JSON object whose every property is that echo. ``stream=True`` sends SSE chunks: the role,
  one chunk per word, tool-call deltas in pieces, the finish reason, and a usage chunk when
  ``stream_options.include_usage`` is set.
* ``POST /v1/completions``: ``"text: <prompt>"``, streamed word by word on request.
* ``POST /v1/embeddings`` (and Azure OpenAI's ``/openai/deployments/<name>/embeddings``): a
  vector derived from the sha256 of each input item.
* ``POST /v1/audio/transcriptions``: the sha256 of the uploaded file (plain text when
  ``response_format=text``; ``verbose_json`` lists the ``timestamp_granularities[]`` sent).
* ``POST /v1/audio/speech``: ``b"ID3 speech: <input>"`` as ``audio/mpeg``.
* ``POST /v1/responses`` (OpenAI Responses API), ``POST /v1/messages`` (Anthropic Messages API),
  streamed as the named SSE events those APIs send, and ``POST /search`` (Perplexity's search,
  LiteLLM's native format): see :mod:`tests.harness._upstream_shapes`.
* ``POST /v1/rerank``: the documents scored by the words they share with the query.

Test controls (JSON): ``GET /_stats`` returns per-endpoint call counts and the embedding inputs
received; ``POST /_reset`` clears them and the settings; ``POST /_config`` sets ``latency``
(seconds before answering), ``chunk_delay`` (seconds between streamed chunks) and ``fail``
(how many next requests get a 500) and ``break_stream_after`` (the next stream is cut off,
without its end, after that many chunks) and ``ending`` (how every answer ends until the
next reset: complete, cut short, an error event, failed, incomplete, cut by length).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import _upstream_shapes as upstream_shapes
from .process import LOOPBACK, ServerProcess, free_port, start_server

CREATED = 1_700_000_000


@dataclass
class _State:
    counts: dict[str, int] = field(default_factory=dict)
    embedding_inputs: list[Any] = field(default_factory=list)
    latency: float = 0.0
    chunk_delay: float = 0.0
    fail: int = 0
    break_stream_after: int | None = None
    ending: str = "complete"
    #: the ``traceparent`` header of each chat request (``None`` when it had none)
    traceparents: list[str | None] = field(default_factory=list)

    def reset(self) -> None:
        self.counts.clear()
        self.embedding_inputs.clear()
        self.traceparents.clear()
        self.latency = self.chunk_delay = 0.0
        self.fail = 0
        self.break_stream_after = None
        self.ending = "complete"


def _id(body: dict[str, Any], prefix: str) -> str:
    return upstream_shapes.ident(body, prefix, "-")


_text_of = upstream_shapes.text_of


def _usage(prompt: str, completion: str) -> dict[str, int]:
    p, c = len(prompt.split()), len(completion.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _chat_answer(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    messages = body.get("messages") or []
    question = next(
        (_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )
    tools = body.get("tools")
    if tools:
        name = tools[0]["function"]["name"]
        arguments = json.dumps({"query": question})
        call = {"id": "call_" + _id(body, "t")[2:14], "type": "function"}
        return None, [{**call, "function": {"name": name, "arguments": arguments}}]
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":  # every property: the echo
        properties = response_format["json_schema"].get("schema", {}).get("properties", {})
        return json.dumps({name: f"echo: {question}" for name in properties}), None
    return f"echo: {question}", None


def build_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    state = _State()

    async def gate(name: str) -> Response | None:
        state.counts[name] = state.counts.get(name, 0) + 1
        if state.latency:
            await asyncio.sleep(state.latency)
        if state.fail > 0:
            state.fail -= 1
            return JSONResponse({"error": {"message": "injected failure"}}, status_code=500)
        return None

    def sse(events: list[dict[str, Any]]) -> StreamingResponse:
        return named_sse([(None, event) for event in events], done=True)

    def named_sse(events: list[tuple[str | None, dict[str, Any]]], done: bool) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for sent, (name, event) in enumerate(events):
                if sent == state.break_stream_after:
                    state.break_stream_after = None
                    raise ConnectionAbortedError("stream broken on purpose by the test")
                if state.chunk_delay:
                    await asyncio.sleep(state.chunk_delay)
                head = f"event: {name}\n" if name else ""
                yield f"{head}data: {json.dumps(event)}\n\n".encode()
            if done:
                yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    endings = {"responses": upstream_shapes.end_responses, "messages": upstream_shapes.end_messages}

    def shaped(name: str, build: Any) -> Any:
        """An endpoint answering ``build(body)`` -> (answer, events): JSON, or named SSE."""

        async def endpoint(request: Request) -> Response:
            body = await request.json()
            failed = await gate(name)
            if failed is not None:
                return failed
            answer, events = endings[name](*build(body), state.ending)
            if body.get("stream"):
                return named_sse(events, done=False)
            return JSONResponse(answer)

        return endpoint

    async def search(request: Request) -> Response:
        body = await request.json()
        failed = await gate("search")
        if failed is not None:
            return failed
        return JSONResponse(upstream_shapes.search(body))

    async def chat(request: Request) -> Response:
        body = await request.json()
        state.traceparents.append(request.headers.get("traceparent"))
        failed = await gate("chat")
        if failed is not None:
            return failed
        content, tool_calls = _chat_answer(body)
        question = " ".join(_text_of(m.get("content")) for m in body.get("messages") or [])
        usage = _usage(question, content or json.dumps(tool_calls))
        base = {"id": _id(body, "chatcmpl"), "created": CREATED, "model": body["model"]}
        finish = "tool_calls" if tool_calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if tool_calls:
                message["tool_calls"] = tool_calls
            choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            answer = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            return JSONResponse(upstream_shapes.end_chat(answer, [], state.ending)[0])
        chunk = {**base, "object": "chat.completion.chunk"}

        def delta(d: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                **chunk,
                "choices": [{"index": 0, "delta": d, "finish_reason": finish_reason}],
            }

        events = [delta({"role": "assistant", "content": ""})]
        if content is not None:
            words = content.split(" ")
            events += [delta({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
        for index, call in enumerate(tool_calls or ()):
            fn = call["function"]
            head = {"index": index, "id": call["id"], "type": "function"}
            events.append(
                delta({"tool_calls": [{**head, "function": {"name": fn["name"], "arguments": ""}}]})
            )
            args = fn["arguments"]
            for start in range(0, len(args), 7):
                piece = {"index": index, "function": {"arguments": args[start : start + 7]}}
                events.append(delta({"tool_calls": [piece]}))
        events.append(delta({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": usage})
        _, events, done = upstream_shapes.end_chat({"choices": []}, events, state.ending)
        return named_sse([(None, event) for event in events], done=done)

    async def completions(request: Request) -> Response:
        body = await request.json()
        failed = await gate("completions")
        if failed is not None:
            return failed
        prompt = body.get("prompt")
        prompt = " ".join(prompt) if isinstance(prompt, list) else str(prompt)
        text = f"text: {prompt}"
        base = {
            "id": _id(body, "cmpl"),
            "object": "text_completion",
            "created": CREATED,
            "model": body["model"],
        }
        if not body.get("stream"):
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            answer = {**base, "choices": [choice], "usage": _usage(prompt, text)}
            return JSONResponse(upstream_shapes.end_chat(answer, [], state.ending)[0])
        words = text.split(" ")
        events = [
            {
                **base,
                "choices": [{"index": 0, "text": (" " if i else "") + w, "finish_reason": None}],
            }
            for i, w in enumerate(words)
        ]
        events.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
        _, events, done = upstream_shapes.end_chat({"choices": []}, events, state.ending)
        return named_sse([(None, event) for event in events], done=done)

    async def embeddings(request: Request) -> Response:
        body = await request.json()
        failed = await gate("embeddings")
        if failed is not None:
            return failed
        raw = body.get("input")
        tokens = isinstance(raw, list) and bool(raw) and isinstance(raw[0], int)
        items = [raw] if isinstance(raw, str) or tokens else list(raw)  # token ids: one input
        state.embedding_inputs.extend(items)
        dims = int(body.get("dimensions") or 8)
        data = []
        for index, item in enumerate(items):
            seed = hashlib.sha256(json.dumps(item).encode()).digest()
            vector = [round((seed[i % 32] - 128) / 128, 6) for i in range(dims)]
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(str(i).split()) for i in items)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def transcriptions(request: Request) -> Response:
        form = await request.form()
        failed = await gate("transcriptions")
        if failed is not None:
            return failed
        upload: Any = form["file"]
        data = await upload.read()
        text = "audio " + hashlib.sha256(data).hexdigest()[:12]
        if form.get("response_format") == "text":
            return Response(text, media_type="text/plain")
        if form.get("response_format") == "verbose_json":  # what the form asked, as it came
            wanted = form.getlist("timestamp_granularities[]")
            return JSONResponse({"text": text, "timestamp_granularities": wanted})
        return JSONResponse({"text": text})

    async def speech(request: Request) -> Response:
        body = await request.json()
        failed = await gate("speech")
        if failed is not None:
            return failed
        return Response(f"ID3 speech: {body.get('input')}".encode(), media_type="audio/mpeg")

    async def rerank(request: Request) -> Response:
        body = await request.json()
        failed = await gate("rerank")
        if failed is not None:
            return failed
        words = set(str(body.get("query", "")).lower().split())
        documents = [str(d) for d in body.get("documents") or []]
        scores = [len(words & set(d.lower().split())) / (len(words) or 1) for d in documents]
        order = sorted(range(len(documents)), key=lambda i: -scores[i])
        top = order[: body.get("top_n") or len(order)]
        results = [{"index": i, "relevance_score": round(scores[i], 6)} for i in top]
        return JSONResponse({"id": _id(body, "rerank"), "results": results, "meta": {}})

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "counts": state.counts,
                "embedding_inputs": state.embedding_inputs,
                "traceparents": state.traceparents,
            }
        )

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    async def config(request: Request) -> Response:
        body = await request.json()
        state.latency = float(body.get("latency", state.latency))
        state.chunk_delay = float(body.get("chunk_delay", state.chunk_delay))
        state.fail = int(body.get("fail", state.fail))
        state.ending = str(body.get("ending", state.ending))
        if "break_stream_after" in body:
            state.break_stream_after = body["break_stream_after"]
        return JSONResponse({"ok": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            # Azure OpenAI's path for the same answers
            Route("/openai/deployments/{deployment}/embeddings", embeddings, methods=["POST"]),
            Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route(
                "/v1/responses", shaped("responses", upstream_shapes.responses), methods=["POST"]
            ),
            Route("/v1/messages", shaped("messages", upstream_shapes.messages), methods=["POST"]),
            Route("/search", search, methods=["POST"]),
            Route("/v1/rerank", rerank, methods=["POST"]),
            Route("/_stats", stats),
            Route("/_reset", reset, methods=["POST"]),
            Route("/_config", config, methods=["POST"]),
            Route("/health", health),
        ]
    )


@dataclass
class Upstream:
    """A running stand-in upstream: its URL, its call counters and its knobs."""

    process: ServerProcess

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.process.port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` for OpenAI SDK clients."""
        return self.url + "/v1"

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/_stats", timeout=5).json())

    def calls(self, endpoint: str = "chat") -> int:
        """How many requests ``endpoint`` (chat, completions, embeddings, transcriptions,
        responses, messages, search) has served."""
        return int(self.stats()["counts"].get(endpoint, 0))

    def embedding_inputs(self) -> list[Any]:
        """Every embedding input item received, in order."""
        return list(self.stats()["embedding_inputs"])

    def reset(self) -> None:
        httpx.post(self.url + "/_reset", timeout=5).raise_for_status()

    def configure(
        self,
        *,
        latency: float | None = None,
        chunk_delay: float | None = None,
        fail: int | None = None,
        break_stream_after: int | None = None,
        ending: str | None = None,
    ) -> None:
        """Delay answers, delay streamed chunks, fail the next ``fail`` requests (500), cut
        the next stream off after ``break_stream_after`` chunks, or end every answer until the
        reset as ``ending`` says (one of :data:`~tests.harness._upstream_shapes.ENDINGS`)."""
        settings = {
            "latency": latency,
            "chunk_delay": chunk_delay,
            "fail": fail,
            "break_stream_after": break_stream_after,
            "ending": ending,
        }
        body = {k: v for k, v in settings.items() if v is not None}
        httpx.post(self.url + "/_config", json=body, timeout=5).raise_for_status()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://{LOOPBACK}:{port}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def start_upstream(log_dir: Path) -> Upstream:
    """Start the stand-in upstream on a free loopback port (stop it with ``.process.stop()``)."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.harness.upstream", "--port", str(port)]
    root = Path(__file__).resolve().parents[2]
    process = start_server(
        "llm-upstream", argv, port=port, log_dir=log_dir, ready=lambda: _answers(port), cwd=root
    )
    return Upstream(process)


@pytest.fixture(scope="session")
def llm_upstream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    """One stand-in OpenAI-compatible server for the whole session."""
    upstream = start_upstream(tmp_path_factory.mktemp("llm-upstream"))
    try:
        yield upstream
    finally:
        upstream.process.stop()


@pytest.fixture
def llm_upstream(llm_upstream_server: Upstream) -> Iterator[Upstream]:
    """The session's stand-in upstream with counters and settings cleared for this test."""
    llm_upstream_server.reset()
    yield llm_upstream_server
    llm_upstream_server.reset()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(), host=LOOPBACK, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
