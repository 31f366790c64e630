"""The Responses API and Anthropic's Messages API through litellm's Router: an Anthropic and an
Azure OpenAI deployment answer ``/v1/responses`` and ``/v1/messages`` in the route's own format
(the real OpenAI and Anthropic SDKs read them), streams as the route's named events, the cache
in front, fallbacks between deployments, and every credential only to its own host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from anthropic import Anthropic
from openai import OpenAI

from tests.harness.providers import Provider

from ._gateway import KEYS
from ._support import MASTER_KEY, Proxy


@pytest.fixture
def openai_sdk(gateway: Proxy) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def anthropic_sdk(gateway: Proxy) -> Iterator[Anthropic]:
    with Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as client:
        yield client


def _message_text(client: Anthropic, model: str, text: str) -> tuple[str, str]:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=32, messages=[{"role": "user", "content": text}]
    )
    answer = raw.parse()
    assert answer.type == "message"
    assert answer.role == "assistant"
    body = "".join(block.text for block in answer.content if block.type == "text")
    return body, raw.headers["x-aiocache-llm-cache-hit"]


@pytest.mark.parametrize(("model", "source"), [("claude", "anthropic"), ("azure-gpt", "azure")])
def test_messages_are_answered_by_the_deployments_provider_and_cached(
    anthropic_sdk: Anthropic, model: str, source: str
) -> None:
    question = f"messages to {model}"
    first = _message_text(anthropic_sdk, model, question)
    second = _message_text(anthropic_sdk, model, question)
    assert first == (f"echo: {question} [from {source}]", "false")
    assert second == (first[0], "true")


def test_a_messages_stream_is_anthropics_events_and_replays_from_the_cache(
    anthropic_sdk: Anthropic, gateway: Proxy
) -> None:
    def streamed() -> tuple[str, list[str]]:
        kinds: list[str] = []
        text = ""
        with anthropic_sdk.messages.stream(
            model="claude", max_tokens=32, messages=[{"role": "user", "content": "stream me"}]
        ) as stream:
            for event in stream:
                kinds.append(event.type)
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
        return text, kinds

    first, kinds = streamed()
    second, replayed = streamed()
    assert first == second == "echo: stream me [from anthropic]"
    assert kinds[0] == "message_start" and "message_stop" in kinds
    assert replayed == kinds


@pytest.mark.parametrize(("model", "source"), [("claude", "anthropic"), ("azure-gpt", "azure")])
def test_responses_are_answered_by_the_deployments_provider_and_cached(
    openai_sdk: OpenAI, model: str, source: str
) -> None:
    question = f"responses from {model}"
    first = openai_sdk.responses.with_raw_response.create(model=model, input=question)
    second = openai_sdk.responses.with_raw_response.create(model=model, input=question)
    assert first.parse().output_text == f"echo: {question} [from {source}]"
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.parse().output_text == first.parse().output_text


def test_a_responses_stream_is_named_events_and_replays_from_the_cache(
    openai_sdk: OpenAI,
) -> None:
    def streamed() -> tuple[str, str]:
        stream = openai_sdk.responses.create(model="claude", input="stream it", stream=True)
        text, last = "", ""
        for event in stream:
            last = event.type
            if event.type == "response.output_text.delta":
                text += event.delta
        return text, last

    assert streamed() == ("echo: stream it [from anthropic]", "response.completed")
    assert streamed() == ("echo: stream it [from anthropic]", "response.completed")


def test_messages_and_responses_fall_back_to_the_configured_model(
    anthropic_sdk: Anthropic, openai_sdk: OpenAI
) -> None:
    text, _ = _message_text(anthropic_sdk, "flaky", "fall back messages")
    assert text == "echo: fall back messages [from anthropic]"
    answer = openai_sdk.responses.create(model="flaky", input="fall back responses")
    assert answer.output_text == "echo: fall back responses [from anthropic]"


def test_an_upstream_failure_on_messages_is_an_error_that_quotes_no_credential(
    gateway: Proxy, providers: dict[str, Provider]
) -> None:
    providers["anthropic"].fail(10)
    try:
        body = {
            "model": "claude",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "refused messages"}],
        }
        response = gateway.post("/v1/messages", body)
    finally:
        providers["anthropic"].fail(0)
    assert response.status_code >= 500
    assert response.headers["content-type"].startswith("application/json")
    for secret in (*KEYS.values(), MASTER_KEY):
        assert secret not in response.text


def test_credentials_on_these_routes_go_only_to_their_own_hosts(
    anthropic_sdk: Anthropic, openai_sdk: OpenAI, providers: dict[str, Provider]
) -> None:
    for model in ("gpt-lb", "azure-gpt", "claude"):
        _message_text(anthropic_sdk, model, f"whose key {model}")
        openai_sdk.responses.create(model=model, input=f"whose key {model}")
    assert providers["openai"].credentials() <= {f"Bearer {KEYS['openai']}"}
    assert providers["azure"].credentials() == {KEYS["azure"]}
    assert providers["anthropic"].credentials() == {KEYS["anthropic"]}
