"""Bad input gets a 400 with an OpenAI-style JSON error before the upstream is called, and
nothing the proxy does after the upstream answered turns into a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.harness.upstream import Upstream

from ._support import Proxy

ASK = [{"role": "user", "content": "What is the capital of France?"}]


def _assert_refused(answer: httpx.Response, upstream: Upstream) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "invalid_request_error"
    assert "code" in error
    assert upstream.stats()["counts"] == {}
    return dict(error)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/completions", {"model": "gpt-test", "messages": 5}),
        ("/chat/completions", {"model": "gpt-test", "messages": "hi"}),
        ("/chat/completions", {"model": "gpt-test", "messages": [5]}),
        ("/chat/completions", {"model": "gpt-test", "messages": {"role": "user"}}),
        ("/embeddings", {"model": "embed-test", "input": 5}),
        ("/embeddings", {"model": "embed-test", "input": True}),
        ("/embeddings", {"model": "embed-test", "input": [1.5]}),
        ("/embeddings", {"model": "embed-test", "input": {"text": "hi"}}),
        ("/messages", {"model": "gpt-test", "max_tokens": 8, "messages": 5}),
        ("/responses", {"model": "gpt-test", "input": 5}),
        ("/completions", {"model": "gpt-test", "prompt": 5}),
    ],
)
def test_arguments_of_the_wrong_shape_get_a_400_before_the_upstream(
    proxy: Proxy, llm_upstream: Upstream, path: str, body: dict[str, Any]
) -> None:
    error = _assert_refused(proxy.post("/v1" + path, body), llm_upstream)
    assert error["code"] == "invalid_request"


@pytest.mark.parametrize("namespace", [5, "", "tenant-\ud800"])
def test_a_namespace_the_proxy_cannot_use_gets_a_400(
    proxy: Proxy, llm_upstream: Upstream, namespace: Any
) -> None:
    body = {"model": "gpt-test", "messages": ASK, "cache": {"namespace": namespace}}
    raw = httpx.post(  # json.dumps escapes a lone surrogate as \\ud800, as a client would
        proxy.base_url + "/chat/completions",
        content=json.dumps(body).encode(),
        headers={**proxy.headers(), "content-type": "application/json"},
        timeout=10,
    )
    _assert_refused(raw, llm_upstream)


@pytest.mark.parametrize("namespace", ["客户-ключ", "line\nbreak", "tab\tand space"])
def test_a_namespace_beyond_header_text_is_served_and_cached(
    proxy: Proxy, llm_upstream: Upstream, namespace: str
) -> None:
    body = {"model": "gpt-test", "messages": ASK, "cache": {"namespace": namespace}}
    first = proxy.post("/v1/chat/completions", body)
    second = proxy.post("/v1/chat/completions", body)
    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert unquote(second.headers["x-aiocache-llm-cache-key"]).startswith(namespace + ":")
    assert llm_upstream.calls() == 1


def test_an_answer_the_cache_cannot_read_still_reaches_the_caller(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(ending="error")  # a 200 whose body is {"error": ...}
    answer = proxy.post("/v1/chat/completions", {"model": "gpt-test", "messages": ASK})
    assert answer.status_code == 200
    assert "error" in answer.json()
    assert proxy.post("/v1/chat/completions", {"model": "gpt-test", "messages": ASK}).json()
    assert llm_upstream.calls() == 2
