"""LiteLLM's own caching (``litellm.cache``) running on aiocache_llm backends."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import aiocache_llm
from aiocache_llm.storage import RedisCache
from aiocache_llm.storage.dual import DualCache
from aiocache_llm.storage.memory import InMemoryCache
from tests.harness.redis import RedisServer
from tests.harness.upstream import Upstream

from ._support import ask

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")
CustomLogger = pytest.importorskip("litellm.integrations.custom_logger").CustomLogger

_questions = itertools.count()


class Recorder(CustomLogger):  # type: ignore[misc]
    """A LiteLLM callback that keeps what each successful call reported."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        messages = kwargs.get("messages") or [{}]
        self.calls.append(
            {
                "question": messages[-1].get("content"),
                "cache_hit": kwargs.get("cache_hit"),
                "response_cost": kwargs.get("response_cost"),
            }
        )

    def of(self, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        """What was reported for the calls that asked ``kwargs``'s question (other tests'
        calls may still be reported late)."""
        question = kwargs["messages"][-1]["content"]
        return [
            {k: v for k, v in call.items() if k != "question"}
            for call in self.calls
            if call["question"] == question
        ]


#: LiteLLM's lists of callbacks: it copies ``litellm.callbacks`` into the others on first use
_CALLBACK_LISTS = (
    "callbacks",
    "success_callback",
    "_async_success_callback",
    "failure_callback",
    "_async_failure_callback",
)


def _forget_recorders() -> None:
    """Take earlier tests' recorders out of every list LiteLLM keeps (a stale one there would
    get this test's reports)."""
    for name in _CALLBACK_LISTS:
        callbacks = getattr(litellm, name, None)
        if isinstance(callbacks, list):
            callbacks[:] = [c for c in callbacks if not isinstance(c, Recorder)]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """``litellm.callbacks`` holds only this recorder during the test; ``litellm.cache`` is
    restored afterwards, and no recorder is left in LiteLLM's other lists."""
    _forget_recorders()
    saved_callbacks, saved_cache = litellm.callbacks, litellm.cache
    recorder = Recorder()
    litellm.callbacks = [recorder]
    try:
        yield recorder
    finally:
        litellm.callbacks, litellm.cache = saved_callbacks, saved_cache
        _forget_recorders()


@pytest.fixture
async def redis_backend(redis_server: RedisServer) -> AsyncIterator[RedisCache]:
    backend = RedisCache(url=redis_server.url, namespace=f"ll{uuid.uuid4().hex[:8]}", env={})
    try:
        yield backend
    finally:
        await backend.async_flush_cache()
        await backend.async_disconnect()


def request(upstream: Upstream, **extra: Any) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "messages": ask(f"question {next(_questions)}"),
        "api_base": upstream.base_url,
        "api_key": "sk-test",
        **extra,
    }


#: how long background work of LiteLLM's (writes, callbacks) may take: a hang catcher, generous
#: because a process's first callbacks import half of LiteLLM on a loaded machine
POLLS = 1200  # of 25 ms


async def stored(cache: Any, kwargs: dict[str, Any]) -> Any:
    """The entry LiteLLM wrote for ``kwargs`` (its writes run in the background): polled."""
    key = cache.get_cache_key(**kwargs)
    for _ in range(POLLS):
        value = await cache.cache.backend.async_get_cache(key)  # the store, not a write in flight
        if value is not None:
            return value
        await asyncio.sleep(0.025)
    raise AssertionError("LiteLLM never stored the answer")


async def until(condition: Any) -> None:
    for _ in range(POLLS):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("LiteLLM's background work never finished")


async def test_litellm_acompletion_hit_is_served_by_our_redis_backend(
    llm_upstream: Upstream, redis_backend: RedisCache, recorder: Recorder
) -> None:
    litellm.cache = aiocache_llm.litellm_cache(backend=redis_backend)
    kwargs = request(llm_upstream)
    first = await litellm.acompletion(**kwargs, caching=True)
    entry = await stored(litellm.cache, kwargs)
    assert "response" in entry  # LiteLLM's own entry format, in our Redis
    hit = await litellm.acompletion(**kwargs, caching=True)
    assert llm_upstream.calls() == 1
    assert hit.choices[0].message.content == first.choices[0].message.content
    assert hit._hidden_params["cache_hit"] is True
    await until(lambda: len(recorder.of(kwargs)) == 2)
    miss, hit_report = recorder.of(kwargs)
    assert hit_report == {"cache_hit": True, "response_cost": 0.0}
    assert miss["response_cost"] > 0


async def test_the_one_line_setup_builds_the_backend_from_litellm_style_settings(
    llm_upstream: Upstream, redis_server: RedisServer, recorder: Recorder
) -> None:
    litellm.cache = aiocache_llm.litellm_cache(
        type="redis", host="127.0.0.1", port=redis_server.port, namespace="oneline", ttl=60
    )
    kwargs = request(llm_upstream)
    key = litellm.cache.get_cache_key(**kwargs)
    try:
        store = litellm.cache.cache.backend.inner  # Redis, behind the default in-memory L1
        assert isinstance(store, DualCache) and isinstance(store.redis_cache, RedisCache)
        assert key.startswith("oneline:")
        await litellm.acompletion(**kwargs)
        await stored(litellm.cache, kwargs)
        await litellm.acompletion(**kwargs)
        assert llm_upstream.calls() == 1
        ttl = await litellm.cache.cache.async_get_ttl(key)
        assert ttl is not None and 0 < ttl <= 60
    finally:
        await litellm.cache.cache.async_delete_cache(key)
        await litellm.cache.disconnect()


async def test_a_no_cache_control_goes_upstream_and_a_ttl_control_sets_the_entrys_life(
    llm_upstream: Upstream, redis_backend: RedisCache, recorder: Recorder
) -> None:
    litellm.cache = aiocache_llm.litellm_cache(backend=redis_backend)
    kwargs = request(llm_upstream)
    await litellm.acompletion(**kwargs, cache={"ttl": 120})
    await stored(litellm.cache, kwargs)
    ttl = await redis_backend.async_get_ttl(litellm.cache.get_cache_key(**kwargs))
    assert ttl is not None and 60 < ttl <= 120
    await litellm.acompletion(**kwargs, cache={"no-cache": True})
    assert llm_upstream.calls() == 2


async def test_litellm_embeddings_are_cached_per_input_in_our_backend(
    llm_upstream: Upstream, recorder: Recorder
) -> None:
    backend = InMemoryCache()
    litellm.cache = aiocache_llm.litellm_cache(backend=backend)
    kwargs = {
        "model": "openai/embed",
        "input": ["a", "b"],
        "api_base": llm_upstream.base_url,
        "api_key": "sk-test",
    }
    first = await litellm.aembedding(**kwargs)
    await stored(litellm.cache, {**kwargs, "input": "b"})
    again = await litellm.aembedding(**kwargs)
    assert llm_upstream.calls("embeddings") == 1
    assert [d["embedding"] for d in again.data] == [d["embedding"] for d in first.data]


def test_the_adapter_reads_litellm_ttls_as_seconds() -> None:
    from aiocache_llm.integrations.litellm import LiteLLMBackend

    backend = InMemoryCache()
    adapter = LiteLLMBackend(backend)
    adapter.set_cache("a", {"v": 1}, ttl=datetime.timedelta(minutes=2))
    adapter.set_cache("b", {"v": 2}, ttl=0)  # LiteLLM: do not keep
    remaining = backend.get_ttl("a")
    assert remaining is not None and 60 < remaining <= 120
    assert adapter.get_cache("b") is None
    assert adapter.get_cache("a") == {"v": 1}


async def test_the_adapter_refreshes_a_counters_ttl_as_litellms_redis_cache_does(
    redis_backend: RedisCache,
) -> None:
    from aiocache_llm.integrations.litellm import LiteLLMBackend

    adapter = LiteLLMBackend(redis_backend)
    assert await adapter.async_increment("n", 1, 100) == 1
    assert await adapter.async_increment("n", 1, 1000) == 2  # the window keeps its TTL
    kept = await redis_backend.async_get_ttl("n")
    assert kept is not None and kept <= 100
    # LiteLLM's positional order: key, value, ttl, parent_otel_span, refresh_ttl
    assert await adapter.async_increment("n", 1, 1000, None, True) == 3
    refreshed = await redis_backend.async_get_ttl("n")
    assert refreshed is not None and 500 < refreshed <= 1000


async def test_a_failing_backend_never_fails_litellms_call(
    llm_upstream: Upstream, recorder: Recorder
) -> None:
    dead = RedisCache(host="127.0.0.1", port=1, env={})  # nothing listens on port 1
    litellm.cache = aiocache_llm.litellm_cache(backend=dead, backend_deadline=0.5)
    kwargs = request(llm_upstream)
    answer = await litellm.acompletion(**kwargs)
    # the failed write ends (until then this process reads the value being written)
    adapter = litellm.cache.cache
    await until(lambda: adapter._writes == 1 and not adapter._writing)
    again = await litellm.acompletion(**kwargs)
    assert answer.choices[0].message.content == again.choices[0].message.content
    assert llm_upstream.calls() == 2
    await dead.async_disconnect()
