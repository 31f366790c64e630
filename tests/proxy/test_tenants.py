"""Without a master key, callers bring their own keys: each key gets its own cache entries
(keyed by a hash of the key), unless the config shares the cache."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.upstream import Upstream

from ._support import Proxy, models

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Who am I?"}]}


@pytest.fixture(scope="session")
def open_proxy_server(proxy_factory: Any, llm_upstream_server: Upstream) -> Proxy:
    config = {
        "model_list": models(llm_upstream_server),
        "cache_settings": {"cache": True, "cache_params": {"type": "local"}},
        "general_settings": {"allow_flush_without_master_key": True},
    }
    return proxy_factory("proxy-open", config, None)


@pytest.fixture(scope="session")
def shared_proxy_server(proxy_factory: Any, llm_upstream_server: Upstream) -> Proxy:
    config = {
        "model_list": models(llm_upstream_server),
        "cache_settings": {"cache_params": {"type": "local", "shared": True}},
        "general_settings": {"allow_flush_without_master_key": True},
    }
    return proxy_factory("proxy-shared", config, None)


@pytest.fixture
def open_proxy(open_proxy_server: Proxy, llm_upstream: Upstream) -> Proxy:
    open_proxy_server.post("/cache/flushall", {}).raise_for_status()
    return open_proxy_server


@pytest.fixture
def shared_proxy(shared_proxy_server: Proxy, llm_upstream: Upstream) -> Proxy:
    shared_proxy_server.post("/cache/flushall", {}).raise_for_status()
    return shared_proxy_server


def test_one_keys_entry_is_never_served_to_another_key(
    open_proxy: Proxy, llm_upstream: Upstream
) -> None:
    alice = open_proxy.post("/v1/chat/completions", CHAT, key="sk-alice")
    bob = open_proxy.post("/v1/chat/completions", CHAT, key="sk-bob")
    assert bob.headers["x-aiocache-llm-cache-hit"] == "false"
    assert bob.headers["x-aiocache-llm-cache-key"] != alice.headers["x-aiocache-llm-cache-key"]
    assert llm_upstream.calls("chat") == 2


def test_the_same_key_gets_its_own_entries_back(open_proxy: Proxy, llm_upstream: Upstream) -> None:
    open_proxy.post("/v1/chat/completions", CHAT, key="sk-alice")
    again = open_proxy.post("/v1/chat/completions", CHAT, key="sk-alice")
    assert again.headers["x-aiocache-llm-cache-hit"] == "true"


def test_a_shared_cache_serves_every_key(shared_proxy: Proxy, llm_upstream: Upstream) -> None:
    shared_proxy.post("/v1/chat/completions", CHAT, key="sk-alice")
    bob = shared_proxy.post("/v1/chat/completions", CHAT, key="sk-bob")
    assert bob.headers["x-aiocache-llm-cache-hit"] == "true"
    assert llm_upstream.calls("chat") == 1


def test_the_callers_key_is_nowhere_in_the_cache_key(open_proxy: Proxy) -> None:
    answer = open_proxy.post("/v1/chat/completions", CHAT, key="sk-alice-secret")
    assert "alice" not in answer.headers["x-aiocache-llm-cache-key"]
    assert "sk-alice-secret" not in open_proxy.get("/metrics").text


def test_without_a_master_key_no_caller_may_flush_every_tenants_entries(
    proxy_factory: Any, llm_upstream_server: Upstream
) -> None:
    config = {
        "model_list": models(llm_upstream_server),
        "cache_settings": {"cache_params": {"type": "local"}},
    }
    proxy = proxy_factory("proxy-open-no-flush", config, None)
    kept = proxy.post("/v1/chat/completions", CHAT, key="sk-alice")
    refused = proxy.post("/cache/flushall", {}, key="sk-mallory")
    again = proxy.post("/v1/chat/completions", CHAT, key="sk-alice")
    assert refused.status_code == 403
    assert "general_settings.master_key" in refused.json()["error"]["message"]
    assert kept.headers["x-aiocache-llm-cache-hit"] == "false"
    assert again.headers["x-aiocache-llm-cache-hit"] == "true"
