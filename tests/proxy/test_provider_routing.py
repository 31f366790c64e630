"""Provider routing through ``litellm.Router``: OpenAI, Azure OpenAI and Anthropic stand-ins
behind one proxy, several deployments of one model name, fallbacks, the cache in front, and
every credential sent only to its own entry's host. Without litellm, the proxy refuses at
start-up what it could only serve wrongly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai import OpenAI

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.proxy.config import parse_config
from tests.harness.providers import Provider

from ._gateway import KEYS, ask, gateway_config
from ._support import MASTER_KEY, ROOT, Proxy, start_proxy

_BLOCKER = """
import sys

class _NoLitellm:
    def find_spec(self, name, path=None, target=None):
        if name == "litellm" or name.startswith("litellm."):
            raise ImportError("litellm is not installed here")
        return None

sys.meta_path.insert(0, _NoLitellm())
"""


@pytest.fixture
def client(gateway: Proxy) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def test_an_anthropic_deployment_answers_in_openais_format_and_is_cached(
    client: OpenAI, providers: dict[str, Provider]
) -> None:
    first = client.chat.completions.with_raw_response.create(
        model="claude", messages=ask("hi claude")
    )
    second = client.chat.completions.with_raw_response.create(
        model="claude", messages=ask("hi claude")
    )
    answer = first.parse()
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == "echo: hi claude [from anthropic]"
    assert answer.choices[0].finish_reason == "stop"
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert second.parse().choices[0].message.content == answer.choices[0].message.content
    assert [r["path"] for r in providers["anthropic"].seen()].count("/v1/messages") >= 1


def test_an_azure_deployment_is_called_on_its_deployment_path_with_its_api_key_header(
    client: OpenAI, providers: dict[str, Provider]
) -> None:
    answer = client.chat.completions.create(model="azure-gpt", messages=ask("hi azure"))
    assert answer.choices[0].message.content == "echo: hi azure [from azure]"
    paths = {r["path"] for r in providers["azure"].seen()}
    assert "/openai/deployments/my-deployment/chat/completions" in paths


def test_an_anthropic_stream_comes_back_as_openai_chunks_and_replays_from_the_cache(
    client: OpenAI,
) -> None:
    def streamed() -> str:
        chunks = client.chat.completions.create(
            model="claude", messages=ask("stream please"), stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    assert streamed() == "echo: stream please [from anthropic]"
    assert streamed() == "echo: stream please [from anthropic]"


def test_several_deployments_of_one_model_name_share_the_requests(client: OpenAI) -> None:
    answered = set()
    for i in range(24):
        text = client.chat.completions.create(model="gpt-lb", messages=ask(f"q{i}"))
        answered.add((text.choices[0].message.content or "").rsplit("[from ", 1)[-1])
    assert answered == {"openai]", "azure]"}


def test_a_failing_deployment_falls_back_to_the_configured_model(client: OpenAI) -> None:
    answer = client.chat.completions.create(model="flaky", messages=ask("fall back"))
    assert answer.choices[0].message.content == "echo: fall back [from anthropic]"


def test_every_credential_went_only_to_its_own_entrys_host(
    client: OpenAI, providers: dict[str, Provider]
) -> None:
    for model in ("gpt-lb", "azure-gpt", "claude", "flaky"):
        client.chat.completions.create(model=model, messages=ask(f"who gets keys {model}"))
    assert providers["openai"].credentials() == {f"Bearer {KEYS['openai']}"}
    assert providers["azure"].credentials() == {KEYS["azure"]}
    assert providers["anthropic"].credentials() == {KEYS["anthropic"]}


def test_an_upstream_refusal_never_quotes_a_credential(
    gateway: Proxy, providers: dict[str, Provider]
) -> None:
    providers["anthropic"].fail(10)
    try:
        body = {"model": "claude", "messages": ask("refused")}
        response = gateway.post("/v1/chat/completions", body)
    finally:
        providers["anthropic"].fail(0)
    assert response.status_code >= 500
    for secret in (*KEYS.values(), MASTER_KEY):
        assert secret not in response.text
        assert secret not in gateway.log()


# -- without litellm -------------------------------------------------------------------------


def _without_litellm(tmp_path: Path) -> dict[str, str]:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(_BLOCKER)
    path = os.pathsep.join([str(blocker), str(ROOT)])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "KEY_A": "a",
        "KEY_B": "b",
        "KEY_C": "c",
        "KEY_D": "d",
    }


def test_without_litellm_other_providers_are_refused_at_start_up_naming_entry_and_extra(
    tmp_path: Path, providers: dict[str, Provider]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(gateway_config(providers)))
    argv = [sys.executable, "-m", "aiocache_llm", "config", "check", "--config", str(path)]
    env = {**_without_litellm(tmp_path), "TEST_MASTER_KEY": MASTER_KEY}
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "model_list[1] (gpt-lb): the provider 'azure'" in result.stderr
    assert "model_list[4] (claude): the provider 'anthropic'" in result.stderr
    assert "a second deployment of 'gpt-lb'" in result.stderr
    assert "router_settings (disable_cooldowns, fallbacks, num_retries)" in result.stderr
    assert "pip install 'aiocache-llm[litellm]'" in result.stderr


def test_without_litellm_openai_compatible_entries_are_served(
    tmp_path: Path, providers: dict[str, Provider]
) -> None:
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": providers["openai"].url + "/v1",
                    "api_key": "os.environ/KEY_A",
                },
            }
        ],
        "cache_settings": {"cache_params": {"type": "local"}},
        "general_settings": {"master_key": "os.environ/TEST_MASTER_KEY"},
    }
    env = _without_litellm(tmp_path)
    env["KEY_A"] = KEYS["openai"]
    proxy = start_proxy(config, tmp_path / "proxy", MASTER_KEY, env=env)
    try:
        body = {"model": "gpt", "messages": ask("no litellm")}
        first = proxy.post("/v1/chat/completions", body)
        second = proxy.post("/v1/chat/completions", body)
        with OpenAI(base_url=proxy.base_url, api_key=MASTER_KEY, max_retries=0) as client:
            stream = client.chat.completions.create(
                model="gpt", messages=ask("multi-line events"), stream=True
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        proxy.process.stop()
    assert first.json()["choices"][0]["message"]["content"] == "echo: no litellm [from openai]"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert streamed == "echo: multi-line events [from openai]"


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"model": "bedrock/anthropic.claude-v2"}, "'bedrock'"),
        ({"model": "vertex_ai/gemini-pro"}, "'vertex_ai'"),
        ({"model": "anthropic/claude-3"}, "'anthropic'"),
    ],
)
def test_the_openai_compatible_router_refuses_other_providers(
    entry: dict[str, Any], named: str
) -> None:
    raw = {
        "model_list": [{"model_name": "m", "litellm_params": entry}],
        "general_settings": {"router": "openai-compatible", "master_key": "sk-1234"},
    }
    with pytest.raises(ConfigurationError) as refused:
        parse_config(raw, {})
    assert f"model_list[0] (m): the provider {named}" in str(refused.value)


def test_the_openai_compatible_router_refuses_litellm_settings_it_would_ignore() -> None:
    raw = {
        "litellm_settings": {"cache": True, "json_logs": True, "callbacks": ["x"]},
        "general_settings": {"router": "openai-compatible", "master_key": "sk-1234"},
    }
    with pytest.raises(ConfigurationError) as refused:
        parse_config(raw, {})
    assert "litellm_settings (callbacks, json_logs)" in str(refused.value)


def test_a_hit_is_priced_by_litellms_local_cost_map(client: OpenAI, gateway: Proxy) -> None:
    client.chat.completions.create(model="gpt-mini", messages=ask("what does it cost"))
    client.chat.completions.create(model="gpt-mini", messages=ask("what does it cost"))
    metrics = gateway.get("/metrics").text
    cost = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('aiocache_llm_saved_cost_usd_total{identity="",namespace=""}')
    ]
    assert cost and cost[0] > 0
    assert "raw.githubusercontent.com" not in gateway.log()  # the map was never fetched


_STATE_PROBE = """
import json, sys
from aiocache_llm.proxy.app import ProxyState
from aiocache_llm.proxy.config import parse_config

state = ProxyState(parse_config(json.loads(sys.argv[1]), {}))
price = state.cache.events.price("gpt-4o-mini")
print(json.dumps([state.router is not None, "litellm" in sys.modules, price]))
"""


def _routing_config(entries: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    cache = {"cache": True, "cache_params": {"type": "local"}}
    return {
        "model_list": [{"model_name": "m", "litellm_params": e} for e in entries],
        "general_settings": {"master_key": "sk-1234"},
        **settings,
        "litellm_settings": {**cache, **settings.get("litellm_settings", {})},
    }


@pytest.mark.parametrize(
    ("entries", "settings", "routed"),
    [
        ([{"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1"}], {}, False),
        ([{"model": "gpt-4o-mini"}], {"litellm_settings": {}}, False),
        ([{"model": "gpt-4o-mini"}, {"model": "gpt-4o-mini"}], {}, True),
        ([{"model": "anthropic/claude-3"}], {}, True),
        ([{"model": "gpt-4o-mini"}], {"router_settings": {"num_retries": 1}}, True),
        ([{"model": "gpt-4o-mini"}], {"litellm_settings": {"json_logs": True}}, True),
    ],
)
def test_the_router_is_needed_only_when_a_request_can_take_it(
    entries: list[dict[str, Any]], settings: dict[str, Any], routed: bool
) -> None:
    assert parse_config(_routing_config(entries, settings), {}).router_needed() is routed


def test_a_proxy_without_routed_requests_never_imports_litellm() -> None:
    entries = [{"model": "openai/gpt-4o-mini", "api_base": "http://127.0.0.1:9/v1"}]
    done = subprocess.run(
        [sys.executable, "-c", _STATE_PROBE, json.dumps(_routing_config(entries, {}))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    router, imported, price = json.loads(done.stdout.splitlines()[-1])
    assert (router, imported) == (False, False)
    # hits are priced by litellm's own cost map (the file its package ships)
    assert price is not None and price[0] > 0
