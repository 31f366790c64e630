"""The proxy stores only complete, successful answers: every ending of every call shape,
through the real OpenAI and Anthropic SDKs pointed at the proxy, in front of the stand-in
upstream. After a bad ending the same call goes upstream again; after a good one it is a hit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic
import httpx
import pytest
from openai import AsyncOpenAI

from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, Proxy

Call = Callable[[], Awaitable[Any]]


async def _run(call: Call, stream: bool) -> Exception | None:
    """Make the call and read a stream to its end; what the SDK raises is returned."""
    try:
        answer = await call()
        if stream:
            async for _ in answer:
                pass
    except Exception as exc:  # an error event or a cut stream: the SDK raises it
        return exc
    return None


async def _check(upstream: Upstream, endpoint: str, call: Call, stream: bool, stored: bool) -> None:
    """Two identical calls: one upstream call (and no error) when the ending is stored, two
    when it is not."""
    first = await _run(call, stream)
    second = await _run(call, stream)
    assert upstream.calls(endpoint) == (1 if stored else 2)
    if stored:
        assert (first, second) == (None, None)


@pytest.fixture
async def claude(proxy: Proxy) -> AsyncIterator[Any]:
    async with anthropic.AsyncAnthropic(
        base_url=proxy.url, api_key=MASTER_KEY, max_retries=0
    ) as client:
        yield client


def _ask(text: str = "What is the capital of France?") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("ending", "stream", "stored"),
    [
        ("complete", False, True),
        ("complete", True, True),
        ("length", False, True),
        ("length", True, True),
        ("cut", False, False),
        ("cut", True, False),
        ("error", False, False),
        ("error", True, False),
    ],
)
async def test_the_proxy_stores_only_complete_chat_answers(
    client: AsyncOpenAI, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return client.chat.completions.create(model="gpt-test", messages=_ask(), stream=stream)

    await _check(llm_upstream, "chat", call, stream, stored)


@pytest.mark.parametrize(
    ("ending", "stream", "stored"),
    [
        ("complete", False, True),
        ("complete", True, True),
        ("length", True, True),
        ("cut", False, False),
        ("cut", True, False),
        ("error", False, False),
        ("error", True, False),
    ],
)
async def test_the_proxy_stores_only_complete_text_completions(
    client: AsyncOpenAI, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return client.completions.create(model="gpt-test", prompt="Say this", stream=stream)

    await _check(llm_upstream, "completions", call, stream, stored)


async def test_a_chat_stream_cut_short_reaches_the_caller_as_an_error(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(ending="cut")
    body = {"model": "gpt-test", "messages": _ask(), "stream": True}
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream(
            "POST", proxy.base_url + "/chat/completions", json=body, headers=proxy.headers()
        ) as answer,
    ):
        text = (await answer.aread()).decode()
    assert "data: [DONE]" not in text
    assert text.rstrip().endswith("}")
    assert "before [DONE]" in text.rsplit("data: ", 1)[1]


@pytest.mark.parametrize(
    ("ending", "stream", "stored"),
    [
        ("complete", False, True),
        ("complete", True, True),
        ("failed", False, False),
        ("failed", True, False),
        ("incomplete", False, False),
        ("incomplete", True, False),
        ("cut", True, False),
        ("error", True, False),
    ],
)
async def test_the_proxy_stores_only_completed_responses(
    client: AsyncOpenAI, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return client.responses.create(model="gpt-test", input="hi there", stream=stream)

    await _check(llm_upstream, "responses", call, stream, stored)


@pytest.mark.parametrize(
    ("ending", "stream", "stored"),
    [
        ("complete", False, True),
        ("complete", True, True),
        ("length", False, True),
        ("length", True, True),
        ("cut", False, False),
        ("cut", True, False),
        ("error", True, False),
    ],
)
async def test_the_proxy_stores_only_messages_that_stopped(
    claude: Any, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return claude.messages.create(
            model="gpt-test", max_tokens=64, messages=_ask(), stream=stream
        )

    await _check(llm_upstream, "messages", call, stream, stored)


@pytest.mark.parametrize("endpoint", ["chat", "responses", "messages"])
async def test_a_stream_its_caller_leaves_is_not_stored_by_the_proxy(
    client: AsyncOpenAI, claude: Any, llm_upstream: Upstream, endpoint: str
) -> None:
    llm_upstream.configure(chunk_delay=0.2)  # the stream lasts a few seconds

    async def leave() -> None:
        if endpoint == "chat":
            stream: Any = await client.chat.completions.create(
                model="gpt-test", messages=_ask(), stream=True
            )
        elif endpoint == "responses":
            stream = await client.responses.create(model="gpt-test", input="hi", stream=True)
        else:
            stream = await claude.messages.create(
                model="gpt-test", max_tokens=64, messages=_ask(), stream=True
            )
        async for _ in stream:
            break
        await stream.close()

    await leave()
    await asyncio.sleep(3.0)  # longer than the whole stream: had the proxy read it, it was kept
    llm_upstream.configure(chunk_delay=0.0)
    await leave()
    assert llm_upstream.calls(endpoint) == 2
