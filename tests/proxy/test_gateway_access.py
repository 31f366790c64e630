"""Access control as LiteLLM's proxy users expect it: the master key is the admin, callers use
the config's API keys (team, allowed models, rate limits), admin routes need the admin, a
caller deletes only in its own scope and learns nothing of another's, and a keyless proxy
must be asked for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.proxy import create_app, parse_config
from aiocache_llm.proxy.secrets import mask_secrets
from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, ROOT, Proxy, models

ALICE = "sk-alice-team-a-11"
BOB = "sk-bob-team-a-22"
CAROL = "sk-carol-team-b-33"
LIMITED = "sk-limited-44"
CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "What is our plan?"}]}


@pytest.fixture(scope="session")
def gateway_server(proxy_factory: Any, llm_upstream_server: Upstream) -> Proxy:
    config = {
        "model_list": models(llm_upstream_server),
        "keys": [
            {
                "key": "os.environ/ALICE_KEY",
                "key_alias": "alice",
                "team_id": "team-a",
                "models": ["gpt-test"],
            },
            {"key": BOB, "key_alias": "bob", "team_id": "team-a"},
            {"key": CAROL, "key_alias": "carol", "team_id": "team-b"},
            {"key": LIMITED, "key_alias": "limited", "rpm_limit": 2},
        ],
        "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
        "general_settings": {
            "master_key": "os.environ/TEST_MASTER_KEY",
            "public_routes": ["/cache/delete"],
        },
    }
    return proxy_factory("proxy-gateway-access", config, MASTER_KEY, env={"ALICE_KEY": ALICE})


@pytest.fixture
def gateway(gateway_server: Proxy, llm_upstream: Upstream) -> Proxy:
    gateway_server.post("/cache/flushall", {}).raise_for_status()
    return gateway_server


def chat(proxy: Proxy, key: str, body: dict[str, Any] = CHAT) -> Any:
    return proxy.post("/v1/chat/completions", body, key=key)


def test_a_configured_key_is_served_and_an_unknown_one_refused(gateway: Proxy) -> None:
    assert chat(gateway, ALICE).status_code == 200
    refused = chat(gateway, "sk-nobody")
    assert refused.status_code == 401
    assert "sk-nobody" not in refused.text


def test_a_key_calls_only_its_allowed_models(gateway: Proxy) -> None:
    refused = gateway.post("/v1/embeddings", {"model": "embed-test", "input": "x"}, key=ALICE)
    allowed = gateway.post("/v1/embeddings", {"model": "embed-test", "input": "x"}, key=BOB)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert allowed.status_code == 200
    listed = {m["id"] for m in gateway.get("/v1/models", key=ALICE).json()["data"]}
    assert listed == {"gpt-test"}


def test_a_team_shares_its_entries_and_another_team_never_sees_them(
    gateway: Proxy, llm_upstream: Upstream
) -> None:
    alice = chat(gateway, ALICE)
    bob = chat(gateway, BOB)
    carol = chat(gateway, CAROL)
    assert alice.headers["x-aiocache-llm-cache-hit"] == "false"
    assert bob.headers["x-aiocache-llm-cache-hit"] == "true"
    assert carol.headers["x-aiocache-llm-cache-hit"] == "false"
    assert llm_upstream.calls("chat") == 2


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/cache/flushall"), ("GET", "/cache/stats"), ("GET", "/metrics")],
)
def test_admin_routes_refuse_a_callers_key_and_serve_the_master_key(
    gateway: Proxy, method: str, path: str
) -> None:
    send = gateway.post if method == "POST" else gateway.get
    args: tuple[Any, ...] = (path, {}) if method == "POST" else (path,)
    refused = send(*args, key=ALICE)
    served = send(*args, key=MASTER_KEY)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_only"
    assert served.status_code == 200


def test_a_caller_deletes_its_own_entries(gateway: Proxy) -> None:
    key = chat(gateway, ALICE).headers["x-aiocache-llm-cache-key"]
    deleted = gateway.post("/cache/delete", {"keys": [key]}, key=BOB)  # same team
    again = chat(gateway, ALICE)
    assert deleted.json() == {"status": "success", "deleted": [key], "not_found": []}
    assert again.headers["x-aiocache-llm-cache-hit"] == "false"


def test_another_scopes_entry_answers_as_a_key_that_holds_nothing_and_stays(
    gateway: Proxy,
) -> None:
    held = chat(gateway, ALICE).headers["x-aiocache-llm-cache-key"]
    empty = "s-" + "0" * 32 + ":llm:v1:" + "0" * 64
    probe_held = gateway.post("/cache/delete", {"keys": [held]}, key=CAROL)
    probe_empty = gateway.post("/cache/delete", {"keys": [empty]}, key=CAROL)
    still = chat(gateway, ALICE)
    assert probe_held.status_code == probe_empty.status_code == 200
    assert probe_held.json() == {"status": "success", "deleted": [], "not_found": [held]}
    assert probe_empty.json() == {"status": "success", "deleted": [], "not_found": [empty]}
    assert still.headers["x-aiocache-llm-cache-hit"] == "true"


def test_a_callers_own_namespace_stays_inside_its_scope(gateway: Proxy) -> None:
    body = {**CHAT, "cache": {"namespace": "shared-looking"}}
    alice = chat(gateway, ALICE, body)
    carol = chat(gateway, CAROL, body)
    key = alice.headers["x-aiocache-llm-cache-key"]
    assert carol.headers["x-aiocache-llm-cache-hit"] == "false"
    assert "/shared-looking:" in key
    assert gateway.post("/cache/delete", {"keys": [key]}, key=CAROL).json()["deleted"] == []


def test_a_key_over_its_requests_per_minute_is_refused(gateway: Proxy) -> None:
    statuses = [chat(gateway, LIMITED).status_code for _ in range(5)]
    assert 429 in statuses  # at most one minute boundary falls inside five requests
    assert set(statuses) <= {200, 429}


def test_the_metrics_carry_no_identity_by_default(gateway: Proxy) -> None:
    chat(gateway, ALICE)
    chat(gateway, ALICE)
    text = gateway.get("/metrics", key=MASTER_KEY).text
    assert re.search(r'(identity|namespace)="[^"]', text) is None  # the labels stay empty
    assert "team-a" not in text
    for secret in (ALICE, BOB, CAROL, MASTER_KEY):
        assert secret not in text


def test_no_key_anywhere_and_no_explicit_keyless_mode_is_refused() -> None:
    config = parse_config({"cache_settings": {"cache_params": {"type": "local"}}}, {})
    with pytest.raises(ConfigurationError) as refused:
        create_app(config)
    assert "allow_unauthenticated" in str(refused.value)


def test_a_keyless_proxy_listens_on_loopback_only(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"general_settings": {"allow_unauthenticated": True}}))
    argv = [sys.executable, "-m", "aiocache_llm", "serve", "--config", str(path)]
    argv += ["--host", "0.0.0.0", "--port", "1"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env())
    assert result.returncode == 1
    assert "loopback only" in result.stderr


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("redis://127.0.0.1:6379/0?password=pw-in-query-1", "pw-in-query-1"),
        ("redis://user:p@ss@w0rd-2@127.0.0.1:6379/0", "p@ss@w0rd-2"),
        ("rediss://:tok3n@127.0.0.1:6380?ssl_cert_reqs=none&password=again", "again"),
    ],
)
def test_a_password_in_a_url_is_masked(url: str, secret: str) -> None:
    masked = mask_secrets({"url": url})["url"]
    assert secret not in masked
    assert "***" in masked
    assert "127.0.0.1" in masked
