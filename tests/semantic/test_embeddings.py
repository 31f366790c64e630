"""Embedders: the offline model, the OpenAI-compatible client, function wrappers, the cache."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from aiocache_llm.errors import BackendError, BackendUnavailable, ConfigurationError
from aiocache_llm.semantic.embedders import (
    CachedEmbedder,
    Embedder,
    FunctionEmbedder,
    LocalEmbedder,
    OpenAIEmbedder,
    embedder_dimension,
)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- the local model ---------------------------------------------------------------------
async def test_the_local_model_makes_unit_vectors_of_384_dimensions(
    local_embedder: LocalEmbedder,
) -> None:
    [vector] = await local_embedder.aembed(["What is the capital of France?"])
    assert len(vector) == 384 == local_embedder.dimension
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-5)


async def test_the_local_model_reproduces_the_reference_similarities(
    local_embedder: LocalEmbedder,
) -> None:
    # The sentence-transformers documentation's example for all-MiniLM-L6-v2.
    weather, sunny, stadium = await local_embedder.aembed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    assert cosine(weather, sunny) == pytest.approx(0.6660, abs=1e-3)
    assert cosine(weather, stadium) == pytest.approx(0.1046, abs=1e-3)


async def test_a_batch_embeds_like_single_texts(local_embedder: LocalEmbedder) -> None:
    texts = ["short", "a much longer sentence that needs padding in a batch"]
    batch = await local_embedder.aembed(texts)
    singles = [(await local_embedder.aembed([t]))[0] for t in texts]
    for got, expected in zip(batch, singles, strict=True):
        assert cosine(got, expected) == pytest.approx(1.0, abs=1e-5)


async def test_blas_threads_are_limited_only_while_the_model_encodes(
    local_embedder: LocalEmbedder,
) -> None:
    from threadpoolctl import ThreadpoolController

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in ThreadpoolController().select(user_api="blas").info()]

    before = blas_threads()
    limited = LocalEmbedder(threads=1)
    model = limited._load()
    encode, seen = model._encode, []

    def spy(texts: list[str]) -> Any:  # what BLAS allows while the model encodes
        seen.extend(blas_threads())
        return encode(texts)

    model._encode = spy  # type: ignore[method-assign]
    text = ["How do I reset my router password?"]
    [one], [free] = await limited.aembed(text), await LocalEmbedder(threads=None).aembed(text)
    assert seen and set(seen) == {1}
    assert blas_threads() == before  # restored after the encoding
    assert cosine(one, free) == pytest.approx(1.0, abs=1e-5)  # the same vector either way
    with pytest.raises(ConfigurationError):
        LocalEmbedder(threads=0)


async def test_a_paraphrase_scores_higher_than_an_unrelated_question(
    local_embedder: LocalEmbedder,
) -> None:
    q, paraphrase, unrelated = await local_embedder.aembed(
        ["What is the capital of France?", "France's capital city?", "How do I bake bread?"]
    )
    assert cosine(q, paraphrase) > 0.8 > 0.2 > cosine(q, unrelated)


async def test_no_texts_embed_to_no_vectors(local_embedder: LocalEmbedder) -> None:
    assert await local_embedder.aembed([]) == []


def test_every_embedder_satisfies_the_protocol(local_embedder: LocalEmbedder) -> None:
    async def fn(texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] for _ in texts]

    for embedder in (local_embedder, OpenAIEmbedder(), FunctionEmbedder(fn)):
        assert isinstance(embedder, Embedder)
        assert isinstance(CachedEmbedder(embedder), Embedder)


# -- function wrappers -------------------------------------------------------------------
async def test_an_async_function_of_texts_is_an_embedder() -> None:
    async def fn(texts: Sequence[str]) -> list[list[float]]:
        return [[3.0, 4.0] for _ in texts]

    embedder = FunctionEmbedder(fn)
    assert await embedder.aembed(["a"]) == [[0.6, 0.8]]
    assert embedder.dimension == 2


async def test_a_blocking_function_of_texts_is_an_embedder() -> None:
    def fn(texts: Sequence[str]) -> list[list[float]]:
        return [[0.0, 2.0] for _ in texts]

    assert await FunctionEmbedder(fn).aembed(["a", "b"]) == [[0.0, 1.0], [0.0, 1.0]]


async def test_an_aembedding_style_function_gets_model_and_input() -> None:
    seen: dict[str, Any] = {}

    async def aembedding(*, model: str, input: list[str]) -> dict[str, Any]:
        seen.update(model=model, input=input)
        rows = [{"index": i, "embedding": [float(i + 1), 0.0]} for i in range(len(input))]
        return {"data": list(reversed(rows))}

    embedder = FunctionEmbedder(aembedding, model="text-embedding-3-small")
    assert await embedder.aembed(["a", "b"]) == [[1.0, 0.0], [1.0, 0.0]]
    assert seen == {"model": "text-embedding-3-small", "input": ["a", "b"]}
    assert embedder.name == "text-embedding-3-small"


async def test_a_function_returning_the_wrong_number_of_vectors_is_an_error() -> None:
    async def fn(texts: Sequence[str]) -> list[list[float]]:
        return []

    with pytest.raises(BackendError):
        await FunctionEmbedder(fn).aembed(["a"])


async def test_the_dimension_is_probed_when_unknown() -> None:
    async def fn(texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]

    assert await embedder_dimension(FunctionEmbedder(fn)) == 3


# -- the exact-match cache ---------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]


async def test_a_repeated_text_is_embedded_once() -> None:
    recorder = Recorder()
    cached = CachedEmbedder(FunctionEmbedder(recorder))
    first = await cached.aembed(["same question"])
    second = await cached.aembed(["same question"])
    assert first == second
    assert recorder.batches == [["same question"]]
    assert (cached.hits, cached.misses) == (1, 1)


async def test_only_unseen_texts_are_sent_in_one_batch() -> None:
    recorder = Recorder()
    cached = CachedEmbedder(FunctionEmbedder(recorder))
    await cached.aembed(["a", "b"])
    await cached.aembed(["b", "c", "c", "a", "d"])
    assert recorder.batches == [["a", "b"], ["c", "d"]]


async def test_the_cache_keeps_at_most_max_entries() -> None:
    recorder = Recorder()
    cached = CachedEmbedder(FunctionEmbedder(recorder), max_entries=2)
    await cached.aembed(["a", "b", "c"])
    await cached.aembed(["a"])
    assert recorder.batches[-1] == ["a"]


# -- the OpenAI-compatible client --------------------------------------------------------
@pytest.fixture
async def openai_embedder(llm_upstream: Any) -> AsyncIterator[OpenAIEmbedder]:
    embedder = OpenAIEmbedder(
        "text-embedding-3-small", base_url=llm_upstream.base_url, api_key="sk-test", batch_size=2
    )
    yield embedder
    await embedder.aclose()


async def test_the_openai_client_returns_unit_vectors_in_order(
    openai_embedder: OpenAIEmbedder, llm_upstream: Any
) -> None:
    vectors = await openai_embedder.aembed(["one", "two", "three"])
    assert len(vectors) == 3 and openai_embedder.dimension == 8
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-6) for v in vectors)
    assert vectors[0] != vectors[1]
    assert llm_upstream.embedding_inputs() == ["one", "two", "three"]
    assert llm_upstream.calls("embeddings") == 2  # batches of two


async def test_the_openai_client_retries_a_server_error(
    openai_embedder: OpenAIEmbedder, llm_upstream: Any
) -> None:
    llm_upstream.configure(fail=1)
    assert len(await openai_embedder.aembed(["one"])) == 1


async def test_the_openai_client_gives_up_after_its_retries(
    openai_embedder: OpenAIEmbedder, llm_upstream: Any
) -> None:
    llm_upstream.configure(fail=10)
    with pytest.raises(BackendError, match="500"):
        await openai_embedder.aembed(["one"])


async def test_the_openai_client_has_a_client_per_event_loop_and_closes_them_all(
    openai_embedder: OpenAIEmbedder,
) -> None:
    other_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=other_loop.run_forever, daemon=True)
    thread.start()
    try:
        here = openai_embedder._client()
        there = asyncio.run_coroutine_threadsafe(_client_of(openai_embedder), other_loop).result(5)
        assert here is not there and here is openai_embedder._client()
        await openai_embedder.aclose()
        assert here.is_closed and there.is_closed
    finally:
        other_loop.call_soon_threadsafe(other_loop.stop)
        thread.join(5)
        other_loop.close()


async def _client_of(embedder: OpenAIEmbedder) -> Any:
    return embedder._client()


async def test_an_unreachable_endpoint_is_backend_unavailable() -> None:
    embedder = OpenAIEmbedder(base_url="http://127.0.0.1:1/v1", api_key="k", max_retries=0)
    try:
        with pytest.raises(BackendUnavailable):
            await embedder.aembed(["one"])
    finally:
        await embedder.aclose()


def test_the_openai_client_reads_its_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    embedder = OpenAIEmbedder()
    assert embedder.base_url == "http://127.0.0.1:9/v1"
    assert "sk-env" not in repr(embedder)
