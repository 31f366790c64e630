"""Rerank and audio through litellm's Router: a Cohere rerank model, Azure whisper and tts
deployments, and a whisper model with two deployments, behind the gateway proxy. Rerank and
transcriptions are cached as the other routes are (the file's bytes in the key); speech is
passed on, never stored; a provider's refusal comes back with its own status, its key masked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from tests.harness.providers import Provider

from ._gateway import KEYS, WRONG_COHERE_KEY
from ._support import MASTER_KEY, Proxy

#: where Azure takes the whisper deployment's transcriptions
_WHISPER = "/openai/deployments/whisper/audio/transcriptions"
_DOCUMENTS = ["bread and butter", "the river seine flows through paris", "paris"]


@pytest.fixture
def client(gateway: Proxy) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def _calls(provider: Provider, path: str) -> int:
    return sum(1 for r in provider.seen() if r["path"] == path)


def _audio() -> bytes:
    return b"RIFF" + uuid.uuid4().bytes  # a file no other test sent


def _rerank_body(model: str = "rerank") -> dict[str, object]:
    query = f"river paris {uuid.uuid4().hex[:8]}"
    return {"model": model, "query": query, "documents": _DOCUMENTS, "top_n": 2}


def test_a_cohere_rerank_is_routed_and_its_repeat_is_a_hit(
    gateway: Proxy, providers: dict[str, Provider]
) -> None:
    cohere = providers["cohere"]
    before = _calls(cohere, "/v2/rerank")
    body = _rerank_body()
    first = gateway.post("/v1/rerank", body)
    second = gateway.post("/v2/rerank", body)  # LiteLLM's other path, the same entry
    assert first.status_code == second.status_code == 200, first.text
    answer = first.json()
    assert [r["index"] for r in answer["results"]] == [1, 2]
    assert answer["results"][0]["relevance_score"] == pytest.approx(2 / 3)
    assert "meta" in answer
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.json()["results"] == answer["results"]
    assert _calls(cohere, "/v2/rerank") == before + 1
    assert cohere.credentials() <= {f"Bearer {KEYS['cohere']}", f"Bearer {WRONG_COHERE_KEY}"}


def test_another_top_n_is_another_entry(gateway: Proxy, providers: dict[str, Provider]) -> None:
    body = _rerank_body()
    first = gateway.post("/rerank", body)
    other = gateway.post("/rerank", {**body, "top_n": 1})
    assert other.headers["x-aiocache-llm-cache-hit"] == "false"
    assert len(other.json()["results"]) == 1 and len(first.json()["results"]) == 2


def test_an_unreachable_rerank_deployment_falls_back(
    gateway: Proxy, providers: dict[str, Provider]
) -> None:
    before = _calls(providers["cohere"], "/v2/rerank")
    response = gateway.post("/v1/rerank", _rerank_body("rerank-flaky"))
    assert response.status_code == 200, response.text
    assert [r["index"] for r in response.json()["results"]] == [1, 2]
    assert _calls(providers["cohere"], "/v2/rerank") == before + 1


def test_a_providers_refusal_keeps_its_status_and_never_quotes_the_key(gateway: Proxy) -> None:
    response = gateway.post("/v1/rerank", _rerank_body("rerank-refused"))
    assert response.status_code == 401
    assert "x-aiocache-llm-cache-hit" not in response.headers
    assert WRONG_COHERE_KEY not in response.text
    assert WRONG_COHERE_KEY not in gateway.log()
    again = gateway.post("/v1/rerank", _rerank_body("rerank-refused"))
    assert again.status_code == 401  # nothing was stored


def test_a_provider_without_rerank_is_refused_and_its_key_goes_nowhere_else(
    gateway: Proxy, providers: dict[str, Provider]
) -> None:
    response = gateway.post("/v1/rerank", {"model": "claude", "query": "q", "documents": ["a"]})
    assert response.status_code == 400
    assert "anthropic" in response.json()["error"]["message"]
    for name in ("openai", "azure", "cohere"):
        assert KEYS["anthropic"] not in providers[name].credentials()


def test_an_azure_transcription_is_cached_by_the_files_bytes(
    client: OpenAI, providers: dict[str, Provider]
) -> None:
    before = _calls(providers["azure"], _WHISPER)
    audio = _audio()
    create = client.audio.transcriptions.with_raw_response.create
    first = create(model="whisper", file=("a.wav", audio))
    again = create(model="whisper", file=("b.wav", audio))
    other = create(model="whisper", file=("a.wav", audio + b"!"))
    assert first.parse().text.endswith("[from azure]")
    assert first.parse().model_dump(exclude_none=True) == {"text": first.parse().text}
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert again.headers["x-aiocache-llm-cache-hit"] == "true"
    assert again.parse().text == first.parse().text
    assert other.headers["x-aiocache-llm-cache-hit"] == "false"
    assert other.parse().text != first.parse().text
    assert _calls(providers["azure"], _WHISPER) == before + 2


def test_every_timestamp_granularity_reaches_the_provider_and_the_key(client: OpenAI) -> None:
    audio = _audio()
    create = client.audio.transcriptions.with_raw_response.create
    both = create(
        model="whisper",
        file=("a.wav", audio),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    words = create(
        model="whisper",
        file=("a.wav", audio),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    answer = both.http_response.json()
    assert answer["words"] and answer["segments"]
    assert words.headers["x-aiocache-llm-cache-hit"] == "false"
    assert words.http_response.json()["words"]
    assert not words.http_response.json().get("segments")


def test_another_language_or_prompt_is_another_entry(client: OpenAI) -> None:
    audio = _audio()
    create = client.audio.transcriptions.with_raw_response.create
    create(model="whisper", file=("a.wav", audio), language="en")
    french = create(model="whisper", file=("a.wav", audio), language="fr")
    prompted = create(model="whisper", file=("a.wav", audio), language="en", prompt="names")
    assert french.headers["x-aiocache-llm-cache-hit"] == "false"
    assert prompted.headers["x-aiocache-llm-cache-hit"] == "false"


def test_a_routed_plain_text_transcription_is_text_and_never_stored(
    gateway: Proxy, providers: dict[str, Provider]
) -> None:
    before = _calls(providers["azure"], _WHISPER)
    audio = _audio()

    def send() -> httpx.Response:
        return httpx.post(
            gateway.url + "/v1/audio/transcriptions",
            files={"file": ("a.wav", audio)},
            data={"model": "whisper", "response_format": "text"},
            headers=gateway.headers(),
            timeout=30,
        )

    first, second = send(), send()
    assert first.status_code == second.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/plain")
    assert first.text == second.text and first.text.endswith("[from azure]")
    assert _calls(providers["azure"], _WHISPER) == before + 2


def test_a_whisper_model_with_two_deployments_uses_both(client: OpenAI) -> None:
    answered = set()
    for _ in range(16):
        text = client.audio.transcriptions.create(model="whisper-lb", file=("a.wav", _audio()))
        answered.add(text.text.rsplit("[from ", 1)[-1])
    assert answered == {"openai]", "azure]"}


def test_speech_is_routed_as_audio_and_never_cached(
    client: OpenAI, gateway: Proxy, providers: dict[str, Provider]
) -> None:
    path = "/openai/deployments/tts/audio/speech"
    before = _calls(providers["azure"], path)
    said = f"hello {uuid.uuid4().hex[:6]}"
    first = client.audio.speech.with_raw_response.create(model="tts", voice="alloy", input=said)
    second = client.audio.speech.with_raw_response.create(model="tts", voice="alloy", input=said)
    assert first.content == second.content == f"ID3 speech: {said} [from azure]".encode()
    assert first.headers["content-type"] == "audio/mpeg"
    assert "x-aiocache-llm-cache-hit" not in second.headers
    wav = client.audio.speech.with_raw_response.create(
        model="tts", voice="alloy", input=said, response_format="wav"
    )
    assert wav.headers["content-type"] == "audio/wav"
    assert _calls(providers["azure"], path) == before + 3


def test_a_speech_body_of_the_wrong_shape_is_refused_before_the_upstream(gateway: Proxy) -> None:
    response = gateway.post("/v1/audio/speech", {"model": "tts", "voice": "alloy"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "'input' is required"
