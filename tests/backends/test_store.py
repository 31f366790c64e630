"""StoreCache over a store of one's own: what the one cache class does for any store.

The store here keeps payloads in a dict and can be told to fail the way a client library
does, a fault no real server produces on demand.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from aiocache_llm.errors import BackendTimeout, BackendUnavailable, InvalidKeyError
from aiocache_llm.storage._store import Change, ErrorMap, Store, Stored
from aiocache_llm.storage._store_cache import StoreCache


class ClientDown(Exception):
    """What the store's pretend client library raises."""


class ClientSlow(ClientDown):
    """Its timeout, a subclass: the error map's first matching row decides."""


class DictStore(Store[bytes]):
    errors: ErrorMap = ((ClientSlow, BackendTimeout), (ClientDown, BackendUnavailable))

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.failure: Exception | None = None
        self.threads: list[str] = []

    def _touch(self) -> None:
        self.threads.append(threading.current_thread().name)
        if self.failure is not None:
            raise self.failure

    async def get(self, name: str) -> Stored[bytes] | None:
        self._touch()
        return Stored(self.data[name]) if name in self.data else None

    async def set(self, name: str, data: bytes, expires_at: float | None) -> None:
        self._touch()
        self.data[name] = data

    async def delete(self, name: str) -> None:
        self._touch()
        self.data.pop(name, None)

    async def update(self, changes: Mapping[str, Change[bytes]]) -> None:
        self._touch()
        planned = {name: change(self.data.get(name))[0] for name, change in changes.items()}
        self.data.update(planned)

    async def clear(self, prefix: str) -> None:
        self._touch()
        for name in [n for n in self.data if n.startswith(prefix)]:
            del self.data[name]

    async def ping(self) -> None:
        self._touch()


def in_caller(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a thread named "caller", as a script's blocking call."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), name="caller")
    thread.start()
    thread.join()
    return result[0]


class InlineCache(StoreCache[bytes]):
    backend_name = "dict"
    runs = "inline"


class ThreadedCache(StoreCache[bytes]):
    backend_name = "dict-threaded"
    runs = "threaded"


async def test_a_client_error_in_the_map_becomes_ours_with_the_cause_chained() -> None:
    store = DictStore()
    cache = InlineCache(store)
    store.failure = ClientSlow("no answer")
    with pytest.raises(BackendTimeout, match="dict: no answer") as info:
        await cache.async_get_cache("k")
    assert info.value.__cause__ is store.failure
    store.failure = ClientDown("refused")
    with pytest.raises(BackendUnavailable, match="refused"):
        await cache.async_set_cache("k", 1)
    assert cache.stats.errors == 2


async def test_an_exception_the_map_does_not_name_propagates_as_it_is() -> None:
    store = DictStore()
    cache = InlineCache(store)
    store.failure = KeyError("a bug in the store")
    with pytest.raises(KeyError):
        await cache.async_get_cache("k")
    assert cache.stats.errors == 0


async def test_names_are_the_prefix_then_the_key_and_a_flush_keeps_to_the_prefix() -> None:
    store = DictStore()
    mine, theirs = InlineCache(store, prefix="a/"), InlineCache(store, prefix="ab/")
    await mine.async_set_cache("k", 1)
    await theirs.async_set_cache("k", 2)
    assert sorted(store.data) == ["a/k", "ab/k"]
    await mine.async_flush_cache()
    assert sorted(store.data) == ["ab/k"]
    assert await theirs.async_get_cache("k") == 2


async def test_a_corrupt_payload_is_a_counted_miss_and_is_discarded() -> None:
    store = DictStore()
    cache = InlineCache(store)
    store.data["k"] = b"not an entry"
    assert await cache.async_get_cache("k") is None
    assert cache.stats.corrupt_reads == 1 and "k" not in store.data


async def test_bad_input_fails_before_the_store_is_asked() -> None:
    store = DictStore()
    cache = InlineCache(store)
    with pytest.raises(InvalidKeyError):
        await cache.async_set_cache("", 1)
    assert store.threads == []


async def test_an_inline_store_runs_every_call_in_the_callers_thread() -> None:
    store = DictStore()
    cache = InlineCache(store)
    await cache.async_set_cache("k", 1)
    assert in_caller(cache.get_cache, "k") == 1
    assert store.threads == [threading.current_thread().name, "caller"]


async def test_a_threaded_store_runs_async_calls_in_workers_and_blocking_ones_in_place() -> None:
    store = DictStore()
    cache = ThreadedCache(store)
    await cache.async_set_cache("k", 1)
    assert await cache.async_increment("n", 2) == 2
    assert in_caller(cache.get_cache, "k") == 1
    assert [name.startswith("aiocache_llm-io") for name in store.threads] == [True, True, False]
    assert store.threads[-1] == "caller"
