"""The Cache facade: backends from type=..., LiteLLM's parameter names, the process default."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiocache_llm import facade as cache_module
from aiocache_llm.errors import ConfigurationError, MissingDependencyError
from aiocache_llm.facade import (
    BACKEND_TYPES,
    CALL_TYPES,
    Cache,
    cached,
    disable_cache,
    enable_cache,
    update_cache,
)
from aiocache_llm.llm.responses import cache_info
from aiocache_llm.storage import DiskCache, InMemoryCache


@pytest.fixture(autouse=True)
def no_default_cache() -> Iterator[None]:
    disable_cache()
    yield
    disable_cache()


def test_local_builds_an_in_memory_backend_with_litellms_ttl_name() -> None:
    cache = Cache(type="local", default_in_memory_ttl=30, max_size_in_memory=5)
    assert isinstance(cache.backend, InMemoryCache)
    assert cache.backend.default_ttl == 30
    assert cache.backend.max_size_in_memory == 5


def test_ttl_is_the_default_life_of_an_entry() -> None:
    assert Cache(type="local", ttl=12).backend.default_ttl == 12


def test_disk_builds_a_disk_backend(tmp_path: Path) -> None:
    cache = Cache(type="disk", disk_cache_dir=tmp_path / "c")
    assert isinstance(cache.backend, DiskCache)
    assert cache.backend.directory == (tmp_path / "c").resolve()


def test_every_call_type_is_supported_by_default() -> None:
    assert Cache().supported_call_types == CALL_TYPES


def test_an_unknown_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown cache type"):
        Cache(type="memcached")


def test_a_type_not_in_this_version_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        BACKEND_TYPES, "future", ("aiocache_llm.storage.not_built_yet", "FutureCache", None)
    )
    with pytest.raises(ConfigurationError, match="not available in this version"):
        Cache(type="future")


def test_a_missing_client_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    if "aiocache_llm.storage.redis" not in sys.modules:
        try:
            import aiocache_llm.storage.redis  # noqa: F401
        except ImportError:
            pytest.skip("the redis backend is not part of this version")
    for name in [m for m in sys.modules if m.startswith("aiocache_llm.storage.redis")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(MissingDependencyError, match=r"aiocache-llm\[redis\]"):
        Cache(type="redis", host="127.0.0.1")


def test_a_parameter_the_backend_does_not_take_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="does not take"):
        Cache(type="local", s3_bucket_name="b")


@pytest.mark.parametrize(
    "settings",
    [{"supported_call_types": ["chat"]}, {"mode": "sometimes"}, {"namespace": ""}],
)
def test_bad_settings_are_configuration_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Cache(**settings)


def test_a_ready_backend_can_be_passed_in() -> None:
    backend = InMemoryCache()
    assert Cache(backend=backend).backend is backend


async def test_enable_cache_makes_wrapped_functions_use_the_default() -> None:
    calls: list[str] = []

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["model"])
        return {"model": kwargs["model"], "choices": []}

    fn = cached(acompletion)
    await fn(model="m", messages=[])
    enable_cache()
    await fn(model="m", messages=[])
    hit = await fn(model="m", messages=[])
    assert cache_info(hit)["cache_hit"] is True
    disable_cache()
    await fn(model="m", messages=[])
    assert len(calls) == 3


async def test_update_cache_changes_settings_and_keeps_the_entries() -> None:
    enable_cache(namespace="a")
    backend = cache_module.default_cache().backend  # type: ignore[union-attr]
    updated = update_cache(mode="default_off")
    assert updated.backend is backend
    assert updated.mode == "default_off" and updated.namespace == "a"
    assert update_cache(ttl=5).backend.default_ttl == 5


def test_hooks_can_be_assigned_after_construction() -> None:
    cache = Cache()

    def key(**kwargs: Any) -> str:
        return "k"

    cache.get_cache_key = key
    assert cache.handler.custom_key is key


async def test_redis_caches_through_a_real_server(
    request: pytest.FixtureRequest, openai_client: Any, llm_upstream: Any
) -> None:
    if importlib.util.find_spec("aiocache_llm.storage.redis") is None:
        pytest.skip("the redis backend is not part of this version")
    server = request.getfixturevalue("redis_server")
    cache = Cache(type="redis", host=server.host, port=server.port, namespace=uuid.uuid4().hex)
    try:
        client = cache.wrap_openai(openai_client)
        messages = [{"role": "user", "content": "Hello over Redis"}]
        await client.chat.completions.create(model="m", messages=messages)
        hit = await client.chat.completions.create(model="m", messages=messages)
        assert cache_info(hit)["cache_hit"] is True
        assert llm_upstream.calls() == 1
    finally:
        await cache.async_disconnect()


def test_the_admin_operations_work_from_blocking_code(tmp_path: Path) -> None:
    cache = Cache(type="disk", disk_cache_dir=str(tmp_path / "admin"))

    def completion(model: str, messages: list[Any]) -> dict[str, Any]:
        choice = {"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}
        return {"model": model, "choices": [choice]}

    def ask() -> dict[str, Any]:
        return cache_info(cached(completion, cache=cache)(model="m", messages=[{"content": "q"}]))

    key = ask()["cache_key"]
    assert cache.health()["status"] == "healthy"
    assert cache.delete_keys([key, "absent"]) == [key]
    assert cache.delete_keys([key]) == []
    assert ask()["cache_hit"] is False and ask()["cache_hit"] is True
    cache.flush()
    assert ask()["cache_hit"] is False
    cache.disconnect()
