# ruff: noqa: E501  (the page's YAML is kept as written, long comments included)
"""LiteLLM's proxy caching page (docs/my-website/docs/proxy/caching.md), example by example.

Each config is the page's YAML as written, with only the product name and loopback addresses
and ports changed; its environment is the page's ``.env`` with loopback servers. Models without
an ``api_base`` reach the local upstream through ``OPENAI_API_BASE``, as with LiteLLM. Every
example either works (asserted by its outcome) or fails at start-up with an error naming the
field. :data:`OUTCOMES` records each one; the last test checks that every example was walked
and prints the count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.harness.gcs import GCSServer
from tests.harness.process import LOOPBACK
from tests.harness.redis import RedisServer, redis_running, redisearch_module
from tests.harness.redis_cluster import RedisClusterServers
from tests.harness.redis_sentinel import RedisSentinelServers
from tests.harness.s3 import ACCESS_KEY, SECRET_KEY, S3Server
from tests.harness.upstream import Upstream

from ._support import ROOT, Proxy, start_proxy

#: example name -> "works" or the start-up error
OUTCOMES: dict[str, str] = {}
EXAMPLE_COUNT = 29
PASSWORD = "liteLlmIsAmazing"  # the page's REDIS_PASSWORD
CHAT = {
    "model": "gpt-3.5-turbo",
    "messages": [{"role": "user", "content": "write a poem about litellm!"}],
    "temperature": 0.7,
}
HELLO = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "Hello"}]}
EMBEDDING = {"model": "text-embedding-ada-002", "input": ["write a litellm poem"]}
QUICK_START_MODELS = """
model_list:
  - model_name: gpt-3.5-turbo
    litellm_params:
      model: gpt-3.5-turbo
  - model_name: text-embedding-ada-002
    litellm_params:
      model: text-embedding-ada-002
"""
WILDCARD_MODELS = """
model_list:
  - model_name: "*"
    litellm_params:
      model: "*"
"""


@pytest.fixture(scope="module")
def doc_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis with the page's password (and vector search, for the semantic example)."""
    directory = tmp_path_factory.mktemp("doc-redis")
    with redis_running(directory, search=redisearch_module() is not None, password=PASSWORD) as s:
        yield s


@pytest.fixture(scope="module")
def redis_env(doc_redis: RedisServer, llm_upstream_server: Upstream) -> dict[str, str]:
    """The page's Step 2 .env: REDIS_HOST / REDIS_PORT / REDIS_PASSWORD."""
    return {
        **upstream_env(llm_upstream_server),
        "REDIS_HOST": LOOPBACK,
        "REDIS_PORT": str(doc_redis.port),
        "REDIS_PASSWORD": PASSWORD,
    }


def upstream_env(upstream: Upstream) -> dict[str, str]:
    return {"OPENAI_API_BASE": upstream.base_url, "OPENAI_API_KEY": "sk-test"}


@pytest.fixture
def proxies(tmp_path: Path) -> Iterator[Any]:
    started: list[Proxy] = []

    def start(name: str, text: str, env: dict[str, str]) -> Proxy:
        proxy = start_proxy(text, tmp_path / name, "sk-1234", log_level="info", env=env)
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.process.stop()


def fresh(text: str) -> dict[str, Any]:
    return {**HELLO, "messages": [{"role": "user", "content": text}]}


def twice(proxy: Proxy, path: str, body: dict[str, Any]) -> tuple[httpx.Response, httpx.Response]:
    first, second = proxy.post(path, body), proxy.post(path, body)
    assert first.status_code == second.status_code == 200, first.text
    return first, second


def assert_cached(proxy: Proxy, path: str = "/v1/chat/completions", body: Any = CHAT) -> str:
    """The page's "send the same request twice": the second is a hit; returns the key."""
    first, second = twice(proxy, path, body)
    assert first.headers["x-aiocache-llm-cache-hit"] == "false"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert (
        second.json()["data" if "input" in body else "choices"]
        == first.json()["data" if "input" in body else "choices"]
    )
    key = second.headers["x-litellm-cache-key"]
    assert key == first.headers["x-litellm-cache-key"]
    return key


def assert_healthy(proxy: Proxy, cache_type: str) -> dict[str, Any]:
    report = proxy.get("/cache/ping").json()
    assert (report["status"], report["cache_type"]) == ("healthy", cache_type), report
    assert (report["ping_response"], report["set_cache_response"]) == (True, "success")
    return dict(report)


def startup_error(tmp_path: Path, text: str, env: dict[str, str]) -> str:
    """What ``aiocache-llm serve`` says when it refuses ``text`` at start-up (exit status 1)."""
    path = tmp_path / "config.yaml"
    path.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "aiocache_llm", "serve", "--config", str(path), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stderr
    return run.stderr


def record(name: str, outcome: str = "works") -> None:
    OUTCOMES[name] = outcome


# -- Quick start: Redis ----------------------------------------------------------------------


def test_quick_start_cache_true_is_redis_from_the_environment(
    proxies: Any, redis_env: dict[str, str], doc_redis: RedisServer
) -> None:
    text = (
        QUICK_START_MODELS
        + """
litellm_settings:
  set_verbose: True
  cache: True # set cache responses to True, aiocache-llm defaults to using a redis cache
"""
    )
    proxy = proxies("quick-start", text, redis_env)
    assert_healthy(proxy, "redis")
    key = assert_cached(
        proxy, body=fresh("test_quick_start_cache_true_is_redis_from_the_environment")
    )
    assert_cached(proxy, "/embeddings", EMBEDDING)
    client = redis.Redis(port=doc_redis.port, password=PASSWORD)
    assert client.exists(key) == 1
    assert "REDIS_HOST" in proxy.log()  # start-up says which cache and why
    record("quick start: cache: True + REDIS_HOST/PORT/PASSWORD")


def test_namespace_prefixes_every_key_and_flush_empties_it(
    proxies: Any, redis_env: dict[str, str], doc_redis: RedisServer, tmp_path: Path
) -> None:
    text = (
        QUICK_START_MODELS
        + """
litellm_settings:
  cache: true
  cache_params: # set cache params for redis
    type: redis
    namespace: "litellm.caching.caching"
"""
    )
    proxy = proxies("namespace", text, redis_env)
    assert_cached(proxy, body=fresh("test_namespace_prefixes_every_key_and_flush_empties_it"))
    client = redis.Redis(port=doc_redis.port, password=PASSWORD)
    stored = [k.decode() for k in client.scan_iter("litellm.caching.caching:*")]
    assert stored
    config = tmp_path / "namespace" / "config.yaml"
    flush = subprocess.run(
        [sys.executable, "-m", "aiocache_llm", "flush", "--yes", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **redis_env},
    )
    assert flush.returncode == 0, flush.stderr
    assert list(client.scan_iter("litellm.caching.caching:*")) == []
    record("namespace (and aiocache-llm flush --config)")


def test_redis_cluster_from_the_config_with_a_wildcard_model(
    proxies: Any, redis_cluster: RedisClusterServers, llm_upstream_server: Upstream
) -> None:
    port = redis_cluster.startup_nodes[0][1]
    text = (
        WILDCARD_MODELS
        + f"""
litellm_settings:
  cache: True
  cache_params:
    type: redis
    redis_startup_nodes: [{{ "host": "127.0.0.1", "port": "{port}" }}]
"""
    )
    proxy = proxies("cluster", text, upstream_env(llm_upstream_server))
    assert_healthy(proxy, "redis")
    assert_cached(proxy, body=fresh("test_redis_cluster_from_the_config_with_a_wildcard_model"))
    assert proxy.post("/v1/chat/completions", HELLO).json()["model"] == "gpt-3.5-turbo"
    record("redis cluster: redis_startup_nodes, model '*'")


def test_redis_cluster_from_redis_cluster_nodes(
    proxies: Any, redis_cluster: RedisClusterServers, llm_upstream_server: Upstream
) -> None:
    nodes = [{"host": host, "port": str(port)} for host, port in redis_cluster.startup_nodes]
    text = (
        WILDCARD_MODELS
        + """
litellm_settings:
  cache: True
  cache_params:
    type: redis
"""
    )
    env = {**upstream_env(llm_upstream_server), "REDIS_CLUSTER_NODES": json.dumps(nodes)}
    proxy = proxies("cluster-env", text, env)
    assert_healthy(proxy, "redis")
    assert_cached(proxy, body=fresh("test_redis_cluster_from_redis_cluster_nodes"))
    record("redis cluster: REDIS_CLUSTER_NODES")


def test_redis_sentinel_from_the_config(
    proxies: Any, redis_sentinel: RedisSentinelServers, llm_upstream_server: Upstream
) -> None:
    port = redis_sentinel.sentinel_nodes[0][1]
    text = (
        WILDCARD_MODELS
        + f"""
litellm_settings:
  cache: true
  cache_params:
    type: "redis"
    service_name: "{redis_sentinel.service_name}"
    sentinel_nodes: [["localhost", {port}]]
"""
    )
    proxy = proxies("sentinel", text, upstream_env(llm_upstream_server))
    assert_healthy(proxy, "redis")
    assert_cached(proxy, body=fresh("test_redis_sentinel_from_the_config"))
    record("redis sentinel: sentinel_nodes (sentinel_password is optional: left out)")


def test_redis_sentinel_from_the_environment(
    proxies: Any, redis_sentinel: RedisSentinelServers, llm_upstream_server: Upstream
) -> None:
    text = (
        WILDCARD_MODELS
        + """
litellm_settings:
  cache: true
"""
    )
    env = {
        **upstream_env(llm_upstream_server),
        "REDIS_SENTINEL_NODES": json.dumps([["localhost", redis_sentinel.sentinel_nodes[0][1]]]),
        "REDIS_SERVICE_NAME": redis_sentinel.service_name,
    }
    proxy = proxies("sentinel-env", text, env)
    assert_healthy(proxy, "redis")
    assert_cached(proxy, body=fresh("test_redis_sentinel_from_the_environment"))
    record("redis sentinel: REDIS_SENTINEL_NODES")


def test_ttl(proxies: Any, redis_env: dict[str, str], doc_redis: RedisServer) -> None:
    text = (
        QUICK_START_MODELS
        + """
litellm_settings:
  cache: true
  cache_params: # set cache params for redis
    type: redis
    ttl: 600 # will be cached on redis for 600s
    # default_in_memory_ttl: Optional[float], default is None. time in seconds.
    # default_in_redis_ttl: Optional[float], default is None. time in seconds.
"""
    )
    key = assert_cached(proxies("ttl", text, redis_env), body=fresh("ttl example"))
    remaining = redis.Redis(port=doc_redis.port, password=PASSWORD).pttl(key)
    assert 300_000 < remaining <= 600_000
    record("ttl")


def test_redis_ssl_against_a_plain_server_says_tls_mismatch(
    proxies: Any, redis_env: dict[str, str]
) -> None:
    text = QUICK_START_MODELS + "\nlitellm_settings:\n  cache: True\n"
    proxy = proxies("ssl", text, {**redis_env, "REDIS_SSL": "True"})
    report = proxy.get("/cache/ping").json()
    assert report["status"] == "unhealthy"
    assert "TLS" in report["error"]
    assert proxy.post("/v1/chat/completions", CHAT).status_code == 200  # served uncached
    record("REDIS_SSL=True (no TLS server here: reported as a TLS mismatch)")


@pytest.mark.parametrize("where", ["config", "env"])
def test_gcp_iam_builds_and_reports_why_it_cannot_connect_here(
    proxies: Any, redis_cluster: RedisClusterServers, llm_upstream_server: Upstream, where: str
) -> None:
    port = redis_cluster.startup_nodes[0][1]
    account = "projects/-/serviceAccounts/your-sa@project.iam.gserviceaccount.com"
    env = upstream_env(llm_upstream_server)
    if where == "config":
        text = (
            WILDCARD_MODELS
            + f"""
litellm_settings:
  cache: True
  cache_params:
    type: redis
    redis_startup_nodes:
      [{{ "host": "127.0.0.1", "port": {port} }}, {{ "host": "127.0.0.1", "port": {port} }}]
    gcp_service_account: "{account}"
    ssl: true
    ssl_cert_reqs: null
    ssl_check_hostname: false
"""
        )
    else:
        text = WILDCARD_MODELS + "\nlitellm_settings:\n  cache: True\n"
        env |= {
            "REDIS_CLUSTER_NODES": json.dumps([{"host": "127.0.0.1", "port": port}]),
            "REDIS_GCP_SERVICE_ACCOUNT": account,
            "REDIS_GCP_SSL_CA_CERTS": "./server-ca.pem",
            "REDIS_SSL": "True",
            "REDIS_SSL_CERT_REQS": "None",
            "REDIS_SSL_CHECK_HOSTNAME": "False",
        }
    proxy = proxies(f"gcp-{where}", text, env)
    report = proxy.get("/cache/ping").json()
    assert report["cache_type"] == "redis"
    assert report["status"] == "unhealthy" and report["error"]  # no GCP and no TLS here
    assert proxy.post("/v1/chat/completions", HELLO).status_code == 200
    record(f"GCP IAM ({where}): starts; /cache/ping names why it cannot connect here")


# -- Quick start: the other caches ---------------------------------------------------------


def test_qdrant_semantic_without_a_qdrant_server_reports_it_and_serves(
    proxies: Any, llm_upstream_server: Upstream
) -> None:
    from tests.harness.process import free_port

    text = f"""
model_list:
  - model_name: fake-openai-endpoint
    litellm_params:
      model: openai/fake
      api_key: fake-key
      api_base: {llm_upstream_server.base_url}
  - model_name: openai-embedding
    litellm_params:
      model: openai/text-embedding-3-small
      api_key: os.environ/OPENAI_API_KEY

litellm_settings:
  set_verbose: True
  cache: True # set cache responses to True
  cache_params:
    type: qdrant-semantic
    qdrant_semantic_cache_embedding_model: openai-embedding # the model should be defined on the model_list
    qdrant_collection_name: test_collection
    qdrant_quantization_config: binary
    similarity_threshold: 0.8 # similarity threshold for semantic cache
"""
    env = {
        **upstream_env(llm_upstream_server),
        "QDRANT_API_KEY": "16rJUMBRx-test",
        "QDRANT_API_BASE": f"http://{LOOPBACK}:{free_port()}",
    }
    proxy = proxies("qdrant", text, env)
    report = proxy.get("/cache/ping").json()
    assert report["status"] == "unhealthy"
    assert "connection refused" in report["error"] or "Backend" in report["error"]
    body = {"model": "fake-openai-endpoint", "messages": [{"role": "user", "content": "Hello"}]}
    assert proxy.post("/v1/chat/completions", body).status_code == 200
    record("qdrant semantic (no Qdrant server installs here: /cache/ping says so)")


def test_s3(proxies: Any, s3_server: S3Server, llm_upstream_server: Upstream) -> None:
    s3_server.create_bucket("cache-bucket-litellm")
    text = (
        QUICK_START_MODELS
        + f"""
litellm_settings:
  set_verbose: True
  cache: True # set cache responses to True
  cache_params: # set cache params for s3
    type: s3
    s3_bucket_name: cache-bucket-litellm # AWS Bucket Name for S3
    s3_region_name: us-west-2 # AWS Region Name for S3
    s3_aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID # us os.environ/<variable name> to pass environment variables. This is AWS Access Key ID for S3
    s3_aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY # AWS Secret Access Key for S3
    s3_endpoint_url: {s3_server.endpoint_url} # [OPTIONAL] S3 endpoint URL, if you want to use Backblaze/cloudflare s3 buckets
"""
    )
    env = {
        **upstream_env(llm_upstream_server),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    proxy = proxies("s3", text, env)
    report = assert_healthy(proxy, "s3")
    assert report["cache_params"]["s3_aws_access_key_id"] == "***"
    assert ACCESS_KEY not in json.dumps(report) and SECRET_KEY not in json.dumps(report)
    assert_cached(proxy, body=fresh("test_s3"))
    record("s3")


def test_gcs(
    proxies: Any, gcs_server: GCSServer, llm_upstream_server: Upstream, tmp_path: Path
) -> None:
    created = httpx.post(
        f"{gcs_server.api_root}/storage/v1/b",
        params={"project": "test"},
        json={"name": "cache-bucket-litellm"},
        timeout=30,
    )
    assert created.status_code in (200, 409), created.text
    account = tmp_path / "service-account.json"  # read, never sent: the emulator takes no token
    account.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "sa@p.iam",
                "private_key": "unused",
                "token_uri": "http://127.0.0.1:9",
            }
        )
    )
    text = (
        QUICK_START_MODELS
        + """
litellm_settings:
  set_verbose: True
  cache: True # set cache responses to True
  cache_params: # set cache params for gcs
    type: gcs
    gcs_bucket_name: cache-bucket-litellm # GCS Bucket Name for caching
    gcs_path_service_account: os.environ/GCS_PATH_SERVICE_ACCOUNT # use os.environ/<variable name> to pass environment variables. This is the path to your GCS service account JSON file
    gcs_path: cache/ # [OPTIONAL] GCS path prefix for cache objects
"""
    )
    env = {
        **upstream_env(llm_upstream_server),
        "GCS_BUCKET_NAME": "cache-bucket-litellm",
        "GCS_PATH_SERVICE_ACCOUNT": str(account),
        "STORAGE_EMULATOR_HOST": gcs_server.api_root,  # the emulator instead of Google
    }
    proxy = proxies("gcs", text, env)
    assert_healthy(proxy, "gcs")
    assert_cached(proxy, body=fresh("test_gcs"))
    listed = httpx.get(f"{gcs_server.api_root}/storage/v1/b/cache-bucket-litellm/o", timeout=30)
    assert any(item["name"].startswith("cache/") for item in listed.json().get("items", []))
    record("gcs (gcs_path_service_account, gcs_path)")


def test_redis_semantic_with_a_model_list_embedding_model(
    proxies: Any, redis_env: dict[str, str], llm_upstream_server: Upstream
) -> None:
    if redisearch_module() is None:
        pytest.skip("no RediSearch module installed")
    text = """
model_list:
  - model_name: gpt-3.5-turbo
    litellm_params:
      model: gpt-3.5-turbo
  - model_name: azure-embedding-model
    litellm_params:
      model: azure/azure-embedding-model
      api_base: os.environ/AZURE_API_BASE
      api_key: os.environ/AZURE_API_KEY
      api_version: "2023-07-01-preview"

litellm_settings:
  set_verbose: True
  cache: True # set cache responses to True
  cache_params:
    type: "redis-semantic"
    similarity_threshold: 0.8 # similarity threshold for semantic cache
    redis_semantic_cache_embedding_model: azure-embedding-model # set this to a model_name set in model_list
"""
    env = {
        **redis_env,
        "AZURE_API_BASE": llm_upstream_server.base_url,
        "AZURE_API_KEY": "azure-key",
    }
    llm_upstream_server.reset()
    proxy = proxies("redis-semantic", text, env)
    assert_healthy(proxy, "redis-semantic")
    _first, second = twice(proxy, "/v1/chat/completions", CHAT)
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    # the question was embedded by the model_list's upstream (the probe, lookup and store)
    assert llm_upstream_server.calls("embeddings") >= 2
    record("redis semantic: embedding model from model_list")


def test_in_memory(proxies: Any, llm_upstream_server: Upstream) -> None:
    text = (
        QUICK_START_MODELS
        + "\nlitellm_settings:\n  cache: True\n  cache_params:\n    type: local\n"
    )
    proxy = proxies("local", text, upstream_env(llm_upstream_server))
    assert_healthy(proxy, "local")
    assert_cached(proxy, body=fresh("test_in_memory"))
    record("in-memory")


def test_disk(proxies: Any, llm_upstream_server: Upstream, tmp_path: Path) -> None:
    directory = tmp_path / "aiocache-llm-cache"
    text = (
        QUICK_START_MODELS
        + f"""
litellm_settings:
  cache: True
  cache_params:
    type: disk
    disk_cache_dir: {directory} # OPTIONAL, default to ./.aiocache_llm_cache
"""
    )
    proxy = proxies("disk", text, upstream_env(llm_upstream_server))
    assert_healthy(proxy, "disk")
    assert_cached(proxy, body=fresh("test_disk"))
    assert any(directory.iterdir())
    record("disk")


# -- Usage: per-request controls, /cache/ping, /cache/delete, headers --------------------------


@pytest.fixture(scope="module")
def usage_proxy(
    tmp_path_factory: pytest.TempPathFactory, redis_env: dict[str, str]
) -> Iterator[Proxy]:
    text = QUICK_START_MODELS + "\nlitellm_settings:\n  cache: True\n"
    proxy = start_proxy(text, tmp_path_factory.mktemp("usage"), "sk-1234", "info", redis_env)
    try:
        yield proxy
    finally:
        proxy.process.stop()


def test_dynamic_controls(usage_proxy: Proxy, doc_redis: RedisServer) -> None:
    p = usage_proxy
    client = redis.Redis(port=doc_redis.port, password=PASSWORD)
    ttl = p.post("/v1/chat/completions", {**fresh("ttl"), "cache": {"ttl": 300}})
    assert 0 < client.pttl(ttl.headers["x-litellm-cache-key"]) <= 300_000
    p.post("/v1/chat/completions", fresh("age"))
    young = p.post("/v1/chat/completions", {**fresh("age"), "cache": {"s-maxage": 600}})
    assert young.headers["x-aiocache-llm-cache-hit"] == "true"
    p.post("/v1/chat/completions", fresh("nc"))
    bypass = p.post("/v1/chat/completions", {**fresh("nc"), "cache": {"no-cache": True}})
    assert bypass.headers["x-aiocache-llm-cache-hit"] == "false"
    p.post("/v1/chat/completions", {**fresh("ns"), "cache": {"no-store": True}})
    assert p.post("/v1/chat/completions", fresh("ns")).headers["x-aiocache-llm-cache-hit"] == (
        "false"
    )
    named = {**fresh("space"), "cache": {"namespace": "my-custom-namespace"}}
    p.post("/v1/chat/completions", named)
    key = p.post("/v1/chat/completions", named).headers["x-litellm-cache-key"]
    assert key.startswith("my-custom-namespace:")
    for name in ("ttl", "s-maxage", "no-cache", "no-store", "namespace"):
        record(f"dynamic control: {name}")


def test_cache_ping_and_delete_and_the_key_header(usage_proxy: Proxy) -> None:
    report = assert_healthy(usage_proxy, "redis")
    assert report["cache_params"]["type"] == "redis"
    body = {**fresh("what is litellm"), "user": "ishan"}
    key = usage_proxy.post("/chat/completions", body).headers["x-litellm-cache-key"]
    deleted = usage_proxy.post("/cache/delete", {"keys": [key, "key2"]}).json()
    assert deleted == {"status": "success", "deleted": [key], "not_found": ["key2"]}
    again = usage_proxy.post("/chat/completions", body)
    assert again.headers["x-aiocache-llm-cache-hit"] == "false"
    record("/cache/ping")
    record("/cache/delete and x-litellm-cache-key")


# -- Advanced ----------------------------------------------------------------------------------


def test_supported_call_types_empty_turns_caching_off_for_calls(
    proxies: Any, redis_env: dict[str, str]
) -> None:
    text = (
        QUICK_START_MODELS
        + """
litellm_settings:
  cache: True
  cache_params:
    type: redis
    supported_call_types: []
"""
    )
    proxy = proxies("no-call-types", text, redis_env)
    assert_healthy(proxy, "redis")
    _first, second = twice(proxy, "/v1/chat/completions", fresh("off"))
    assert "x-aiocache-llm-cache-hit" not in second.headers
    record("supported_call_types: []")


def test_cache_params_on_config_yaml_with_listed_call_types(
    proxies: Any, doc_redis: RedisServer, llm_upstream_server: Upstream
) -> None:
    text = (
        QUICK_START_MODELS
        + f"""
litellm_settings:
  set_verbose: True
  cache: True # set cache responses to True, aiocache-llm defaults to using a redis cache
  cache_params: # cache_params are optional
    type: "redis" # The type of cache to initialize. Can be "local", "redis", "s3", or "gcs". Defaults to "local".
    host: "localhost" # The host address for the Redis cache. Required if type is "redis".
    port: {doc_redis.port} # The port number for the Redis cache. Required if type is "redis".
    password: "{PASSWORD}" # The password for the Redis cache. Required if type is "redis".

    # Optional configurations
    supported_call_types:
      ["acompletion", "atext_completion", "aembedding", "atranscription"]
      # /chat/completions, /completions, /embeddings, /audio/transcriptions
"""
    )
    proxy = proxies("call-types", text, upstream_env(llm_upstream_server))
    assert_cached(proxy, body=fresh("listed"))
    rerank = {"model": "gpt-3.5-turbo", "query": "q", "documents": ["q a", "b"]}
    assert "x-aiocache-llm-cache-hit" not in twice(proxy, "/v1/rerank", rerank)[1].headers
    record("supported_call_types list (and host/port/password on config.yaml)")


def test_default_off_caches_only_when_asked(proxies: Any, redis_env: dict[str, str]) -> None:
    text = f"""
model_list:
  - model_name: fake-openai-endpoint
    litellm_params:
      model: openai/fake
      api_key: fake-key
      api_base: {redis_env["OPENAI_API_BASE"]}

# default off mode
litellm_settings:
  set_verbose: True
  cache: True
  cache_params:
    mode: default_off # 👈 Key change cache is default_off
"""
    proxy = proxies("default-off", text, redis_env)
    body = {"model": "fake-openai-endpoint", "messages": [{"role": "user", "content": "test"}]}
    assert "x-aiocache-llm-cache-hit" not in twice(proxy, "/v1/chat/completions", body)[1].headers
    opted = {**body, "cache": {"use-cache": True}}
    assert twice(proxy, "/v1/chat/completions", opted)[1].headers["x-aiocache-llm-cache-hit"] == (
        "true"
    )
    record("mode: default_off (+ use-cache)")


SUPPORTED_CACHE_PARAMS = """
litellm_settings:
  cache: True
  cache_params:
    # ttl
    ttl: 600
    default_in_memory_ttl: 60
    default_in_redis_ttl: 600

    # Type of cache (options: "local", "redis", "s3", "gcs")
    type: s3

    # List of aiocache-llm call types to cache for
    # Options: "completion", "acompletion", "embedding", "aembedding"
    supported_call_types:
      ["acompletion", "atext_completion", "aembedding", "atranscription"]
      # /chat/completions, /completions, /embeddings, /audio/transcriptions
{redis}
    # S3 cache parameters
    s3_bucket_name: cache-bucket-litellm # Name of the S3 bucket
    s3_region_name: us-west-2 # AWS region of the S3 bucket
    s3_api_version: 2006-03-01 # AWS S3 API version
    s3_use_ssl: true # Use SSL for S3 connections (options: true, false)
    s3_verify: true # SSL certificate verification for S3 connections (options: true, false)
    s3_endpoint_url: {endpoint} # S3 endpoint URL
    s3_aws_access_key_id: {access} # AWS Access Key ID for S3
    s3_aws_secret_access_key: {secret} # AWS Secret Access Key for S3
    s3_aws_session_token: your_session_token # AWS Session Token for temporary credentials
"""
REDIS_PART = """
    # Redis cache parameters
    host: localhost # Redis server hostname or IP address
    port: "6379" # Redis server port (as a string)
    password: secret_password # Redis server password
    namespace: Optional[str] = None,

    # GCP IAM Authentication for Redis
    gcp_service_account: "projects/-/serviceAccounts/your-sa@project.iam.gserviceaccount.com"
    gcp_ssl_ca_certs: "./server-ca.pem" # Path to SSL CA certificate file
    ssl: true # Enable SSL for secure connections
    ssl_cert_reqs: null # Set to null for self-signed certificates
    ssl_check_hostname: false # Set to false for self-signed certificates

    # GCS cache parameters
    gcs_bucket_name: your_gcs_bucket_name # Name of the GCS bucket
    gcs_path_service_account: /path/to/service-account.json # Path to GCS service account JSON
    gcs_path: cache/ # [OPTIONAL] GCS path prefix for cache objects
"""


def test_the_supported_cache_params_block_mixing_types_fails_naming_the_fields(
    tmp_path: Path, s3_server: S3Server
) -> None:
    text = SUPPORTED_CACHE_PARAMS.format(
        redis=REDIS_PART, endpoint=s3_server.endpoint_url, access=ACCESS_KEY, secret=SECRET_KEY
    )
    message = startup_error(tmp_path, text, {})
    assert "cache type 's3' does not take" in message
    assert "gcp_service_account" in message and "host" in message
    record("supported cache_params block as one config", f"start-up error: {message.strip()}")


def test_the_s3_part_of_the_supported_cache_params_works_with_its_unquoted_api_version(
    proxies: Any, s3_server: S3Server, llm_upstream_server: Upstream
) -> None:
    s3_server.create_bucket("cache-bucket-litellm")
    text = QUICK_START_MODELS + SUPPORTED_CACHE_PARAMS.format(
        redis="", endpoint=s3_server.endpoint_url, access=ACCESS_KEY, secret=SECRET_KEY
    )
    proxy = proxies("s3-params", text, upstream_env(llm_upstream_server))
    report = assert_healthy(proxy, "s3")
    assert report["cache_params"]["s3_api_version"] == "2006-03-01"
    assert report["cache_params"]["s3_aws_session_token"] == "***"
    assert_cached(proxy, body=fresh("s3 params"))
    record("supported cache_params: the S3 part (s3_api_version: 2006-03-01)")


def test_user_api_key_cache_ttl_is_accepted(proxies: Any, llm_upstream_server: Upstream) -> None:
    text = (
        QUICK_START_MODELS
        + """
litellm_settings:
  cache: True
  cache_params:
    type: local

general_settings:
  user_api_key_cache_ttl: 60 #time in seconds
"""
    )
    proxy = proxies("user-key-ttl", text, upstream_env(llm_upstream_server))
    assert_cached(proxy, body=fresh("key ttl"))
    assert "user_api_key_cache_ttl has no effect" in proxy.log()
    record("general_settings.user_api_key_cache_ttl (accepted, no effect here)")


def test_a_typo_in_general_settings_fails_at_start_up_naming_it(tmp_path: Path) -> None:
    text = "general_settings:\n  master_kye: sk-1234\n"
    message = startup_error(tmp_path, text, {})
    assert "general_settings.master_kye: unknown setting; did you mean 'master_key'?" in message


@pytest.mark.servers  # it counts what the server-backed tests above walked
def test_every_example_of_the_page_was_walked() -> None:
    for name, outcome in OUTCOMES.items():
        print(f"{name}: {outcome}")
    print(f"LiteLLM proxy caching examples walked: {len(OUTCOMES)} of {EXAMPLE_COUNT}")
    assert len(OUTCOMES) == EXAMPLE_COUNT, sorted(OUTCOMES)
