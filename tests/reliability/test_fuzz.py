"""Property-based fuzzing: per-call controls, configuration dictionaries, ``REDIS_*``
environment values and stored bytes. Bad input is refused with a typed error before anything
is sent upstream; garbage in the store reads as a miss, never as an exception in the call."""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocache_llm.errors import CacheError, InvalidControlError
from aiocache_llm.facade import Cache
from aiocache_llm.llm.controls import CONTROL_KEYS, Controls, parse_controls
from aiocache_llm.llm.keys import make_key
from aiocache_llm.storage.memory import InMemoryCache

from .conftest import chat

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
anything = json_values | st.binary(max_size=20) | st.just(object()) | st.just(float("nan"))


class Upstream:
    def __init__(self) -> None:
        self.calls = 0

    def completion(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        text = kwargs["messages"][-1]["content"]
        return {
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(sorted(CONTROL_KEYS)) | st.text(max_size=12), anything, max_size=5
    ),
    anything,
)
def test_controls_parse_or_raise_the_typed_error(cache: Any, caching: Any) -> None:
    try:
        assert isinstance(parse_controls(cache, caching), Controls)
    except InvalidControlError:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(CONTROL_KEYS)), anything, max_size=4))
def test_a_call_with_any_controls_answers_or_is_refused_before_upstream(
    controls: dict[str, Any],
) -> None:
    upstream = Upstream()
    llm = Cache(type="local").cached(upstream.completion)
    try:
        answer = llm(**chat("hi"), cache=controls)
    except InvalidControlError:
        assert upstream.calls == 0
    else:
        assert answer["choices"][0]["message"]["content"] == "hi"


CONFIG = {
    "namespace": anything,
    "ttl": anything,
    "mode": anything,
    "supported_call_types": anything,
    "failure_policy": anything,
    "backend_deadline": anything,
    "circuit_breaker": anything
    | st.dictionaries(st.sampled_from(["failure_threshold", "recovery_time", "other"]), anything),
    "stale_if_error": anything,
    "stale_while_revalidate": anything,
    "lease_ttl": anything,
    "lease_wait": anything,
}


@FUZZ
@given(st.fixed_dictionaries({}, optional=CONFIG))
def test_any_configuration_builds_a_cache_or_raises_a_cache_error(config: dict[str, Any]) -> None:
    try:
        Cache(type="local", **config)
    except CacheError:
        pass


REDIS_ENV_NAMES = [
    "REDIS_" + name
    for name in (
        "HOST",
        "PORT",
        "DB",
        "PASSWORD",
        "USERNAME",
        "SSL",
        "SOCKET_TIMEOUT",
        "URL",
        "MAX_CONNECTIONS",
        "NAMESPACE",
        "DEFAULT_TTL",
        "FLUSH_SIZE",
        "SENTINEL_NODES",
        "SERVICE_NAME",
        "HEALTH_CHECK_INTERVAL",
        "SOCKET_KEEPALIVE",
        "VERSION",
        "CLUSTER_NODES",
    )
]
env_text = st.text(alphabet=string.printable, max_size=30) | st.sampled_from(
    ["", "0", "-1", "1e309", "nan", "true", "None", "[]", '[["h", 1]]', "redis://", ":::"]
)


redis_url = st.builds(
    lambda s, rest: s + rest, st.sampled_from(["redis://", "rediss://"]), env_text
)


@FUZZ
@given(st.dictionaries(st.sampled_from(REDIS_ENV_NAMES), env_text, max_size=4), redis_url)
def test_any_redis_environment_builds_a_cache_or_raises_a_configuration_error(
    env: dict[str, str], url: str
) -> None:
    """Only construction: a fuzzed host must never be connected to."""
    env.setdefault("REDIS_URL", url)
    try:
        Cache(type="redis", env=env)
    except CacheError:
        pass


@pytest.fixture
def fuzz_redis(redis_url: str) -> Iterator[tuple[Cache, Upstream, redis.Redis]]:
    upstream = Upstream()
    # garbage is written behind the cache's back, announced to no L1: read Redis every time
    cache = Cache(type="redis", url=redis_url, namespace=f"fz{uuid.uuid4().hex[:6]}", l1=False)
    raw = redis.Redis.from_url(redis_url)
    try:
        yield cache, upstream, raw
    finally:
        raw.close()
        cache.disconnect()


@FUZZ
@given(garbage=st.binary(max_size=200), question=st.text(min_size=1, max_size=20))
def test_garbage_bytes_in_redis_read_as_a_miss(
    fuzz_redis: tuple[Cache, Upstream, redis.Redis], garbage: bytes, question: str
) -> None:
    cache, upstream, raw = fuzz_redis
    key = make_key("completion", chat(question), namespace=cache.namespace)
    raw.set(f"{cache.namespace}:{key}", garbage)  # the store keeps the namespace as its prefix
    before = upstream.calls
    answer = cache.cached(upstream.completion)(**chat(question))
    assert answer["choices"][0]["message"]["content"] == question
    assert upstream.calls == before + 1  # a miss: the upstream answered


entry_like = st.fixed_dictionaries(
    {
        "v": st.just(1) | json_values,
        "t": json_values,
        "kind": st.sampled_from(["response", "chunks", "embedding"]) | json_values,
        "type": json_values,
        "data": json_values,
    },
)


@FUZZ
@given(stored=json_values | entry_like, stream=st.booleans())
def test_any_stored_value_is_answered_or_read_as_a_miss_never_raised(
    stored: Any, stream: bool
) -> None:
    backend = InMemoryCache()
    cache = Cache(backend=backend)
    upstream = Upstream()
    key = make_key("completion", chat("q"))
    backend.set_cache(key, stored)
    answer = cache.cached(upstream.completion)(**chat("q"), stream=stream)
    if stream:
        list(answer)
