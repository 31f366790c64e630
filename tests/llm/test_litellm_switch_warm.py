"""A warm switch: LiteLLM's own Redis cache and ``Cache(key_format="litellm")`` share entries,
both ways, so a fleet moves one process at a time and keeps its hits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import aiocache_llm
from tests.harness.redis import RedisServer

from .test_litellm_native import Recorder, recorder, until

litellm = pytest.importorskip("litellm")

__all__ = ["recorder"]  # the fixture, used by name


@pytest.fixture(autouse=True)
async def litellm_settles() -> AsyncIterator[None]:
    """LiteLLM's background logging of a test's calls ends on that test's loop."""
    yield
    await asyncio.sleep(0.5)


@pytest.fixture
def namespace() -> str:
    return f"switch-{uuid.uuid4().hex[:8]}"


# -- a warm switch: LiteLLM's own Redis cache and key_format="litellm" share entries --------------
def own_litellm_cache(redis_server: RedisServer, namespace: str) -> Any:
    return litellm.Cache(
        type="redis", host=redis_server.host, port=str(redis_server.port), namespace=namespace
    )


def ours(redis_server: RedisServer, namespace: str) -> aiocache_llm.Cache:
    return aiocache_llm.Cache(
        type="redis",
        host=redis_server.host,
        port=redis_server.port,
        namespace=namespace,
        key_format="litellm",
    )


def mock_call(question: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": question}],
        "mock_response": f"answer to {question}",
        **extra,
    }


@pytest.fixture
async def pair(redis_server: RedisServer, namespace: str) -> AsyncIterator[tuple[Any, Any]]:
    """LiteLLM's own Redis cache and ours with key_format="litellm", on one namespace."""
    own, mine = own_litellm_cache(redis_server, namespace), ours(redis_server, namespace)
    yield own, mine
    await own.disconnect()
    await mine.async_disconnect()


async def settle(cache: Any, kwargs: dict[str, Any]) -> None:
    """Until the background write of ``kwargs``'s answer is readable through ``cache``."""
    key = cache.get_cache_key(**kwargs, litellm_call_id="probe")
    await until(lambda: cache.get_cache(cache_key=key) is not None)


async def test_entries_litellms_redis_cache_wrote_are_hits_with_key_format_litellm(
    pair: tuple[Any, Any], recorder: Recorder
) -> None:
    own, mine = pair
    kwargs = mock_call(f"switch {uuid.uuid4().hex}")
    litellm.cache = own
    await litellm.acompletion(**kwargs)
    await settle(litellm.cache, kwargs)
    litellm.cache = mine
    hit = await litellm.acompletion(**{**kwargs, "mock_response": "not this"})
    assert hit._hidden_params.get("cache_hit") is True
    assert hit.choices[0].message.content == kwargs["mock_response"]


async def test_entries_written_with_key_format_litellm_are_hits_for_litellms_redis_cache(
    pair: tuple[Any, Any], recorder: Recorder
) -> None:
    own, mine = pair
    kwargs = mock_call(f"back {uuid.uuid4().hex}")
    litellm.cache = mine
    await litellm.acompletion(**kwargs)
    await settle(litellm.cache, kwargs)
    litellm.cache = own
    hit = await litellm.acompletion(**{**kwargs, "mock_response": "not this"})
    assert hit._hidden_params.get("cache_hit") is True
    assert hit.choices[0].message.content == kwargs["mock_response"]


def test_user_is_part_of_the_key_as_in_litellm(pair: tuple[Any, Any]) -> None:
    own, mine = pair
    kwargs = mock_call(f"who {uuid.uuid4().hex}", user="alice", litellm_call_id="probe")
    alice = mine.get_cache_key(**kwargs)
    assert alice == own.get_cache_key(**kwargs)  # LiteLLM's own key, user included
    assert alice != mine.get_cache_key(**{**kwargs, "user": "bob"})


def test_key_format_litellm_needs_redis() -> None:
    with pytest.raises(aiocache_llm.errors.ConfigurationError, match="key_format"):
        aiocache_llm.Cache(type="local", key_format="litellm")
    with pytest.raises(aiocache_llm.errors.ConfigurationError, match="key_format"):
        aiocache_llm.Cache(key_format="lite")  # type: ignore[arg-type]
