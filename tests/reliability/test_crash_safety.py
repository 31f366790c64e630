"""Writer processes killed (SIGKILL) mid-write: no torn or corrupt entry is ever served.

Each writer stores large values that carry their own sha256, as fast as it can, and is killed
at a random moment; then every key is read back. A value is either absent or whole."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiocache_llm.storage.disk import DiskCache
from aiocache_llm.storage.redis import RedisCache

ROOT = Path(__file__).resolve().parents[2]
KEYS = 64

DISK_WRITER = """
import hashlib, os, sys
from aiocache_llm.storage.disk import DiskCache
cache = DiskCache(sys.argv[1])
i = 0
while True:
    body = os.urandom(48_000).hex()
    cache.set_cache(f"k{i % 64}", {"body": body, "sha": hashlib.sha256(body.encode()).hexdigest()})
    if i == 0:
        print("ready", flush=True)  # one whole write done: the kill lands among later ones
    i += 1
"""

REDIS_WRITER = """
import asyncio, hashlib, os, sys
from aiocache_llm.storage.redis import RedisCache

async def main():
    cache = RedisCache(url=sys.argv[1], namespace="crash", env={})
    first = True
    while True:
        items = []
        for i in range(64):
            body = os.urandom(24_000).hex()
            sha = hashlib.sha256(body.encode()).hexdigest()
            items.append((f"k{i}", {"body": body, "sha": sha}))
        await cache.async_set_cache_pipeline(items)
        if first:
            print("ready", flush=True)  # one whole pipeline written: the kill lands later
            first = False

asyncio.run(main())
"""


def run_and_kill(script: str, argument: str, rounds: int = 4) -> None:
    """Start a writer, wait for its first whole write, let it write on for a random moment,
    SIGKILL it; ``rounds`` times."""
    for _ in range(rounds):
        writer = subprocess.Popen(
            [sys.executable, "-c", script, argument],
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
            time.sleep(random.uniform(0.05, 0.3))
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
            assert writer.stdout is not None
            writer.stdout.close()


def whole(value: Any) -> bool:
    return hashlib.sha256(value["body"].encode()).hexdigest() == value["sha"]


def test_a_disk_writer_killed_mid_write_leaves_no_corrupt_entry(tmp_path: Path) -> None:
    run_and_kill(DISK_WRITER, str(tmp_path))
    cache = DiskCache(tmp_path)
    values = [cache.get_cache(f"k{i}") for i in range(KEYS)]
    cache.disconnect()
    present = [v for v in values if v is not None]
    assert present and all(whole(v) for v in present)
    assert cache.stats.corrupt_reads == 0


async def test_a_redis_pipeline_writer_killed_mid_write_leaves_no_corrupt_entry(
    redis_url: str,
) -> None:
    run_and_kill(REDIS_WRITER, redis_url)
    cache = RedisCache(url=redis_url, namespace="crash", env={})
    values = await cache.async_batch_get_cache([f"k{i}" for i in range(KEYS)])
    await cache.async_disconnect()
    present = [v for v in values if v is not None]
    assert present and all(whole(v) for v in present)
    assert cache.stats.corrupt_reads == 0
