"""Every call type LiteLLM's caching docs list, through the proxy with the real SDKs:
/v1/responses, /v1/messages (Anthropic's SDK), /v1/rerank and /v1/audio/transcriptions (keyed
by the file's checksum), streamed where the API streams."""

from __future__ import annotations

from typing import Any

import httpx
from anthropic import AsyncAnthropic
from openai import AsyncOpenAI

from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, Proxy

QUESTION = "Which river runs through Paris?"


async def test_responses_are_cached(client: AsyncOpenAI, llm_upstream: Upstream) -> None:
    first = await client.responses.with_raw_response.create(model="gpt-test", input=QUESTION)
    second = await client.responses.with_raw_response.create(model="gpt-test", input=QUESTION)
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.parse().output_text == first.parse().output_text == f"echo: {QUESTION}"
    assert llm_upstream.calls("responses") == 1


async def _streamed_response_text(client: AsyncOpenAI) -> str:
    stream = await client.responses.create(model="gpt-test", input=QUESTION, stream=True)
    parts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
    return "".join(parts)


async def test_a_responses_stream_is_replayed_as_named_events(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    first = await _streamed_response_text(client)
    second = await _streamed_response_text(client)
    assert first == second == f"echo: {QUESTION}"
    assert llm_upstream.calls("responses") == 1


async def test_a_responses_stream_and_a_plain_answer_are_cached_apart(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    await _streamed_response_text(client)
    plain = await client.responses.create(model="gpt-test", input=QUESTION)
    assert plain.output_text == f"echo: {QUESTION}"
    assert llm_upstream.calls("responses") == 2


def _anthropic(proxy: Proxy) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=proxy.url, api_key=MASTER_KEY, max_retries=0)


MESSAGE: dict[str, Any] = {
    "model": "gpt-test",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": QUESTION}],
}


async def test_anthropic_messages_are_cached(proxy: Proxy, llm_upstream: Upstream) -> None:
    async with _anthropic(proxy) as anthropic:
        first = await anthropic.messages.with_raw_response.create(**MESSAGE)
        second = await anthropic.messages.with_raw_response.create(**MESSAGE)
    assert second.headers["x-litellm-cache-key"] == first.headers["x-litellm-cache-key"]
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    message = await second.parse()
    assert message.content[0].text == f"echo: {QUESTION}"  # type: ignore[union-attr]
    assert llm_upstream.calls("messages") == 1


async def test_an_anthropic_messages_stream_is_replayed(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    texts = []
    async with _anthropic(proxy) as anthropic:
        for _ in range(2):
            async with anthropic.messages.stream(**MESSAGE) as stream:
                texts.append("".join([t async for t in stream.text_stream]))
                final = await stream.get_final_message()
            assert final.stop_reason == "end_turn"
    assert texts == [f"echo: {QUESTION}"] * 2
    assert llm_upstream.calls("messages") == 1


def test_rerank_is_cached(proxy: Proxy, llm_upstream: Upstream) -> None:
    body = {"model": "gpt-test", "query": "river paris", "documents": ["a paris river", "bread"]}
    first = proxy.post("/v1/rerank", body)
    second = proxy.post("/rerank", body)
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.json()["results"] == first.json()["results"]
    assert first.json()["results"][0]["index"] == 0
    assert llm_upstream.calls("rerank") == 1


async def test_a_transcription_is_keyed_by_the_files_checksum(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    audio = b"RIFF-fake-audio-bytes"
    first = await client.audio.transcriptions.with_raw_response.create(
        model="gpt-test", file=("a.wav", audio)
    )
    renamed = await client.audio.transcriptions.with_raw_response.create(
        model="gpt-test", file=("b.wav", audio)
    )
    other = await client.audio.transcriptions.with_raw_response.create(
        model="gpt-test", file=("a.wav", audio + b"!")
    )
    assert renamed.headers["x-aiocache-llm-cache-hit"] == "true"
    assert renamed.parse().text == first.parse().text
    assert other.headers["x-aiocache-llm-cache-hit"] == "false"
    assert llm_upstream.calls("transcriptions") == 2


def test_a_plain_text_transcription_passes_through_uncached(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    def send() -> httpx.Response:
        return httpx.post(
            proxy.url + "/v1/audio/transcriptions",
            files={"file": ("a.wav", b"audio")},
            data={"model": "gpt-test", "response_format": "text"},
            headers=proxy.headers(),
            timeout=10,
        )

    first, second = send(), send()
    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    assert first.text.startswith("audio ")
    assert first.headers["content-type"].startswith("text/plain")
    assert llm_upstream.calls("transcriptions") == 2


async def test_every_value_of_a_repeated_form_field_is_sent_and_keyed(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    create = client.audio.transcriptions.with_raw_response.create
    both = await create(
        model="gpt-test",
        file=("a.wav", b"RIFF-granular"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    words = await create(
        model="gpt-test",
        file=("a.wav", b"RIFF-granular"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert both.http_response.json()["timestamp_granularities"] == ["word", "segment"]
    assert words.headers["x-aiocache-llm-cache-hit"] == "false"
    assert words.http_response.json()["timestamp_granularities"] == ["word"]


async def test_speech_is_passed_on_as_audio_and_never_cached(
    client: AsyncOpenAI, llm_upstream: Upstream
) -> None:
    speak = client.audio.speech.with_raw_response.create
    first = await speak(model="gpt-test", voice="alloy", input="hello there")
    second = await speak(model="gpt-test", voice="alloy", input="hello there")
    assert first.content == second.content == b"ID3 speech: hello there"
    assert first.headers["content-type"] == "audio/mpeg"
    assert "x-aiocache-llm-cache-hit" not in second.headers
    assert llm_upstream.calls("speech") == 2
