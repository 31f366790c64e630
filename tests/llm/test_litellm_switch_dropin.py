"""``litellm.cache = aiocache_llm.Cache(...)``: the change of import that just works.

Every litellm call path (async and sync completion, streaming, embeddings, ``litellm.Router``)
runs on a :class:`~aiocache_llm.Cache` assigned to ``litellm.cache`` as on
``litellm_cache(...)``; short scripts keep their writes and end quietly (each in a process of
its own, so what is printed at exit is captured); ``key_format="litellm"`` shares entries with
LiteLLM's own Redis cache, both ways.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import aiocache_llm
from tests.harness.redis import RedisServer
from tests.harness.upstream import Upstream

from .test_litellm_native import Recorder, recorder, request, until

litellm = pytest.importorskip("litellm")

__all__ = ["recorder"]  # the fixture, used by name


@pytest.fixture(autouse=True)
async def litellm_settles() -> AsyncIterator[None]:
    """LiteLLM's background logging of a test's calls ends on that test's loop."""
    yield
    await asyncio.sleep(0.5)


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace() -> str:
    return f"dropin-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def redis_cache(
    redis_server: RedisServer, namespace: str
) -> AsyncIterator[aiocache_llm.Cache]:
    cache = aiocache_llm.Cache(
        type="redis", host=redis_server.host, port=redis_server.port, namespace=namespace
    )
    yield cache
    await cache.async_flush()
    await cache.async_disconnect()


# -- every call path ---------------------------------------------------------------------------
async def test_an_async_completion_hits(
    redis_cache: aiocache_llm.Cache, llm_upstream: Upstream, recorder: Recorder
) -> None:
    litellm.cache = redis_cache
    kwargs = request(llm_upstream)
    first = await litellm.acompletion(**kwargs)
    second = await litellm.acompletion(**kwargs)
    assert second._hidden_params.get("cache_hit") is True
    assert second.choices[0].message.content == first.choices[0].message.content
    assert llm_upstream.calls() == 1


async def test_a_streamed_completion_replays_from_the_cache(
    redis_cache: aiocache_llm.Cache, llm_upstream: Upstream, recorder: Recorder
) -> None:
    litellm.cache = redis_cache
    kwargs = request(llm_upstream, stream=True)
    first = "".join(
        [c.choices[0].delta.content or "" async for c in await litellm.acompletion(**kwargs)]
    )
    key = redis_cache.get_cache_key(**kwargs, litellm_call_id="probe")
    await until(lambda: redis_cache.get_cache(cache_key=key) is not None)
    stream = await litellm.acompletion(**kwargs)
    second = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert second == first
    assert llm_upstream.calls() == 1


async def test_embeddings_hit_per_input(
    redis_cache: aiocache_llm.Cache, llm_upstream: Upstream, recorder: Recorder
) -> None:
    litellm.cache = redis_cache
    kwargs = {
        "model": "openai/text-embedding-3-small",
        "input": ["a", "b"],
        "api_base": llm_upstream.base_url,
        "api_key": "sk-test",
    }
    first = await litellm.aembedding(**kwargs)
    await until(lambda: redis_cache.cache._writes >= 1 and not redis_cache.cache._writing)
    second = await litellm.aembedding(**kwargs)
    assert second._hidden_params.get("cache_hit") is True
    assert [d["embedding"] for d in second.data] == [d["embedding"] for d in first.data]
    assert llm_upstream.calls("embeddings") == 1


async def test_router_back_to_back_calls_hit(
    redis_cache: aiocache_llm.Cache, llm_upstream: Upstream, recorder: Recorder
) -> None:
    litellm.cache = redis_cache
    deployment = {k: v for k, v in request(llm_upstream).items() if k != "messages"}
    router = litellm.Router(
        model_list=[{"model_name": "m", "litellm_params": deployment}], cache_responses=True
    )
    messages = request(llm_upstream)["messages"]
    await router.acompletion(model="m", messages=messages)
    second = await router.acompletion(model="m", messages=messages)
    assert second._hidden_params.get("cache_hit") is True
    assert llm_upstream.calls() == 1


async def test_a_dead_backend_never_fails_the_call_nor_raises_attribute_errors(
    llm_upstream: Upstream, recorder: Recorder
) -> None:
    litellm.cache = aiocache_llm.Cache(type="redis", host="127.0.0.1", port=1, backend_deadline=0.3)
    kwargs = request(llm_upstream)
    answer = await litellm.acompletion(**kwargs)
    embedded = await litellm.aembedding(
        model="openai/text-embedding-3-small",
        input=["x"],
        api_base=llm_upstream.base_url,
        api_key="sk-test",
    )
    assert answer.choices[0].message.content
    assert embedded.data


def test_the_litellm_surface_is_there() -> None:
    cache = aiocache_llm.Cache()
    for name in ("cache", "supported_call_types", "type", "mode", "namespace", "ttl"):
        getattr(cache, name)
    assert cache.should_use_cache(model="m", messages=[]) is True
    assert cache.supports_async() is True
    assert cache.get_preset_cache_key_from_kwargs(litellm_params={"preset_cache_key": "k"}) == "k"
    with pytest.raises(AttributeError):
        cache.no_such_thing  # noqa: B018


# -- scripts: no write lost, nothing printed at exit ---------------------------------------------
SCRIPT = """
import asyncio, sys, warnings
warnings.simplefilter("always")
import litellm
import aiocache_llm

port, namespace, how, api, question = sys.argv[1:6]
settings = {"host": "127.0.0.1", "port": int(port), "namespace": namespace}
if how == "litellm_cache":
    litellm.cache = aiocache_llm.litellm_cache(type="redis", **settings)
else:
    litellm.cache = aiocache_llm.Cache(type=how, **settings)
messages = [{"role": "user", "content": question}]


def hit(response):
    return bool(response._hidden_params.get("cache_hit"))


async def main():
    if api == "router":
        deployment = {"model": "gpt-4o-mini", "mock_response": "hi"}
        router = litellm.Router(
            model_list=[{"model_name": "m", "litellm_params": deployment}], cache_responses=True
        )
        first = await router.acompletion(model="m", messages=messages)
        second = await router.acompletion(model="m", messages=messages)
        print(hit(first), hit(second))
    else:
        answer = await litellm.acompletion(
            model="gpt-4o-mini", messages=messages, mock_response="hi"
        )
        print(hit(answer))


if api == "sync":
    print(hit(litellm.completion(model="gpt-4o-mini", messages=messages, mock_response="hi")))
else:
    asyncio.run(main())
"""

NOISE = ("Task was destroyed", "Task exception was never retrieved", "BackendTimeout", "Traceback")


def run_script(redis_server: RedisServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(redis_server.port), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("how", "api"),
    [
        ("redis", "async"),
        ("dual", "async"),
        ("redis", "sync"),
        ("litellm_cache", "async"),
    ],
)
def test_a_one_call_script_stores_its_answer_for_the_next_process(
    redis_server: RedisServer, namespace: str, how: str, api: str
) -> None:
    question = f"q-{uuid.uuid4().hex}"
    assert run_script(redis_server, namespace, how, api, question) == "False"
    assert run_script(redis_server, namespace, how, api, question) == "True"


@pytest.mark.parametrize("how", ["redis", "dual"])
def test_router_back_to_back_calls_in_a_script_hit(
    redis_server: RedisServer, namespace: str, how: str
) -> None:
    question = f"q-{uuid.uuid4().hex}"
    assert run_script(redis_server, namespace, how, "router", question) == "False True"
    assert run_script(redis_server, namespace, how, "router", question) == "True True"
