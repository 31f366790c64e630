"""A slow LLM call answered from the cache the second time.

Runs on the embedded default, with no servers: an in-memory cache in front of a disk cache, so
answers survive a restart of the process.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from typing import Any

from aiocache_llm import Cache, DiskCache, InMemoryCache, cache_info, cached
from aiocache_llm.storage.dual import DualCache


async def acompletion(model: str, messages: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
    """Stands in for a provider call (litellm.acompletion, an SDK call) that is slow and paid."""
    await asyncio.sleep(0.5)
    question = messages[-1]["content"]
    return {
        "id": "chatcmpl-quickstart",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"An answer to: {question}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
    }


async def ask(call: Any, label: str) -> float:
    started = time.perf_counter()
    answer = await call(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        temperature=0,
    )
    elapsed = time.perf_counter() - started
    hit = cache_info(answer).get("cache_hit", False)
    print(f"{label:15} {elapsed * 1000:8.2f} ms   cache hit: {hit}")
    return elapsed


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        cache = Cache(backend=DualCache(InMemoryCache(), DiskCache(directory)), ttl=3600)
        call = cached(acompletion, cache=cache)
        first = await ask(call, "first call")
        second = await ask(call, "second call")

        # A new process starts with an empty memory; the disk still has the answer.
        restarted = Cache(backend=DualCache(InMemoryCache(), DiskCache(directory)), ttl=3600)
        await ask(cached(acompletion, cache=restarted), "after restart")

        print(f"time saved on the second call: {(first - second) * 1000:.1f} ms")
        assert second < first / 10


if __name__ == "__main__":
    asyncio.run(main())
