"""Only a complete, successful answer is stored: every ending of every call shape, through
the real SDKs (``wrap_openai``, ``wrap_anthropic``) and LiteLLM (``cached(...)``) against the
stand-in upstream. After a bad ending the same call goes upstream again (a miss); after a good
one it is a hit."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic
import pytest
from openai import AsyncOpenAI

from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.events import CacheEvent
from aiocache_llm.llm.streaming import Broadcast
from tests.harness.upstream import Upstream

from ._support import ask

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytestmark = [
    pytest.mark.filterwarnings("ignore:Items? .* `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
    # LiteLLM reads pydantic fields in a way pydantic deprecates
    pytest.mark.filterwarnings("ignore:Accessing the 'model_.*' attribute on the instance"),
]

Call = Callable[[], Awaitable[Any]]


async def _run(call: Call, stream: bool, leave: bool = False) -> Exception | None:
    """Make the call as a caller would: read a stream to its end (or leave it after its first
    chunk). An ending the SDK raises for is what the caller sees: it is returned."""
    try:
        answer = await call()
        if stream:
            async for _ in answer:
                if leave:
                    break
            if leave:
                await answer.close()
    except Exception as exc:  # an error event: the SDK raises it to the caller
        return exc
    return None


async def _twice(
    upstream: Upstream, endpoint: str, call: Call, stream: bool, leave: bool = False
) -> int:
    """The upstream calls two identical calls made (a good ending raises nothing)."""
    first = await _run(call, stream, leave)
    second = await _run(call, stream, leave)
    calls = upstream.calls(endpoint)
    if calls == 1:
        assert (first, second) == (None, None)
    return calls


async def _check(upstream: Upstream, endpoint: str, call: Call, stream: bool, stored: bool) -> None:
    """Two identical calls: one upstream call when the ending is stored (and no error on the
    way), two when it is not."""
    first = await _run(call, stream)
    if stored:
        assert first is None
    second = await _run(call, stream)
    assert upstream.calls(endpoint) == (1 if stored else 2)
    if stored:
        assert second is None


@pytest.fixture
def events(cache: Cache) -> list[CacheEvent]:
    recorded: list[CacheEvent] = []
    cache.add_callback(recorded.append)
    return recorded


@pytest.fixture
async def anthropic_client(llm_upstream: Upstream) -> AsyncIterator[Any]:
    async with anthropic.AsyncAnthropic(
        base_url=llm_upstream.url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


# -- chat completions (wrap_openai) -----------------------------------------------------------

CHAT_ENDINGS = [
    # (ending, stream, stored)
    ("complete", False, True),
    ("complete", True, True),
    ("length", False, True),
    ("length", True, True),
    ("cut", False, False),
    ("cut", True, False),
    ("error", False, False),
    ("error", True, False),
]


@pytest.mark.parametrize(("ending", "stream", "stored"), CHAT_ENDINGS)
async def test_a_chat_answer_is_stored_only_when_complete(
    client: Any, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return client.chat.completions.create(model="m", messages=ask(), stream=stream)

    await _check(llm_upstream, "chat", call, stream, stored)


@pytest.mark.parametrize(("ending", "stream", "stored"), CHAT_ENDINGS)
async def test_a_text_completion_is_stored_only_when_complete(
    client: Any, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return client.completions.create(model="m", prompt="Say this", stream=stream)

    await _check(llm_upstream, "completions", call, stream, stored)


async def test_a_chat_stream_cut_short_is_not_served_to_a_plain_call(
    client: Any, llm_upstream: Upstream, events: list[CacheEvent]
) -> None:
    llm_upstream.configure(ending="cut")
    stream = await client.chat.completions.create(model="m", messages=ask(), stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    llm_upstream.configure(ending="complete")
    answer = await client.chat.completions.create(model="m", messages=ask())
    assert answer.choices[0].finish_reason == "stop"
    assert llm_upstream.calls() == 2
    reasons = [e.reason for e in events if e.kind == "skip"]
    assert reasons == ["not stored: the stream ended without a finish_reason"]


async def test_a_stream_its_caller_leaves_is_not_stored(
    client: Any, cache: Cache, llm_upstream: Upstream
) -> None:
    def call() -> Awaitable[Any]:
        return client.chat.completions.create(model="m", messages=ask(), stream=True)

    assert await _twice(llm_upstream, "chat", call, True, leave=True) == 2
    assert cache.events.counters["store"] == 0


async def test_a_stream_read_to_its_end_after_a_caller_left_is_stored(
    client: Any, llm_upstream: Upstream
) -> None:
    def call() -> Awaitable[Any]:
        return client.chat.completions.create(model="m", messages=ask(), stream=True)

    await _run(call, True, leave=True)
    await _run(call, True)
    await _run(call, True)
    assert llm_upstream.calls() == 2


async def test_a_stream_the_upstream_breaks_off_is_not_stored(
    client: Any, llm_upstream: Upstream
) -> None:
    def call() -> Awaitable[Any]:
        return client.chat.completions.create(model="m", messages=ask(), stream=True)

    llm_upstream.configure(break_stream_after=2)
    await _run(call, True)
    await _run(call, True)
    assert llm_upstream.calls() == 2


# -- the Responses API (wrap_openai) ---------------------------------------------------------

RESPONSES_ENDINGS = [
    ("complete", False, True),
    ("complete", True, True),
    ("failed", False, False),
    ("failed", True, False),
    ("incomplete", False, False),
    ("incomplete", True, False),
    ("cut", True, False),
    ("error", True, False),
]


@pytest.mark.parametrize(("ending", "stream", "stored"), RESPONSES_ENDINGS)
async def test_a_response_is_stored_only_when_completed(
    client: Any, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return client.responses.create(model="m", input="hi there", stream=stream)

    await _check(llm_upstream, "responses", call, stream, stored)


async def test_a_failed_response_stream_is_not_served_to_a_plain_call(
    client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(ending="failed")
    stream = await client.responses.create(model="m", input="hi there", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.failed"
    llm_upstream.configure(ending="complete")
    answer = await client.responses.create(model="m", input="hi there")
    assert answer.status == "completed"
    assert llm_upstream.calls("responses") == 2


async def test_a_response_stream_its_caller_leaves_is_not_stored(
    client: Any, llm_upstream: Upstream
) -> None:
    def call() -> Awaitable[Any]:
        return client.responses.create(model="m", input="hi there", stream=True)

    assert await _twice(llm_upstream, "responses", call, True, leave=True) == 2


# -- Anthropic Messages (wrap_anthropic) ------------------------------------------------------

MESSAGES_ENDINGS = [
    ("complete", False, True),
    ("complete", True, True),
    ("length", False, True),
    ("length", True, True),
    ("cut", False, False),
    ("cut", True, False),
    ("error", True, False),
]


@pytest.mark.parametrize(("ending", "stream", "stored"), MESSAGES_ENDINGS)
async def test_a_message_is_stored_only_when_it_stopped(
    cache: Cache,
    anthropic_client: Any,
    llm_upstream: Upstream,
    ending: str,
    stream: bool,
    stored: bool,
) -> None:
    claude = cache.wrap_anthropic(anthropic_client)
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return claude.messages.create(
            model="claude-test", max_tokens=64, messages=ask(), stream=stream
        )

    await _check(llm_upstream, "messages", call, stream, stored)


async def test_a_message_stream_its_caller_leaves_is_not_stored(
    cache: Cache, anthropic_client: Any, llm_upstream: Upstream
) -> None:
    claude = cache.wrap_anthropic(anthropic_client)

    def call() -> Awaitable[Any]:
        return claude.messages.create(
            model="claude-test", max_tokens=64, messages=ask(), stream=True
        )

    assert await _twice(llm_upstream, "messages", call, True, leave=True) == 2


# -- cached(...) around the SDK and LiteLLM ---------------------------------------------------


async def test_a_coroutine_from_a_blocking_wrapper_is_never_stored(
    cache: Cache, openai_client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    create = cached(openai_client.chat.completions.create, cache=cache, blocking=True)
    for _ in range(2):
        answer = create(model="m", messages=ask())
        assert (await answer).choices[0].finish_reason == "stop"
    assert llm_upstream.calls() == 2
    assert cache.events.counters["store"] == 0


@pytest.mark.parametrize(("ending", "stream", "stored"), CHAT_ENDINGS)
async def test_cached_sdk_method_stores_only_complete_chat_answers(
    cache: Cache,
    openai_client: AsyncOpenAI,
    llm_upstream: Upstream,
    ending: str,
    stream: bool,
    stored: bool,
) -> None:
    create = cached(openai_client.chat.completions.create, cache=cache, blocking=False)
    llm_upstream.configure(ending=ending)

    def call() -> Awaitable[Any]:
        return create(model="m", messages=ask(), stream=stream)

    await _check(llm_upstream, "chat", call, stream, stored)


#: LiteLLM answers a plain chat that came back without a finish_reason with "stop" (it fills
#: in the reason), so that ending cannot be told apart from a complete one through it
LITELLM_CHAT_ENDINGS = [e for e in CHAT_ENDINGS if e[:2] != ("cut", False)]


@pytest.mark.parametrize(("ending", "stream", "stored"), LITELLM_CHAT_ENDINGS)
async def test_cached_litellm_acompletion_stores_only_complete_answers(
    cache: Cache, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    litellm = pytest.importorskip("litellm")
    acompletion = cached(litellm.acompletion, cache=cache)
    llm_upstream.configure(ending=ending)
    kwargs = {"model": "openai/m", "messages": ask(), "api_base": llm_upstream.base_url}

    def call() -> Awaitable[Any]:
        return acompletion(**kwargs, api_key="sk-test", stream=stream)  # type: ignore[no-any-return]

    await _check(llm_upstream, "chat", call, stream, stored)


@pytest.mark.parametrize(("ending", "stream", "stored"), RESPONSES_ENDINGS)
async def test_cached_litellm_aresponses_stores_only_completed_responses(
    cache: Cache, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    litellm = pytest.importorskip("litellm")
    aresponses = cached(litellm.aresponses, cache=cache)
    llm_upstream.configure(ending=ending)
    kwargs = {"model": "openai/m", "input": "hi there", "api_base": llm_upstream.base_url}

    def call() -> Awaitable[Any]:
        return aresponses(**kwargs, api_key="sk-test", stream=stream)  # type: ignore[no-any-return]

    await _check(llm_upstream, "responses", call, stream, stored)


@pytest.mark.parametrize(("ending", "stream", "stored"), MESSAGES_ENDINGS)
async def test_cached_litellm_anthropic_messages_stores_only_stopped_messages(
    cache: Cache, llm_upstream: Upstream, ending: str, stream: bool, stored: bool
) -> None:
    litellm = pytest.importorskip("litellm")
    messages = cached(litellm.anthropic_messages, cache=cache)
    llm_upstream.configure(ending=ending)
    kwargs = {"model": "anthropic/claude-test", "max_tokens": 32, "messages": ask()}

    def call() -> Awaitable[Any]:
        return messages(  # type: ignore[no-any-return]
            **kwargs, api_base=llm_upstream.url, api_key="sk-test", stream=stream
        )

    await _check(llm_upstream, "messages", call, stream, stored)


class _Unreadable:
    """An answer the cache cannot read (its ``model_dump`` fails)."""

    def model_dump(self, **kwargs: Any) -> Any:
        raise RuntimeError("cannot be dumped")


async def test_an_answer_the_cache_cannot_read_still_reaches_the_caller(cache: Cache) -> None:
    calls: list[int] = []

    async def acompletion(**kwargs: Any) -> Any:
        calls.append(1)
        return _Unreadable()

    llm = cached(acompletion, cache=cache)
    for _ in range(2):
        assert isinstance(await llm(model="m", messages=ask()), _Unreadable)
    assert calls == [1, 1]
    assert cache.events.counters["store_failed"] == 2


async def test_a_stream_with_a_chunk_the_cache_cannot_read_still_streams(cache: Cache) -> None:
    calls: list[int] = []

    async def chunks() -> AsyncIterator[Any]:
        yield {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
        yield _Unreadable()
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

    async def acompletion(**kwargs: Any) -> Any:
        calls.append(1)
        return chunks()

    llm = cached(acompletion, cache=cache)
    for _ in range(2):
        received = [chunk async for chunk in await llm(model="m", messages=ask(), stream=True)]
        assert len(received) == 3 and isinstance(received[1], _Unreadable)
    assert calls == [1, 1]
    assert cache.events.counters["store_failed"] == 2


async def test_a_stream_nobody_reads_is_let_go_unstored(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Broadcast, "UNREAD_WAIT", 0.05)
    calls: list[int] = []

    async def chunks() -> AsyncIterator[Any]:
        yield {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]}

    async def acompletion(**kwargs: Any) -> Any:
        calls.append(1)
        return chunks()

    llm = cached(acompletion, cache=cache)
    unread = await llm(model="m", messages=ask(), stream=True)
    for _ in range(200):  # the flight ends once the wait is over
        if not cache.handler.flights:
            break
        await asyncio.sleep(0.05)
    assert not cache.handler.flights
    assert [chunk async for chunk in unread]  # its caller still gets the whole stream
    again = [chunk async for chunk in await llm(model="m", messages=ask(), stream=True)]
    assert len(again) == 1 and calls == [1, 1]
    assert cache.events.counters["store"] == 1
