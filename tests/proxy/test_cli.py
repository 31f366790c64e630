"""``python -m aiocache_llm``: serve, ping, delete, flush and stats, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from aiocache_llm.storage.disk import DiskCache
from tests.harness.process import free_port
from tests.harness.upstream import Upstream

from ._support import MASTER_KEY, REDIS_PASSWORD, ROOT, Proxy, models

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Ping?"}]}


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aiocache_llm", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def disk_config(tmp_path: Path) -> str:
    return write(
        tmp_path,
        {"cache_settings": {"cache_params": {"type": "disk", "disk_cache_dir": str(tmp_path)}}},
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "ping", "delete", "flush", "stats"):
        assert command in result.stdout


def test_serve_help_documents_config_host_and_port(tmp_path: Path) -> None:
    result = run("serve", "--help", cwd=tmp_path)
    for option in ("--config", "--host", "--port"):
        assert option in result.stdout


def test_serve_with_a_bad_config_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    config = write(tmp_path, {"litellm_settings": {"cache_params": {"type": "memcache"}}})
    result = run("serve", "--config", config, "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 1
    assert "litellm_settings.cache_params.type" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_refused_config_never_prints_its_secret(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        {
            "cache_settings": {
                "cache_params": {
                    "type": "disk",
                    "disk_cache_dir": str(tmp_path),
                    "password": "os.environ/TEST_SECRET",
                }
            }
        },
    )
    # the disk cache takes no password: the config is refused, and the secret never printed
    result = run("ping", "--config", config, cwd=tmp_path, env={"TEST_SECRET": REDIS_PASSWORD})
    assert result.returncode == 1
    assert "password" in result.stderr
    assert REDIS_PASSWORD not in result.stdout + result.stderr


def test_ping_on_a_disk_cache_is_healthy(disk_config: str, tmp_path: Path) -> None:
    result = run("ping", "--config", disk_config, cwd=tmp_path)
    report = orjson.loads(result.stdout)
    assert result.returncode == 0
    assert (report["status"], report["cache_type"], report["set_cache_response"]) == (
        "healthy",
        "disk",
        "success",
    )


def test_delete_removes_the_keys_given(disk_config: str, tmp_path: Path) -> None:
    with DiskCache(tmp_path) as cache:
        cache.set_cache("llm:v1:a", {"answer": 1})
        cache.set_cache("llm:v1:b", {"answer": 2})
    result = run("delete", "llm:v1:a", "--config", disk_config, cwd=tmp_path)
    assert result.returncode == 0
    with DiskCache(tmp_path) as cache:
        assert cache.get_cache("llm:v1:a") is None
        assert cache.get_cache("llm:v1:b") == {"answer": 2}


def test_flush_empties_the_cache(disk_config: str, tmp_path: Path) -> None:
    with DiskCache(tmp_path) as cache:
        cache.set_cache("llm:v1:a", {"answer": 1})
    result = run("flush", "--yes", "--config", disk_config, cwd=tmp_path)
    assert result.returncode == 0
    with DiskCache(tmp_path) as cache:
        assert cache.get_cache("llm:v1:a") is None


def test_flush_asks_before_emptying(disk_config: str, tmp_path: Path) -> None:
    with DiskCache(tmp_path) as cache:
        cache.set_cache("llm:v1:a", {"answer": 1})
    result = run("flush", "--config", disk_config, cwd=tmp_path)
    assert result.returncode == 1  # no answer on stdin: aborted
    with DiskCache(tmp_path) as cache:
        assert cache.get_cache("llm:v1:a") == {"answer": 1}


def test_stats_of_a_running_proxy_counts_its_hits(
    proxy: Proxy, tmp_path: Path, llm_upstream: Upstream
) -> None:
    proxy.post("/v1/chat/completions", CHAT)
    proxy.post("/v1/chat/completions", CHAT)
    result = run("stats", "--url", proxy.url, "--api-key", MASTER_KEY, cwd=tmp_path)
    report = orjson.loads(result.stdout)
    assert report["cache_type"] == "local"
    assert report["events"]["hit"] >= 1


def test_delete_on_a_running_proxy_removes_the_key(
    proxy: Proxy, tmp_path: Path, llm_upstream: Upstream
) -> None:
    key = proxy.post("/v1/chat/completions", CHAT).headers["x-aiocache-llm-cache-key"]
    result = run(
        "delete", key, "--url", proxy.url, cwd=tmp_path, env={"AIOCACHE_LLM_API_KEY": MASTER_KEY}
    )
    assert result.returncode == 0
    again = proxy.post("/v1/chat/completions", CHAT)
    assert again.headers["x-aiocache-llm-cache-hit"] == "false"


def test_a_wrong_key_for_a_running_proxy_is_an_error(proxy: Proxy, tmp_path: Path) -> None:
    result = run("ping", "--url", proxy.url, "--api-key", "sk-nope", cwd=tmp_path)
    assert result.returncode == 1
    assert "401" in result.stderr


def test_serve_without_a_cache_section_caches_on_disk_in_the_working_directory(
    proxy_factory: Any, llm_upstream: Upstream
) -> None:
    proxy = proxy_factory("proxy-default", {"model_list": models(llm_upstream)}, None)
    first = httpx.post(proxy.base_url + "/chat/completions", json=CHAT, timeout=10)
    second = httpx.post(proxy.base_url + "/chat/completions", json=CHAT, timeout=10)
    assert proxy.get("/cache/ping").json()["cache_type"] == "disk"
    assert second.headers["x-aiocache-llm-cache-hit"] == "true"
    assert first.headers["x-aiocache-llm-cache-key"] == second.headers["x-aiocache-llm-cache-key"]
    assert (proxy.process.log_path.parent / ".aiocache_llm" / "cache.sqlite3").exists()


def test_without_the_proxy_extra_the_error_names_it(tmp_path: Path) -> None:
    code = "import sys; sys.modules['starlette'] = None; import aiocache_llm.proxy"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "pip install 'aiocache-llm[proxy]'" in result.stderr
