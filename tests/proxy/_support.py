"""Helpers of the proxy tests: start ``python -m aiocache_llm serve`` with a config, talk to it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.harness.process import LOOPBACK, ServerProcess, free_port, start_server
from tests.harness.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-master-7c1e0f0b9d"
REDIS_PASSWORD = "redis-pw-5b7d0c11"
UPSTREAM_KEY = "sk-upstream-2f9a44e3"


@dataclass
class Proxy:
    """A running proxy: where it listens, its log, and the key callers use."""

    process: ServerProcess
    key: str | None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.process.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def headers(self, key: str | None = None) -> dict[str, str]:
        key = self.key if key is None else key
        return {"authorization": f"Bearer {key}"} if key else {}

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(key), timeout=10)

    def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.headers(key), timeout=10)


def models(upstream: Upstream) -> list[dict[str, Any]]:
    return [
        {
            "model_name": "gpt-test",
            "litellm_params": {
                "model": "openai/upstream-model",
                "api_base": upstream.base_url,
                "api_key": "os.environ/TEST_UPSTREAM_KEY",
            },
        },
        {
            "model_name": "slow-test",
            "litellm_params": {"model": "m", "api_base": upstream.base_url, "timeout": 0.3},
        },
        {
            "model_name": "embed-test",
            "litellm_params": {"model": "openai/upstream-embed", "api_base": upstream.base_url},
        },
    ]


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://{LOOPBACK}:{port}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def start_proxy(
    config: dict[str, Any] | str,
    directory: Path,
    key: str | None,
    log_level: str = "debug",
    env: dict[str, str] | None = None,
) -> Proxy:
    """``python -m aiocache_llm serve`` with ``config`` (a dict, or YAML text written as it
    is) on a free port, with ``env`` added to the environment (stop with .process.stop)."""
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(config, dict) and key is None:
        general = config.get("general_settings") or {}
        if "master_key" not in general and "keys" not in config:
            # a keyless proxy must be asked for (it listens on loopback only)
            config = {**config, "general_settings": {**general, "allow_unauthenticated": True}}
    path = directory / "config.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    port = free_port()
    argv = [sys.executable, "-m", "aiocache_llm", "serve", "--config", str(path)]
    argv += ["--port", str(port), "--log-level", log_level]
    if key is not None:  # the key callers use is the admin's unless the config names one
        env = {"LITELLM_MASTER_KEY": key, **(env or {})}
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "TEST_UPSTREAM_KEY": UPSTREAM_KEY,
        "TEST_MASTER_KEY": MASTER_KEY,
        "TEST_REDIS_PASSWORD": REDIS_PASSWORD,
        **(env or {}),
    }
    process = start_server(
        "aiocache-llm-proxy",
        argv,
        port=port,
        log_dir=directory,
        ready=lambda: _answers(port),
        env=env,
        cwd=directory,
    )
    return Proxy(process, key)
