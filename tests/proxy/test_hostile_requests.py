"""Requests a hostile caller sends, against the gateway (litellm's Router in front of the
OpenAI, Azure and Anthropic stand-ins): fields that would send a deployment's key elsewhere,
fallbacks and test switches past the key's models, bodies of the wrong shape, unknown routes
and methods, and upstream errors that quote a credential. Every answer is JSON, a 4xx for the
caller's mistakes, and no credential leaves for another host or shows in an answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.providers import Provider, start_provider

from ._gateway import CALLER, KEYS, ask
from ._support import MASTER_KEY, Proxy, start_proxy

SECRETS = (*KEYS.values(), MASTER_KEY, CALLER)


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "claude", "messages": ask("hostile"), **extra}


def _no_secret_in(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("application/json")
    for secret in SECRETS:
        assert secret not in response.text


#: body fields that would send the call (and the deployment's key) to the host ``url``
RETARGETING: list[Callable[[str], dict[str, Any]]] = [
    lambda url: {"api_base": url + "/v1"},
    lambda url: {"base_url": url + "/v1"},
    lambda url: {"extra_body": {"api_base": url + "/v1"}},
    lambda url: {"metadata": {"langfuse_host": url}},
    lambda url: {"user_config": {"model_list": [{"model_name": "claude"}]}},
]


@pytest.mark.parametrize("extra", RETARGETING)
@pytest.mark.parametrize("key", [CALLER, MASTER_KEY])
def test_a_field_that_would_retarget_the_call_is_refused_and_no_key_leaves(
    gateway: Proxy,
    providers: dict[str, Provider],
    extra: Callable[[str], dict[str, Any]],
    key: str,
) -> None:
    body = _chat(**extra(providers["openai"].url))
    response = gateway.post("/v1/chat/completions", body, key=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rejected_parameter"
    _no_secret_in(response)
    assert KEYS["anthropic"] not in providers["openai"].credentials()


def test_fallbacks_may_only_name_models_the_key_may_call(gateway: Proxy) -> None:
    body = _chat(fallbacks=["azure-gpt"])
    refused = gateway.post("/v1/chat/completions", body, key=CALLER)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    allowed = gateway.post("/v1/chat/completions", _chat(fallbacks=["gpt-mini"]), key=CALLER)
    assert allowed.status_code == 200


def test_litellms_test_switches_are_for_the_admin_only(gateway: Proxy) -> None:
    body = _chat(fallbacks=["gpt-mini"], mock_testing_fallbacks=True)
    refused = gateway.post("/v1/chat/completions", body, key=CALLER)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_only"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/chat/completions", {"model": "claude"}, "'messages' is required"),
        ("/v1/chat/completions", _chat(max_tokens="a"), "'max_tokens'"),
        ("/v1/chat/completions", _chat(temperature="hot"), "'temperature'"),
        ("/v1/chat/completions", _chat(stream="yes"), "'stream'"),
        ("/v1/chat/completions", _chat(extra_headers="x"), "'extra_headers'"),
        (
            "/v1/chat/completions",
            {"model": "claude", "messages": [{"role": "user", "content": [{"x": 1}]}]},
            "'messages'",
        ),
        ("/v1/messages", _chat(), "'max_tokens' is required"),
        ("/v1/responses", {"model": "claude", "input": None}, "'input' is required"),
        ("/v1/completions", {"model": "claude", "input": "x"}, "'prompt' is required"),
        ("/v1/embeddings", {"model": "gpt-mini", "input": "x", "stream": True}, "'stream'"),
    ],
)
def test_a_body_of_the_wrong_shape_is_a_400_naming_the_field(
    gateway: Proxy, path: str, body: dict[str, Any], field: str
) -> None:
    response = gateway.post(path, body, key=CALLER)
    assert response.status_code == 400
    assert field in response.json()["error"]["message"]
    _no_secret_in(response)


def test_a_body_litellm_cannot_send_is_a_400_not_an_unreachable_upstream(
    gateway: Proxy,
) -> None:
    image = [{"role": "user", "content": [{"type": "image"}]}]  # a part with no image
    response = gateway.post("/v1/chat/completions", {"model": "claude", "messages": image})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rejected_parameter"
    _no_secret_in(response)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/chat/completions", 405),
        ("PUT", "/cache/delete", 405),
        ("GET", "/no/such/route", 404),
        ("POST", "/v1/assistants", 404),
    ],
)
def test_unknown_routes_and_methods_answer_in_json(
    gateway: Proxy, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, gateway.url + path, headers=gateway.headers(CALLER))
    assert response.status_code == status
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_an_upstream_error_quoting_a_key_is_passed_on_without_it(tmp_path: Path) -> None:
    wrong = "sk-wrong-but-secret-5150"
    openai = start_provider(tmp_path / "openai", "openai", KEYS["openai"])  # its own
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": openai.url + "/v1",
                    "api_key": wrong,
                },
            }
        ],
        "cache_settings": {"cache_params": {"type": "local"}},
        "general_settings": {"master_key": MASTER_KEY},
    }
    proxy = start_proxy(config, tmp_path / "proxy", MASTER_KEY)
    try:
        response = proxy.post("/v1/chat/completions", {"model": "gpt", "messages": ask("x")})
        log = proxy.log()
    finally:
        proxy.process.stop()
        openai.process.stop()
    assert response.status_code == 401
    assert "Incorrect API key provided" in response.json()["error"]["message"]
    assert wrong not in response.text
    assert wrong not in log


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "claude", "messages": ask("redirected chat")}),
        (
            "/v1/messages",
            {"model": "claude", "max_tokens": 8, "messages": ask("redirected messages")},
        ),
        ("/v1/chat/completions", {"model": "azure-gpt", "messages": ask("redirected azure")}),
    ],
)
def test_a_redirect_to_another_host_is_not_followed_with_the_key(
    gateway: Proxy, providers: dict[str, Provider], path: str, body: dict[str, Any]
) -> None:
    source = providers["azure" if body["model"] == "azure-gpt" else "anthropic"]
    source.redirect(providers["openai"].url)
    try:
        response = gateway.post(path, body)
    finally:
        source.redirect("")
    assert response.status_code == 502  # an answer that is not one: not followed
    _no_secret_in(response)
    assert providers["openai"].credentials() <= {f"Bearer {KEYS['openai']}"}
    assert not [r for r in providers["openai"].seen() if r["path"].startswith("/openai/")]
