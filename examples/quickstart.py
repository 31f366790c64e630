"""A slow LLM call answered from the cache the second time.

Runs on the embedded default: an in-memory cache in front of a disk cache, no servers.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from typing import Any

import orjson

from aiocache_llm import DiskCache, InMemoryCache


async def slow_llm_call(model: str, prompt: str) -> dict[str, Any]:
    """Stands in for a provider call that takes a while and costs money."""
    await asyncio.sleep(0.5)
    return {
        "model": model,
        "choices": [{"message": {"role": "assistant", "content": f"An answer to: {prompt}"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 30},
    }


def cache_key(model: str, prompt: str) -> str:
    return hashlib.sha256(orjson.dumps({"model": model, "prompt": prompt})).hexdigest()


async def cached_call(
    memory: InMemoryCache, disk: DiskCache, model: str, prompt: str
) -> tuple[dict[str, Any], str]:
    key = cache_key(model, prompt)
    if (hit := await memory.async_get_cache(key)) is not None:
        return hit, "memory"
    if (hit := await disk.async_get_cache(key)) is not None:
        await memory.async_set_cache(key, hit)
        return hit, "disk"
    answer = await slow_llm_call(model, prompt)
    await disk.async_set_cache(key, answer, ttl=3600)
    await memory.async_set_cache(key, answer, ttl=600)
    return answer, "upstream"


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        memory, disk = InMemoryCache(), DiskCache(directory)
        prompt = "What is the capital of France?"
        timings = []
        for attempt in ("first", "second"):
            started = time.perf_counter()
            answer, source = await cached_call(memory, disk, "gpt-4o-mini", prompt)
            elapsed = time.perf_counter() - started
            timings.append(elapsed)
            print(f"{attempt} call: {elapsed * 1000:8.2f} ms  from {source}")
        memory = InMemoryCache()  # a new process would start with an empty memory ...
        started = time.perf_counter()
        answer, source = await cached_call(memory, disk, "gpt-4o-mini", prompt)
        print(f"after restart: {(time.perf_counter() - started) * 1000:6.2f} ms  from {source}")
        print(f"answer: {answer['choices'][0]['message']['content']}")
        print(f"time saved on the second call: {(timings[0] - timings[1]) * 1000:.1f} ms")
        assert source == "disk" and timings[1] < timings[0] / 10


if __name__ == "__main__":
    asyncio.run(main())
