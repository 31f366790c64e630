"""The gateway of the provider-routing tests: OpenAI, Azure OpenAI, Anthropic and Cohere
stand-ins behind one proxy (litellm's Router), with several deployments of one model name,
deployments that cannot be reached and fall back, rerank and audio models, and a master key."""

from __future__ import annotations

from typing import Any

from tests.harness.process import LOOPBACK, free_port
from tests.harness.providers import Provider

KEYS = {
    "openai": "sk-openai-a1b2",
    "azure": "azure-key-c3d4",
    "anthropic": "sk-ant-e5f6",
    "cohere": "co-key-g7h8",
}
#: a Cohere key the Cohere stand-in refuses (and quotes in its 401)
WRONG_COHERE_KEY = "co-wrong-key-5k6m"
#: a caller's key of the gateway: team ``gw``, two models
CALLER = "sk-gw-caller-7d1e"


def gateway_config(providers: dict[str, Provider]) -> dict[str, Any]:
    dead = f"http://{LOOPBACK}:{free_port()}/v1"
    openai_params = {"api_base": providers["openai"].url + "/v1", "api_key": "os.environ/KEY_A"}
    azure_params = {
        "model": "azure/my-deployment",
        "api_base": providers["azure"].url,
        "api_key": "os.environ/KEY_B",
        "api_version": "2024-06-01",
    }
    anthropic_params = {
        "model": "anthropic/claude-3-5-haiku-20241022",
        "api_base": providers["anthropic"].url,
        "api_key": "os.environ/KEY_C",
    }
    cohere_params = {
        "model": "cohere/rerank-english-v3.0",
        "api_base": providers["cohere"].url,
        "api_key": "os.environ/KEY_D",
    }
    azure_audio = {k: v for k, v in azure_params.items() if k != "model"}
    return {
        "model_list": [
            {
                "model_name": "gpt-lb",
                "litellm_params": {"model": "openai/gpt-4o-mini", **openai_params},
            },
            {"model_name": "gpt-lb", "litellm_params": azure_params},
            {"model_name": "azure-gpt", "litellm_params": azure_params},
            {
                "model_name": "gpt-mini",
                "litellm_params": {"model": "openai/gpt-4o-mini", **openai_params},
            },
            {"model_name": "claude", "litellm_params": anthropic_params},
            {
                "model_name": "flaky",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": dead,
                    "api_key": "sk-dead-9z",
                },
            },
            # rerank and audio (appended: the entries above keep their indices)
            {"model_name": "rerank", "litellm_params": cohere_params},
            {
                "model_name": "rerank-flaky",
                "litellm_params": {**cohere_params, "api_base": dead, "api_key": "sk-dead-9z"},
            },
            {
                "model_name": "rerank-refused",
                "litellm_params": {**cohere_params, "api_key": WRONG_COHERE_KEY},
            },
            {"model_name": "whisper", "litellm_params": {"model": "azure/whisper", **azure_audio}},
            {
                "model_name": "whisper-lb",
                "litellm_params": {"model": "openai/whisper-1", **openai_params},
            },
            {
                "model_name": "whisper-lb",
                "litellm_params": {"model": "azure/whisper", **azure_audio},
            },
            {"model_name": "tts", "litellm_params": {"model": "azure/tts", **azure_audio}},
        ],
        # no cooldowns: a test's failing deployment stays in the next test's rotation
        "router_settings": {
            "num_retries": 1,
            "fallbacks": [{"flaky": ["claude"]}, {"rerank-flaky": ["rerank"]}],
            "disable_cooldowns": True,
        },
        "litellm_settings": {"cache": True, "cache_params": {"type": "local"}},
        "general_settings": {"master_key": "os.environ/TEST_MASTER_KEY"},
        "keys": [{"key": CALLER, "team_id": "gw", "models": ["claude", "gpt-mini"]}],
    }


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]
