"""Cross-process single-flight: a short lease in a shared backend.

Two caches over one disk directory stand for two processes: each has its own in-process
single-flight table, and only the backend is shared.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiocache_llm.facade import Cache
from aiocache_llm.llm.keys import make_key
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.storage import DiskCache
from tests.harness.upstream import Upstream

from ._support import ask


def shared(directory: Path, **settings: Any) -> Cache:
    return Cache(backend=DiskCache(directory), lease_ttl=5, **settings)


async def test_identical_misses_in_two_processes_make_one_upstream_call(
    tmp_path: Path, openai_client: Any, llm_upstream: Upstream
) -> None:
    llm_upstream.configure(latency=0.3)
    first = shared(tmp_path).wrap_openai(openai_client)
    second = shared(tmp_path).wrap_openai(openai_client)
    a, b = await asyncio.gather(
        first.chat.completions.create(model="m", messages=ask()),
        second.chat.completions.create(model="m", messages=ask()),
    )
    assert llm_upstream.calls() == 1
    assert a.choices[0].message.content == b.choices[0].message.content


async def test_a_waiter_calls_upstream_itself_when_the_lease_holder_never_answers(
    tmp_path: Path, openai_client: Any, llm_upstream: Upstream
) -> None:
    backend = DiskCache(tmp_path)
    key = make_key("acompletion", {"model": "m", "messages": ask()})
    await backend.async_increment(key + ":lease", 1, 5)  # a holder that died mid-call
    client = Cache(backend=backend, lease_ttl=5, lease_wait=0.2).wrap_openai(openai_client)
    answer = await client.chat.completions.create(model="m", messages=ask())
    assert cache_info(answer)["cache_hit"] is False
    assert llm_upstream.calls() == 1


async def test_the_lease_is_released_after_the_answer_is_stored(
    tmp_path: Path, openai_client: Any
) -> None:
    backend = DiskCache(tmp_path)
    client = Cache(backend=backend, lease_ttl=5).wrap_openai(openai_client)
    answer = await client.chat.completions.create(model="m", messages=ask())
    assert await backend.async_get_cache(cache_info(answer)["cache_key"] + ":lease") is None
