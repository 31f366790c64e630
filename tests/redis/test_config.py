"""Settings from parameters and typed REDIS_* environment variables."""

from __future__ import annotations

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.storage.redis import RedisCache
from aiocache_llm.storage.redis.settings import mask_secrets, redis_client_kwargs, redis_settings
from tests.harness.redis import RedisServer


def test_environment_values_are_converted_to_their_types() -> None:
    settings = redis_settings(
        env={
            "REDIS_PORT": "6380",
            "REDIS_SOCKET_TIMEOUT": "2.5",
            "REDIS_SSL": "true",
            "REDIS_SOCKET_KEEPALIVE": "no",
            "REDIS_HEALTH_CHECK_INTERVAL": "none",
        }
    )
    assert settings == {
        "port": 6380,
        "socket_timeout": 2.5,
        "ssl": True,
        "socket_keepalive": False,
        "health_check_interval": None,
    }


def test_passwords_and_hosts_stay_text_even_when_they_look_like_numbers() -> None:
    settings = redis_settings(env={"REDIS_PASSWORD": "1234", "REDIS_HOST": "10"})
    assert settings == {"password": "1234", "host": "10"}


def test_node_lists_are_read_from_json_or_comma_separated_text() -> None:
    settings = redis_settings(
        env={
            "REDIS_SENTINEL_NODES": '[["127.0.0.1", 26379], {"host": "127.0.0.1", "port": 26380}]',
            "REDIS_CLUSTER_NODES": "127.0.0.1:7000,127.0.0.1:7001",
        }
    )
    assert settings["sentinel_nodes"] == [("127.0.0.1", 26379), ("127.0.0.1", 26380)]
    assert settings["startup_nodes"] == [("127.0.0.1", 7000), ("127.0.0.1", 7001)]


def test_explicit_parameters_override_the_environment() -> None:
    settings = redis_settings({"port": 7000, "host": None}, env={"REDIS_PORT": "6380"})
    assert settings == {"port": 7000}


def test_environment_variables_that_are_not_settings_are_ignored() -> None:
    assert redis_settings(env={"REDIS_VERSION": "7.2.4", "REDIS_DOWNLOAD_SHA": "abc"}) == {}


def test_invalid_json_in_the_environment_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        redis_settings(env={"REDIS_RETRY_ON_ERROR": "[not json"})


def test_an_unknown_keyword_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        RedisCache(env={}, no_such_option=1)


def test_decode_responses_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RedisCache(env={}, decode_responses=True)


def test_masking_hides_passwords_and_url_credentials() -> None:
    masked = mask_secrets(
        {"password": "p", "sentinel_password": "s", "url": "redis://u:p@h:1/0", "host": "h"}
    )
    assert masked == {
        "password": "***",
        "sentinel_password": "***",
        "url": "redis://u:***@h:1/0",
        "host": "h",
    }


async def test_a_cache_configured_only_by_the_environment_works(redis_server: RedisServer) -> None:
    env = {
        "REDIS_HOST": redis_server.host,
        "REDIS_PORT": str(redis_server.port),
        "REDIS_SOCKET_TIMEOUT": "2",
        "REDIS_NAMESPACE": "from-env",
        "REDIS_MAX_CONNECTIONS": "4",
    }
    cache = RedisCache(env=env)
    try:
        assert (cache.namespace, cache.socket_timeout, cache.max_connections) == ("from-env", 2, 4)
        await cache.async_set_cache("k", "v")
        assert await cache.async_get_cache("k") == "v"
    finally:
        await cache.async_flush_cache()
        await cache.async_disconnect()


async def test_redis_url_from_the_environment_is_used(redis_server: RedisServer) -> None:
    cache = RedisCache(env={"REDIS_URL": redis_server.url}, namespace="url-env")
    try:
        assert await cache.async_ping() is True
    finally:
        await cache.async_disconnect()


def test_client_kwargs_expand_the_url_and_leave_out_cache_settings() -> None:
    kwargs = redis_client_kwargs(
        {"namespace": "ns", "socket_timeout": 1.5},
        env={"REDIS_URL": "redis://:pw@127.0.0.1:6380/2", "REDIS_FLUSH_SIZE": "10"},
    )
    assert kwargs == {
        "host": "127.0.0.1",
        "port": 6380,
        "db": 2,
        "password": "pw",
        "socket_timeout": 1.5,
    }
