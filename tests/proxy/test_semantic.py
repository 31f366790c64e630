"""A semantic cache behind the proxy: a paraphrased question is answered from the cache and
the similarity is in the ``x-aiocache-llm-semantic-similarity`` header."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from tests.harness.upstream import Upstream

from ._support import Proxy, models

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("qdrant_client") is None
    or importlib.util.find_spec("aiocache_llm.semantic.qdrant") is None,
    reason="the qdrant semantic backend is not available",
)


def chat(text: str) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="session")
def semantic_proxy_server(proxy_factory: Any, llm_upstream_server: Upstream) -> Proxy:
    cache_params = {
        "type": "qdrant-semantic",
        "location": ":memory:",
        "qdrant_semantic_cache_embedding_model": "local",
        "similarity_threshold": 0.7,
        # embedding a question is CPU work: on a busy machine it may take longer than the
        # default 1 s deadline, which would make a lookup or store fail open (not under test)
        "backend_deadline": 30,
    }
    config = {
        "model_list": models(llm_upstream_server),
        "cache_settings": {"cache_params": cache_params},
    }
    return proxy_factory("proxy-semantic", config, None)


def test_a_paraphrase_is_a_semantic_hit_with_its_similarity(
    semantic_proxy_server: Proxy, llm_upstream: Upstream
) -> None:
    proxy = semantic_proxy_server
    first = proxy.post("/v1/chat/completions", chat("How do I reset my router password?"))
    second = proxy.post("/v1/chat/completions", chat("how can I reset my router's password"))
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert 0.7 <= float(second.headers["x-aiocache-llm-semantic-similarity"]) < 1.0
    assert second.json()["choices"] == first.json()["choices"]
    assert llm_upstream.calls("chat") == 1


def test_an_exact_hit_has_no_similarity_header(
    semantic_proxy_server: Proxy, llm_upstream: Upstream
) -> None:
    proxy = semantic_proxy_server
    proxy.post("/v1/chat/completions", chat("Which port does SSH use?"))
    again = proxy.post("/v1/chat/completions", chat("Which port does SSH use?"))
    assert again.headers["x-aiocache-llm-cache-hit"] == "true"
    assert "x-aiocache-llm-semantic-similarity" not in again.headers
