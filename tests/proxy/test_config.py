"""The config file: LiteLLM's proxy format, environment references, the embedded default, and
mistakes reported by the name of the field."""

from __future__ import annotations

from typing import Any

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.proxy.config import mask_secrets, parse_config

ENV = {"OPENAI_API_KEY": "sk-from-env", "REDIS_PASSWORD": "pw-from-env"}
MODEL = {
    "model_name": "gpt-4o",
    "litellm_params": {"model": "openai/gpt-4o-2024", "api_key": "os.environ/OPENAI_API_KEY"},
}


def fails(raw: Any, environ: dict[str, str] = ENV) -> str:
    with pytest.raises(ConfigurationError) as failure:
        parse_config(raw, environ)
    return str(failure.value)


def test_a_model_maps_to_its_upstream_name_base_and_key() -> None:
    config = parse_config({"model_list": [MODEL]}, ENV)
    deployment = config.deployment("gpt-4o")
    assert deployment is not None
    assert (deployment.model, deployment.api_base) == ("gpt-4o-2024", "https://api.openai.com/v1")
    assert deployment.api_key == "sk-from-env"


def test_the_litellm_cache_section_builds_the_cache() -> None:
    raw = {
        "litellm_settings": {
            "cache": True,
            "cache_params": {"type": "local", "ttl": 60, "namespace": "prod"},
        }
    }
    cache = parse_config(raw, ENV).cache.build(None)
    assert cache is not None
    assert (cache.type, cache.ttl, cache.namespace) == ("local", 60.0, "prod")


def test_without_a_cache_section_the_cache_is_on_disk() -> None:
    assert parse_config({}, ENV).cache.params == {"type": "disk"}


def test_cache_false_turns_caching_off() -> None:
    config = parse_config({"cache_settings": {"cache": False}}, ENV)
    assert config.cache.build(None) is None


def test_the_master_key_can_come_from_the_environment() -> None:
    raw = {"general_settings": {"master_key": "os.environ/OPENAI_API_KEY"}}
    assert parse_config(raw, ENV).master_key == "sk-from-env"


def test_the_environment_variables_section_feeds_references() -> None:
    raw = {
        "environment_variables": {"PROXY_KEY": "sk-from-section"},
        "general_settings": {"master_key": "os.environ/PROXY_KEY"},
    }
    assert parse_config(raw, ENV).master_key == "sk-from-section"


def test_a_missing_environment_variable_names_the_field_and_the_variable() -> None:
    raw = {"general_settings": {"master_key": "os.environ/PROXY_KEY"}}
    assert fails(raw) == (
        "general_settings.master_key: the environment variable PROXY_KEY is not set"
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"model_list": [{"litellm_params": {}}]}, "model_list[0].model_name"),
        (
            {"model_list": [{"model_name": "m", "litellm_params": {"api_base": "ftp://x"}}]},
            "model_list[0].litellm_params.api_base",
        ),
        ({"litellm_settings": {"cache_params": {"type": "memcache"}}}, "cache_params.type"),
        ({"litellm_settings": {"cache_params": {"ttl": -1}}}, "cache_params.ttl"),
        ({"cache_settings": {"cache_params": {"mode": "always"}}}, "cache_params.mode"),
        (
            {"cache_settings": {"cache_params": {"supported_call_types": ["chat"]}}},
            "cache_params.supported_call_types",
        ),
        ({"general_settings": {"request_timeout": "long"}}, "general_settings.request_timeout"),
        ({"modle_list": []}, "modle_list"),
        ({"cache_settings": {"cache_parms": {}}}, "cache_settings.cache_parms"),
    ],
)
def test_a_bad_field_is_named_in_the_error(raw: dict[str, Any], field: str) -> None:
    assert field in fails(raw)


def test_a_parameter_the_backend_does_not_take_is_named() -> None:
    config = parse_config({"cache_settings": {"cache_params": {"type": "local", "hots": "x"}}})
    with pytest.raises(ConfigurationError, match=r"cache_params: .*hots"):
        config.cache.build(None)


def test_masking_hides_passwords_keys_and_url_credentials() -> None:
    masked = mask_secrets(
        {
            "type": "redis",
            "host": "127.0.0.1",
            "password": "hunter2",
            "url": "redis://user:hunter2@127.0.0.1:6379/0",
            "s3_aws_secret_access_key": "abc",
        }
    )
    assert masked == {
        "type": "redis",
        "host": "127.0.0.1",
        "password": "***",
        "url": "redis://user:***@127.0.0.1:6379/0",
        "s3_aws_secret_access_key": "***",
    }


def test_an_unknown_general_setting_is_an_error_naming_it_and_the_likely_key() -> None:
    message = fails({"general_settings": {"master_kye": "sk-1234"}})
    assert message.startswith("general_settings.master_kye: unknown setting; did you mean")
    assert "'master_key'" in message


def test_a_litellm_general_setting_without_effect_here_is_accepted() -> None:
    raw = {"general_settings": {"user_api_key_cache_ttl": 60, "master_key": "sk-1234"}}
    assert parse_config(raw, ENV).master_key == "sk-1234"


def test_an_unquoted_yaml_date_is_read_as_its_text() -> None:
    import yaml

    raw = yaml.safe_load(
        "litellm_settings:\n  cache_params:\n    type: s3\n"
        "    s3_bucket_name: b\n    s3_api_version: 2006-03-01\n"
    )
    params = parse_config(raw, ENV).cache.params
    assert params is not None and params["s3_api_version"] == "2006-03-01"


def test_semantic_settings_on_a_plain_redis_cache_name_the_field() -> None:
    raw = {"litellm_settings": {"cache_params": {"type": "redis", "similarity_threshold": 0.8}}}
    assert fails(raw).startswith("litellm_settings.cache_params.similarity_threshold: only a")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_HOST", "127.0.0.1"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("REDIS_CLUSTER_NODES", '[{"host": "127.0.0.1", "port": "7001"}]'),
    ],
)
def test_cache_true_without_a_type_is_redis_when_redis_is_configured(
    variable: str, value: str
) -> None:
    config = parse_config({"litellm_settings": {"cache": True}}, {variable: value})
    assert config.cache.params == {"type": "redis"}
    assert variable in config.cache.reason


def test_cache_true_without_a_type_or_redis_variables_is_the_disk_cache() -> None:
    config = parse_config({"litellm_settings": {"cache": True}}, {})
    assert config.cache.params == {"type": "disk"}
    assert "no REDIS_HOST" in config.cache.reason


def test_the_embedding_model_must_be_a_model_list_name() -> None:
    raw = {
        "model_list": [MODEL],
        "litellm_settings": {
            "cache_params": {
                "type": "redis-semantic",
                "redis_semantic_cache_embedding_model": "azure-embedding-model",
            }
        },
    }
    message = fails(raw)
    assert message.startswith(
        "litellm_settings.cache_params.redis_semantic_cache_embedding_model: 'azure-embedding"
    )
    assert "not a model_name of model_list" in message


def test_the_embedding_model_resolves_to_its_deployment() -> None:
    embed = {
        "model_name": "my-embedder",
        "litellm_params": {"model": "openai/text-embedding-3-small", "api_base": "http://x/v1"},
    }
    raw = {
        "model_list": [MODEL, embed],
        "litellm_settings": {
            "cache_params": {
                "type": "redis-semantic",
                "redis_semantic_cache_embedding_model": "my-embedder",
            }
        },
    }
    deployment = parse_config(raw, ENV).cache.embedders["redis_semantic_cache_embedding_model"]
    assert (deployment.model, deployment.api_base) == ("text-embedding-3-small", "http://x/v1")


def test_s3_access_key_ids_are_masked() -> None:
    masked = mask_secrets({"s3_aws_access_key_id": "AKIA123", "s3_aws_session_token": "t"})
    assert masked == {"s3_aws_access_key_id": "***", "s3_aws_session_token": "***"}


def test_a_wildcard_deployment_keeps_the_wildcard_for_the_requested_model() -> None:
    raw = {"model_list": [{"model_name": "*", "litellm_params": {"model": "*"}}]}
    deployment = parse_config(raw, ENV).deployment("gpt-4o-mini")
    assert deployment is not None and deployment.model == "*"
