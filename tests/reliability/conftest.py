"""Fixtures of the reliability suite: an in-process LLM stand-in (answers that say who asked
them), and fresh real servers per test where a test pauses or kills them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.harness.redis import RedisServer, start_redis


class Echo:
    """An ``acompletion``-shaped upstream whose answer names the question and the caller's
    ``user`` (so a cross-identity hit is visible in the answer), counting its calls."""

    def __init__(self, latency: float = 0.0) -> None:
        self.calls = 0
        self.latency = latency
        self.fail = False
        #: Appended to answers when set, so a refreshed answer differs from the stored one.
        self.version = ""

    async def acompletion(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail:
            raise RuntimeError("upstream unavailable")
        question = kwargs["messages"][-1]["content"]
        text = f"{kwargs.get('user')} asked: {question}{self.version}"
        if kwargs.get("stream"):
            return self._stream(text)
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": kwargs.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    async def _stream(self, text: str) -> AsyncIterator[dict[str, Any]]:
        for word in text.split(" "):
            await asyncio.sleep(self.latency / 4)
            yield {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
            }
        yield {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}],
        }

    async def aembedding(self, **kwargs: Any) -> Any:
        self.calls += 1
        inputs = kwargs["input"]
        items = [inputs] if isinstance(inputs, str) else list(inputs)
        return {
            "object": "list",
            "model": kwargs.get("model", "e"),
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": [float(len(item)), 1.0],
                    "owner": kwargs.get("user"),
                }
                for i, item in enumerate(items)
            ],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }


def text_of(answer: Any) -> str:
    """The assistant's text of a chat answer (dict or SDK object)."""
    choice = answer["choices"][0] if isinstance(answer, dict) else answer.choices[0]
    message = choice["message"] if isinstance(choice, dict) else choice.message
    return str(message["content"] if isinstance(message, dict) else message.content)


def chat(question: str, **kwargs: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": question}], **kwargs}


@pytest.fixture
def echo() -> Echo:
    return Echo()


#: The database of the session's shared redis-server this suite writes to, so its keys never
#: crowd the other suites' (database 0).
RELIABILITY_DB = 7


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A URL of the session's redis-server, on a database of this suite's own (emptied after
    each test)."""
    yield f"redis://{redis_server.host}:{redis_server.port}/{RELIABILITY_DB}"
    with redis.Redis(host=redis_server.host, port=redis_server.port, db=RELIABILITY_DB) as raw:
        raw.flushdb()


@pytest.fixture
def redis_down_and_up(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may pause, kill or restart."""
    server = start_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.process.resume()
        server.stop()
