"""The run_sync adapter: blocking methods generated from async ones, for every backend."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from aiocache_llm import BackendUnavailable, BaseCache, DiskCache, InMemoryCache
from aiocache_llm._sync import (
    BlockingIterator,
    blocking_function,
    in_worker,
    inline,
    iterate_in_workers,
    loop_thread_loop,
    run_sync,
    threaded,
)
from aiocache_llm.core.workers import _call_workers
from aiocache_llm.storage.base import USE_DEFAULT, TTLArg
from tests.harness.redis import RedisServer


class LoopBoundCache(BaseCache):
    """A minimal network backend whose clients belong to the event loop that made them."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}

    def _client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self.clients.get(loop)
        if client is None:
            client = self.clients[loop] = aioredis.Redis.from_url(self.url)
        return client

    async def async_get_cache(self, key: str) -> Any:
        raw = await self._client().get(f"sync-test:{key}")
        return None if raw is None else orjson.loads(raw)

    async def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        await self._client().set(f"sync-test:{key}", orjson.dumps(value))

    async def async_increment(self, key: str, value: float, ttl: TTLArg = USE_DEFAULT) -> float:
        return float(await self._client().incrbyfloat(f"sync-test:{key}", value))

    async def async_delete_cache(self, key: str) -> None:
        await self._client().delete(f"sync-test:{key}")

    async def async_flush_cache(self) -> None:
        keys = [k async for k in self._client().scan_iter("sync-test:*")]
        if keys:
            await self._client().delete(*keys)

    async def async_get_ttl(self, key: str) -> float | None:
        return None

    async def async_disconnect(self) -> None:
        client = self.clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def async_extra_operation(self, x: int) -> int:
        return x * 2


@pytest.fixture
def network_cache(redis_server: RedisServer) -> Iterator[LoopBoundCache]:
    cache = LoopBoundCache(redis_server.url)
    yield cache
    cache.flush_cache()
    cache.disconnect()  # the client the blocking calls made on the library's loop


def test_every_contract_method_has_a_generated_blocking_twin() -> None:
    for name in (
        "get_cache",
        "set_cache",
        "batch_get_cache",
        "set_cache_pipeline",
        "increment_cache",
        "increment_pipeline",
        "delete_cache",
        "flush_cache",
        "get_ttl",
        "ping",
        "test_connection",
        "disconnect",
    ):
        for cls in (InMemoryCache, DiskCache, LoopBoundCache):
            assert callable(getattr(cls, name)), (cls, name)


def test_backend_specific_async_methods_get_blocking_twins_too(
    network_cache: LoopBoundCache,
) -> None:
    assert network_cache.extra_operation(21) == 42  # type: ignore[attr-defined]
    assert InMemoryCache().get_oldest_n_keys(3) == []  # type: ignore[attr-defined]


def test_a_hand_written_blocking_method_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Custom\.get_cache is written by hand"):

        class Custom(InMemoryCache):
            def get_cache(self, key: str) -> Any:  # type: ignore[override]
                return "custom"


def test_a_hand_written_blocking_method_of_the_facade_is_refused() -> None:
    from aiocache_llm.facade import Cache

    with pytest.raises(TypeError, match=r"Custom\.health is written by hand"):

        class Custom(Cache):
            def health(self) -> dict[str, Any]:
                return {"status": "made up"}


def test_a_facade_subclass_gets_the_blocking_form_of_its_own_async_method() -> None:
    from aiocache_llm.facade import Cache

    class Counting(Cache):
        async def async_entries_seen(self) -> int:
            return 3

    assert Counting().entries_seen() == 3  # type: ignore[attr-defined]


def test_blocking_network_calls_work_in_a_plain_script(network_cache: LoopBoundCache) -> None:
    network_cache.set_cache("script", {"a": 1})
    assert network_cache.get_cache("script") == {"a": 1}
    assert network_cache.increment_cache("n", 2) == 2.0


async def test_blocking_calls_from_a_thread_whose_loop_is_running_do_not_deadlock(
    network_cache: LoopBoundCache,
) -> None:
    network_cache.set_cache("inside-loop", "v")  # called directly on the running loop's thread
    assert network_cache.get_cache("inside-loop") == "v"
    assert await network_cache.async_get_cache("inside-loop") == "v"
    await network_cache.async_flush_cache()
    await network_cache.async_disconnect()


def test_blocking_calls_from_many_threads_at_once(network_cache: LoopBoundCache) -> None:
    def work(i: int) -> float:
        for _ in range(20):
            network_cache.increment_cache("shared", 1)
        network_cache.set_cache(f"t{i}", i)
        return float(network_cache.get_cache(f"t{i}"))

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(work, range(16))) == [float(i) for i in range(16)]
    assert network_cache.get_cache("shared") == 320


def test_network_clients_belong_to_one_loop_and_are_reused(network_cache: LoopBoundCache) -> None:
    for i in range(50):
        network_cache.set_cache("reuse", i)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: network_cache.get_cache("reuse"), range(40)))
    assert list(network_cache.clients) == [loop_thread_loop()]

    async def from_a_user_loop() -> Any:
        try:
            return await network_cache.async_get_cache("reuse")
        finally:
            await network_cache.async_disconnect()

    assert asyncio.run(from_a_user_loop()) == 49
    assert list(network_cache.clients) == [loop_thread_loop()]


def test_a_blocking_call_on_the_library_loop_thread_raises_instead_of_deadlocking() -> None:
    cache = LoopBoundCache("redis://127.0.0.1:1")

    async def nested() -> None:
        cache.get_cache("k")

    with pytest.raises(RuntimeError, match="deadlock"):
        run_sync(nested())


class Probe(BaseCache):
    """Records the thread each method body ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    @inline
    def async_get_cache(self, key: str) -> Any:
        self.threads.append(threading.get_ident())

    @threaded
    def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        self.threads.append(threading.get_ident())

    async def async_increment(self, key: str, value: float, ttl: TTLArg = USE_DEFAULT) -> float:
        return 0.0

    async def async_delete_cache(self, key: str) -> None: ...
    async def async_flush_cache(self) -> None: ...
    async def async_get_ttl(self, key: str) -> float | None: ...


def test_inline_and_threaded_bodies_run_in_the_callers_thread_when_blocking() -> None:
    probe = Probe()
    probe.get_cache("k")
    probe.set_cache("k", 1, ttl=None)
    assert probe.threads == [threading.get_ident()] * 2


async def test_threaded_bodies_run_off_the_event_loop_thread_when_awaited() -> None:
    probe = Probe()
    await probe.async_get_cache("k")
    await probe.async_set_cache("k", 1, ttl=5)
    assert probe.threads[0] == threading.get_ident()
    assert probe.threads[1] != threading.get_ident()


def test_generated_async_forms_keep_signatures_and_defaults(tmp_path: Path) -> None:
    import inspect

    params = inspect.signature(DiskCache.async_set_cache).parameters
    assert list(params) == ["self", "key", "value", "ttl"]
    assert params["ttl"].default is USE_DEFAULT
    assert inspect.iscoroutinefunction(DiskCache.async_set_cache)
    cache = DiskCache(tmp_path)
    cache.set_cache(key="kw", value=1, ttl=None)
    assert cache.get_cache(key="kw") == 1


class Slow(Probe):
    @threaded
    def async_delete_cache(self, key: str) -> None:
        if key == "fail":
            raise BackendUnavailable("the disk went away")
        time.sleep(0.2)


async def test_an_error_in_a_threaded_body_reaches_the_awaiting_caller() -> None:
    with pytest.raises(BackendUnavailable, match="went away"):
        await Slow().async_delete_cache("fail")


async def test_a_cancelled_caller_leaves_the_call_workers_serving() -> None:
    slow = Slow()
    task = asyncio.create_task(slow.async_delete_cache("k"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await slow.async_set_cache("k", 1, ttl=None)  # the workers still answer
    assert len(slow.threads) == 1


async def _double_on_its_loop(x: int) -> tuple[int, asyncio.AbstractEventLoop]:
    return x * 2, asyncio.get_running_loop()


def test_a_blocking_function_runs_its_coroutine_on_the_library_loop() -> None:
    double = blocking_function(_double_on_its_loop)
    assert double(21) == (42, loop_thread_loop())
    assert double.__name__ == "_double_on_its_loop"


def test_a_blocking_function_hands_back_the_converted_result() -> None:
    first = blocking_function(_double_on_its_loop, result=lambda pair: pair[0])
    assert first(x=4) == 8


class Source:
    """An async iterator that records whether it was closed."""

    def __init__(self, items: list[int]) -> None:
        self.items = iter(items)
        self.closed = False

    def __aiter__(self) -> Source:
        return self

    async def __anext__(self) -> int:
        for item in self.items:
            return item
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed = True


def test_a_blocking_iterator_yields_the_async_items_in_order() -> None:
    assert list(BlockingIterator(Source([1, 2, 3]))) == [1, 2, 3]


def test_leaving_a_blocking_iterator_early_closes_its_source() -> None:
    source = Source([1, 2, 3])
    with BlockingIterator(source) as items:
        assert next(items) == 1
    assert source.closed


_caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="nobody")


async def test_in_worker_runs_blocking_work_off_the_loop_with_the_callers_context() -> None:
    _caller.set("the caller")

    def where() -> tuple[str, str]:
        return threading.current_thread().name, _caller.get()

    thread, caller = await in_worker(where)
    assert thread.startswith("aiocache_llm-io-")
    assert caller == "the caller"


async def test_in_worker_passes_keywords_named_like_its_own_parameter() -> None:
    assert await in_worker(dict, fn=1, args=2) == {"fn": 1, "args": 2}


async def test_a_short_job_is_not_held_up_by_long_jobs_on_every_worker() -> None:
    release = threading.Event()
    long_jobs = [
        asyncio.ensure_future(in_worker(release.wait, 60)) for _ in range(_call_workers.size + 2)
    ]
    try:
        short = await asyncio.wait_for(in_worker(lambda: "done"), timeout=30)
        assert short == "done"
        assert not any(job.done() for job in long_jobs)  # all still held when it answered
    finally:
        release.set()
        assert await asyncio.gather(*long_jobs) == [True] * len(long_jobs)


class SyncStream:
    """A blocking iterator that records the threads that read and closed it."""

    def __init__(self) -> None:
        self.items = iter("abc")
        self.threads: list[int] = []
        self.closed_in: int | None = None

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> str:
        self.threads.append(threading.get_ident())
        return next(self.items)

    def close(self) -> None:
        self.closed_in = threading.get_ident()


async def test_a_blocking_iterable_is_read_and_closed_on_the_call_workers() -> None:
    stream = SyncStream()
    items: AsyncIterator[str] = iterate_in_workers(stream)
    assert [item async for item in items] == ["a", "b", "c"]
    assert threading.get_ident() not in stream.threads
    assert stream.closed_in is not None and stream.closed_in != threading.get_ident()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() of a threaded process
def test_a_forked_child_has_call_workers_even_if_the_parents_lock_was_held() -> None:
    asyncio.run(in_worker(int))  # the parent's workers run
    with _call_workers._lock:  # as a worker finishing a job holds it, at the moment of the fork
        pid = os.fork()
        if pid == 0:  # the child: report by exit code, never return into pytest
            code = 3
            try:
                signal.alarm(20)  # a deadlock ends the child instead of hanging the test
                thread = asyncio.run(in_worker(threading.current_thread))
                code = 0 if thread.name.startswith("aiocache_llm-io-") else 1
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_no_module_but_the_adapter_turns_async_into_blocking_or_back() -> None:
    import ast

    import aiocache_llm

    adapter = {"_sync.py", "_workers.py"}
    bypasses = {"to_thread", "run_in_executor", "run_sync"}
    found = []
    for path in Path(aiocache_llm.__file__).parent.rglob("*.py"):
        if path.name in adapter:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name in bypasses:
                    found.append(f"{path.name}:{node.lineno} {name}")
    assert found == []
