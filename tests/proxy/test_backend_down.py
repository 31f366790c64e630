"""A cache backend that is down never fails a request: the upstream answers it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.process import free_port
from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, REDIS_PASSWORD, Proxy, models

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Still there?"}]}


@pytest.fixture(scope="session")
def down_proxy_server(proxy_factory: Any, llm_upstream_server: Upstream) -> Proxy:
    """A proxy whose Redis cache points at a loopback port where nothing listens."""
    cache_params = {
        "type": "redis",
        "host": "127.0.0.1",
        "port": free_port(),
        "password": "os.environ/TEST_REDIS_PASSWORD",
        "socket_timeout": 0.5,
    }
    config = {
        "model_list": models(llm_upstream_server),
        "litellm_settings": {"cache": True, "cache_params": cache_params},
    }
    return proxy_factory("proxy-down", config, MASTER_KEY)


@pytest.fixture
def down_proxy(down_proxy_server: Proxy, llm_upstream: Upstream) -> Proxy:
    return down_proxy_server


def test_requests_are_answered_by_the_upstream(down_proxy: Proxy, llm_upstream: Upstream) -> None:
    first = down_proxy.post("/v1/chat/completions", CHAT)
    second = down_proxy.post("/v1/chat/completions", CHAT)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["choices"][0]["message"]["content"] == "echo: Still there?"
    assert llm_upstream.calls("chat") == 2


def test_streams_are_answered_by_the_upstream(down_proxy: Proxy, llm_upstream: Upstream) -> None:
    response = down_proxy.post("/v1/chat/completions", {**CHAT, "stream": True})
    assert response.status_code == 200
    assert response.text.rstrip().endswith("data: [DONE]")


def test_ping_says_unhealthy_without_the_password(down_proxy: Proxy) -> None:
    response = down_proxy.get("/cache/ping")
    report = response.json()
    assert response.status_code == 503
    assert report["status"] == "unhealthy"
    assert report["cache_params"]["password"] == "***"
    assert REDIS_PASSWORD not in response.text


def test_cache_errors_are_counted_in_the_metrics(down_proxy: Proxy) -> None:
    down_proxy.post("/v1/chat/completions", CHAT)
    metrics = down_proxy.get("/metrics").text
    assert 'aiocache_llm_cache_errors_total{call_type="acompletion",operation="lookup"}' in metrics
    assert REDIS_PASSWORD not in metrics


def test_the_guards_failures_show_in_every_report_of_the_stores_counters(
    down_proxy: Proxy,
) -> None:
    down_proxy.post("/v1/chat/completions", CHAT)
    errors = down_proxy.get("/cache/stats").json()["backend"]["errors"]
    assert errors >= 1  # counted by the guard, into the store's one stats sink
    metrics = down_proxy.get("/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith(_ERRORS_SAMPLE))
    assert float(line.split()[-1]) >= errors


_ERRORS_SAMPLE = 'aiocache_llm_backend_events_total{event="errors"}'


def test_the_password_is_not_in_the_log(down_proxy: Proxy) -> None:
    down_proxy.post("/v1/chat/completions", CHAT)
    assert "cache lookup failed" in down_proxy.log()
    assert REDIS_PASSWORD not in down_proxy.log()
