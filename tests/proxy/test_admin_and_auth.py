"""Auth with a master key, upstream errors passed through, and the admin endpoints:
/health, /cache/ping, /cache/delete, /metrics. Secrets show nowhere."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, UPSTREAM_KEY, Proxy


def ask(text: str = "Which river runs through Paris?") -> list[Any]:
    return [{"role": "user", "content": text}]


CHAT = {"model": "gpt-test", "messages": ask()}


def test_health_needs_no_key(proxy: Proxy) -> None:
    response = proxy.get("/health", key="")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
        ("POST", "/v1/embeddings"),
        ("GET", "/cache/ping"),
        ("POST", "/cache/delete"),
        ("GET", "/metrics"),
    ],
)
def test_every_other_endpoint_needs_the_master_key(proxy: Proxy, method: str, path: str) -> None:
    send = proxy.post if method == "POST" else proxy.get
    args = (path, CHAT) if method == "POST" else (path,)
    response = send(*args, key="")  # type: ignore[operator]
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "auth_error"


async def test_a_wrong_key_is_refused_like_openai_refuses_it(proxy: Proxy) -> None:
    async with AsyncOpenAI(base_url=proxy.base_url, api_key="sk-wrong", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as refused:
            await client.chat.completions.create(model="gpt-test", messages=ask())
    assert refused.value.status_code == 401
    assert "sk-wrong" not in refused.value.response.text


def test_an_upstream_error_passes_through_with_its_status(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(fail=10)  # more than the router's retries
    response = proxy.post("/v1/chat/completions", CHAT)
    assert response.status_code == 500
    assert "injected failure" in response.json()["error"]["message"]


def test_an_upstream_error_is_retried(proxy: Proxy, llm_upstream: Upstream) -> None:
    llm_upstream.configure(fail=1)
    response = proxy.post("/v1/chat/completions", CHAT)
    assert response.status_code == 200
    assert llm_upstream.calls("chat") == 2


def test_an_upstream_error_is_not_cached(proxy: Proxy, llm_upstream: Upstream) -> None:
    llm_upstream.configure(fail=10)
    failed = proxy.post("/v1/chat/completions", CHAT)
    llm_upstream.configure(fail=0)
    response = proxy.post("/v1/chat/completions", CHAT)
    assert failed.status_code == 500
    assert response.status_code == 200
    assert response.headers["x-aiocache-llm-cache-hit"] == "false"


def test_ping_reports_a_healthy_cache(proxy: Proxy) -> None:
    report = proxy.get("/cache/ping").json()
    assert report["status"] == "healthy"
    assert report["cache_type"] == "local"
    assert report["ping_response"] is True
    assert report["set_cache_response"] == "success"
    assert report["cache_params"] == {"type": "local", "ttl": 600.0}


def test_delete_removes_a_key(proxy: Proxy, llm_upstream: Upstream) -> None:
    key = proxy.post("/v1/chat/completions", CHAT).headers["x-aiocache-llm-cache-key"]
    deleted = proxy.post("/cache/delete", {"keys": [key]})
    again = proxy.post("/v1/chat/completions", CHAT)
    assert deleted.json() == {"status": "success", "deleted": [key], "not_found": []}
    assert again.headers["x-aiocache-llm-cache-hit"] == "false"
    assert llm_upstream.calls("chat") == 2


def test_delete_reports_only_the_keys_that_held_an_entry(proxy: Proxy) -> None:
    key = proxy.post("/v1/chat/completions", CHAT).headers["x-litellm-cache-key"]
    never = "llm:v1:" + "0" * 64
    answer = proxy.post("/cache/delete", {"keys": [key, never]}).json()
    assert answer == {"status": "success", "deleted": [key], "not_found": [never]}


@pytest.mark.parametrize("header", ["x-api-key", "api-key", "x-litellm-api-key"])
def test_the_key_is_accepted_in_litellm_clients_headers(proxy: Proxy, header: str) -> None:
    response = httpx.post(
        proxy.url + "/v1/chat/completions", json=CHAT, headers={header: MASTER_KEY}, timeout=10
    )
    assert response.status_code == 200
    refused = httpx.post(
        proxy.url + "/v1/chat/completions", json=CHAT, headers={header: "sk-no"}, timeout=10
    )
    assert refused.status_code == 401


def test_answers_carry_litellm_cache_key_headers_beside_ours(proxy: Proxy) -> None:
    first = proxy.post("/v1/chat/completions", CHAT)
    second = proxy.post("/v1/chat/completions", CHAT)
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    for response in (first, second):
        key = response.headers["x-litellm-cache-key"]
        assert key == response.headers["x-aiocache-llm-cache-key"]
    assert first.headers["x-litellm-cache-key"] == second.headers["x-litellm-cache-key"]


def test_delete_wants_a_list_of_keys(proxy: Proxy) -> None:
    response = proxy.post("/cache/delete", {"keys": "llm:v1:abc"})
    assert response.status_code == 400


def test_metrics_count_hits_misses_and_tokens_saved(proxy: Proxy) -> None:
    before = _samples(proxy)
    usage = proxy.post("/v1/chat/completions", CHAT).json()["usage"]
    proxy.post("/v1/chat/completions", CHAT)
    after = _samples(proxy)
    hits = 'aiocache_llm_cache_hits_total{call_type="acompletion"}'
    misses = 'aiocache_llm_cache_misses_total{call_type="acompletion"}'
    saved = 'aiocache_llm_saved_tokens_total{identity="",kind="%s",namespace=""}'
    assert after[hits] - before.get(hits, 0) == 1
    assert after[misses] - before.get(misses, 0) == 1
    total = sum(after[saved % k] - before.get(saved % k, 0) for k in ("prompt", "completion"))
    assert total == usage["total_tokens"]


def test_metrics_have_latency_histograms(proxy: Proxy) -> None:
    proxy.post("/v1/chat/completions", CHAT)
    text = proxy.get("/metrics").text
    assert "aiocache_llm_cache_lookup_seconds_bucket" in text
    assert 'aiocache_llm_proxy_request_seconds_count{cache="miss",endpoint="chat"}' in text


def test_no_secret_shows_in_metrics_ping_or_errors(proxy: Proxy, llm_upstream: Upstream) -> None:
    proxy.post("/v1/chat/completions", CHAT)
    llm_upstream.configure(fail=1)
    seen = [
        proxy.get("/metrics").text,
        proxy.get("/cache/ping").text,
        proxy.post("/v1/chat/completions", CHAT).text,
        proxy.post("/v1/chat/completions", {"model": "nope"}).text,
        proxy.get("/metrics", key="sk-wrong-key-abc").text,
    ]
    for text in seen:
        for secret in (MASTER_KEY, UPSTREAM_KEY, "sk-wrong-key-abc"):
            assert secret not in text


def test_no_secret_shows_in_the_log(proxy: Proxy) -> None:
    proxy.post("/v1/chat/completions", CHAT)
    proxy.get("/cache/ping", key="sk-wrong-key-abc")
    log = proxy.log()
    assert "POST /v1/chat/completions" in log  # the log is the server's, at debug level
    for secret in (MASTER_KEY, UPSTREAM_KEY, "sk-wrong-key-abc"):
        assert secret not in log


def _samples(proxy: Proxy) -> dict[str, float]:
    out = {}
    for line in proxy.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_an_upstream_that_does_not_answer_in_time_is_a_504(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=1.0)
    response = proxy.post("/v1/chat/completions", {**CHAT, "model": "slow-test"})
    assert response.status_code == 504, response.text
    assert response.json()["error"]["type"] == "upstream_error"


def test_a_stream_cut_off_upstream_ends_in_an_error_event_and_is_not_cached(
    proxy: Proxy, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(break_stream_after=2)
    broken = proxy.post("/v1/chat/completions", {**CHAT, "stream": True})
    again = proxy.post("/v1/chat/completions", CHAT)
    assert '"type":"upstream_error"' in broken.text.splitlines()[-2]
    assert "[DONE]" not in broken.text
    assert again.headers["x-aiocache-llm-cache-hit"] == "false"
