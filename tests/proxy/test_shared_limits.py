"""A key's rate limits hold across the proxy's processes when its cache is a shared store
(Redis): every process counts in the store with the library's counters; a store that is down
falls back to the process's own counters and never refuses a request for that."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.harness.process import free_port
from tests.harness.redis import RedisServer
from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, Proxy, models

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "How many so far?"}]}


def _config(upstream: Upstream, cache_params: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "model_list": models(upstream),
        "keys": [{"key": key, "key_alias": "limited", "rpm_limit": 3}],
        "litellm_settings": {"cache": True, "cache_params": cache_params},
        "general_settings": {"master_key": "os.environ/TEST_MASTER_KEY"},
    }


def _early_in_a_minute() -> None:
    """Wait (at most 15 s) until a minute's window has time left for a few requests."""
    while time.time() % 60 > 45:
        time.sleep(0.5)


def test_a_keys_rpm_limit_holds_across_two_proxy_processes_sharing_redis(
    proxy_factory: Any, llm_upstream_server: Upstream, redis_server: RedisServer
) -> None:
    key = f"sk-shared-{uuid.uuid4().hex[:12]}"  # its own counters in the session's Redis
    params = {"type": "redis", "host": redis_server.host, "port": redis_server.port}
    config = _config(llm_upstream_server, params, key)
    one: Proxy = proxy_factory("proxy-limits-1", config, MASTER_KEY)
    two: Proxy = proxy_factory("proxy-limits-2", config, MASTER_KEY)
    _early_in_a_minute()
    statuses = [p.post("/v1/chat/completions", CHAT, key=key).status_code for p in (one, two)]
    statuses += [p.post("/v1/chat/completions", CHAT, key=key).status_code for p in (one, two)]
    assert statuses == [200, 200, 200, 429]
    refused = two.post("/v1/chat/completions", CHAT, key=key)
    assert refused.json()["error"]["code"] == "rpm_limit"
    assert key not in refused.text


def test_a_store_that_is_down_counts_in_the_process_and_never_refuses_for_that(
    proxy_factory: Any, llm_upstream_server: Upstream
) -> None:
    key = "sk-limited-down-55"
    params = {"type": "redis", "host": "127.0.0.1", "port": free_port(), "socket_timeout": 0.5}
    proxy: Proxy = proxy_factory(
        "proxy-limits-down", _config(llm_upstream_server, params, key), MASTER_KEY
    )
    _early_in_a_minute()
    statuses = [proxy.post("/v1/chat/completions", CHAT, key=key).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "rate-limit counters: the shared store failed" in proxy.log()
