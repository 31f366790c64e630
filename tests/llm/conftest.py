"""Fixtures of the LLM-layer tests: the stand-in upstream, real OpenAI SDK clients pointed at
it, and a fresh in-memory cache per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from aiocache_llm.facade import Cache
from tests.harness.upstream import Upstream


@pytest.fixture
async def openai_client(llm_upstream: Upstream) -> AsyncIterator[AsyncOpenAI]:
    """An uncached ``AsyncOpenAI`` client talking to the stand-in upstream (no retries)."""
    async with AsyncOpenAI(base_url=llm_upstream.base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
def blocking_openai_client(llm_upstream: Upstream) -> Iterator[OpenAI]:
    with OpenAI(base_url=llm_upstream.base_url, api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
def cache() -> Cache:
    return Cache(type="local")


@pytest.fixture
def client(cache: Cache, openai_client: AsyncOpenAI) -> Any:
    """The async client with ``cache`` in front of it."""
    return cache.wrap_openai(openai_client)
