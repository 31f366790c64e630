"""Proxies for the proxy tests: ``python -m aiocache_llm serve`` on loopback ports, in front of
the stand-in upstream, each started once per session from its own config file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.harness.providers import Provider, start_provider
from tests.harness.upstream import Upstream

from ._gateway import KEYS, gateway_config
from ._support import MASTER_KEY, Proxy, models, start_proxy

ProxyFactory = Callable[..., Proxy]


@pytest.fixture(scope="session")
def proxy_factory(
    tmp_path_factory: pytest.TempPathFactory, llm_upstream_server: Upstream
) -> Iterator[ProxyFactory]:
    """Starts proxies that live until the session ends (at most one per name)."""
    started: dict[str, Proxy] = {}

    def start(
        name: str, config: dict[str, Any], key: str | None, env: dict[str, str] | None = None
    ) -> Proxy:
        if name not in started:
            started[name] = start_proxy(config, tmp_path_factory.mktemp(name), key, env=env)
        return started[name]

    try:
        yield start
    finally:
        for proxy in started.values():
            proxy.process.stop()


@pytest.fixture(scope="session")
def proxy_server(proxy_factory: ProxyFactory, llm_upstream_server: Upstream) -> Proxy:
    """The main proxy: a master key, an in-memory cache, per-key entries."""
    config = {
        "model_list": models(llm_upstream_server),
        "litellm_settings": {"cache": True, "cache_params": {"type": "local", "ttl": 600}},
        "general_settings": {"master_key": "os.environ/TEST_MASTER_KEY"},
    }
    return proxy_factory("proxy-main", config, MASTER_KEY)


@pytest.fixture
def proxy(proxy_server: Proxy, llm_upstream: Upstream) -> Iterator[Proxy]:
    """The main proxy with its cache emptied and the upstream's counters cleared."""
    proxy_server.post("/cache/flushall", {}).raise_for_status()
    yield proxy_server


@pytest.fixture
async def client(proxy: Proxy) -> AsyncIterator[AsyncOpenAI]:
    """The real OpenAI SDK, pointed at the main proxy."""
    async with AsyncOpenAI(base_url=proxy.base_url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture(scope="package")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Provider]]:
    started: dict[str, Provider] = {}
    try:
        for name, key in KEYS.items():
            started[name] = start_provider(tmp_path_factory.mktemp(name), name, key)
        yield started
    finally:
        for provider in started.values():
            provider.process.stop()


@pytest.fixture(scope="package")
def gateway(
    providers: dict[str, Provider], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    env = {"KEY_A": KEYS["openai"], "KEY_B": KEYS["azure"], "KEY_C": KEYS["anthropic"]}
    env["KEY_D"] = KEYS["cohere"]
    proxy = start_proxy(
        gateway_config(providers), tmp_path_factory.mktemp("gateway"), MASTER_KEY, env=env
    )
    try:
        yield proxy
    finally:
        proxy.process.stop()
