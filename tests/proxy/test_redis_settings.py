"""REDIS_* settings as LiteLLM's docs write them: SSL spellings, and cluster nodes from the
environment with ``type: redis``."""

from __future__ import annotations

import pytest

from aiocache_llm.errors import ConfigurationError
from aiocache_llm.storage.redis.settings import redis_settings, wants_cluster


@pytest.mark.parametrize("spelling", ["None", "none", "NONE", "null", "CERT_NONE"])
def test_ssl_cert_reqs_none_is_accepted_in_any_case(spelling: str) -> None:
    env = {"REDIS_SSL": "True", "REDIS_SSL_CERT_REQS": spelling}
    settings = redis_settings({}, env=env)
    assert (settings["ssl"], settings["ssl_cert_reqs"]) == (True, "none")


def test_a_bad_ssl_cert_reqs_names_the_field() -> None:
    with pytest.raises(ConfigurationError, match="ssl_cert_reqs"):
        redis_settings({}, env={"REDIS_SSL_CERT_REQS": "sometimes"})


def test_cluster_nodes_in_the_environment_make_a_redis_type_a_cluster() -> None:
    env = {"REDIS_CLUSTER_NODES": '[{"host": "127.0.0.1", "port": "7001"}]'}
    assert wants_cluster({}, env)
    assert not wants_cluster({"host": "127.0.0.1"}, env)
    assert not wants_cluster({}, {})
