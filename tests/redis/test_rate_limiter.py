"""examples/rate_limiter.py: per-key limits, exact across processes sharing one Redis."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiocache_llm.storage.redis import RedisCache
from tests.harness.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "rate_limiter.py"
PINNED_NOW = 1_800_000_030.0  # every process sees the same window


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rate_limiter_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_processes(server: RedisServer, count: int, *args: str) -> list[dict[str, int]]:
    """Start ``count`` demo processes at once on one namespace; their JSON reports."""
    namespace = f"rl{uuid.uuid4().hex[:8]}"
    start_at = time.time() + 1.5  # after every process has started, all contend together
    command = [
        sys.executable,
        str(EXAMPLE),
        "--url",
        server.url,
        "--namespace",
        namespace,
        "--now",
        str(PINNED_NOW),
        "--start-at",
        str(start_at),
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for _ in range(count)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
        reports.append(json.loads(out))
    return reports


@pytest.mark.redis
def test_two_processes_together_admit_exactly_the_requests_per_minute(
    redis_server: RedisServer,
) -> None:
    reports = run_processes(redis_server, 2, "--requests", "40", "--rpm", "25")
    assert sum(r["admitted"] for r in reports) == 25
    assert sum(r["refused"] for r in reports) == 55


@pytest.mark.redis
def test_two_processes_together_admit_exactly_the_tokens_per_minute(
    redis_server: RedisServer,
) -> None:
    reports = run_processes(
        redis_server, 2, "--requests", "30", "--rpm", "1000", "--tokens", "100", "--tpm", "1200"
    )
    assert sum(r["admitted"] for r in reports) == 12


@pytest.mark.redis
async def test_refused_requests_take_their_increments_back(redis_server: RedisServer) -> None:
    backend = RedisCache(url=redis_server.url, namespace=f"rl{uuid.uuid4().hex[:8]}", env={})
    now = [PINNED_NOW]
    limiter = example().RateLimiter(backend, rpm=3, tpm=250, clock=lambda: now[0])
    try:
        decisions = await asyncio.gather(*(limiter.acquire("k", 100) for _ in range(6)))
        assert sum(d.allowed for d in decisions) == 2  # the third would pass 250 tokens
        small = await limiter.acquire("k", 50)  # refused ones left no trace
        assert small.allowed and small.requests == 3 and small.tokens == 250
        refused = await limiter.acquire("k", 0)
        assert not refused.allowed and refused.retry_after == pytest.approx(30.0)
        now[0] += 60  # the next window starts empty
        assert (await limiter.acquire("k", 100)).allowed
    finally:
        await backend.async_flush_cache()
        await backend.async_disconnect()


@pytest.mark.redis
async def test_settling_replaces_the_estimate_by_the_tokens_used(
    redis_server: RedisServer,
) -> None:
    backend = RedisCache(url=redis_server.url, namespace=f"rl{uuid.uuid4().hex[:8]}", env={})
    limiter: Any = example().RateLimiter(backend, tpm=300, clock=lambda: PINNED_NOW)
    try:
        assert (await limiter.acquire("k", 200)).allowed
        await limiter.settle("k", reserved=200, actual=50)
        after = await limiter.acquire("k", 250)
        assert after.allowed and after.tokens == 300
    finally:
        await backend.async_flush_cache()
        await backend.async_disconnect()
