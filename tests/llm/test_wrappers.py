"""cached(fn): any acompletion-style function, its blocking twin, and blocking functions."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.responses import CachedDict, cache_info
from aiocache_llm.llm.streaming import BlockingStream

from ._support import ask


class Recorder:
    """An acompletion-style function that answers with plain dicts and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def acompletion(self, model: str, messages: list[Any], **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        text = messages[-1]["content"]
        choice = {"index": 0, "message": {"content": text}, "finish_reason": "stop"}
        return {"model": model, "choices": [choice]}


async def test_a_dict_answer_comes_back_as_a_marked_dict() -> None:
    upstream = Recorder()
    fn = cached(upstream.acompletion, cache=Cache())
    first = await fn(model="m", messages=ask())
    hit = await fn(model="m", messages=ask())
    assert type(hit) is CachedDict and hit == first
    assert cache_info(hit)["cache_hit"] is True
    assert upstream.calls == 1


async def test_positional_arguments_key_like_keywords() -> None:
    upstream = Recorder()
    fn = cached(upstream.acompletion, cache=Cache())
    await fn("m", ask())
    await fn(model="m", messages=ask())
    assert upstream.calls == 1


async def test_controls_are_not_passed_to_the_wrapped_function() -> None:
    seen: list[dict[str, Any]] = []

    async def acompletion(**kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return {}

    await cached(acompletion, cache=Cache())(model="m", messages=[], cache={"no-store": True})
    assert seen == [{"model": "m", "messages": []}]


def test_the_blocking_twin_shares_the_cache() -> None:
    upstream = Recorder()
    fn = cached(upstream.acompletion, cache=Cache())
    fn.blocking(model="m", messages=ask())  # type: ignore[attr-defined]
    hit = fn.blocking(model="m", messages=ask())  # type: ignore[attr-defined]
    assert cache_info(hit)["cache_hit"] is True
    assert upstream.calls == 1


def test_a_blocking_function_is_wrapped_into_a_blocking_function() -> None:
    calls: list[str] = []

    def completion(model: str, messages: list[Any]) -> dict[str, Any]:
        calls.append(model)
        return {"model": model}

    fn = cached(completion, cache=Cache())
    fn(model="m", messages=ask())
    hit = fn(model="m", messages=ask())
    assert cache_info(hit)["cache_hit"] is True
    assert calls == ["m"]


async def test_an_async_generator_stream_is_replayed() -> None:
    calls: list[int] = []

    async def acompletion(**kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        calls.append(1)
        for word, end in (("a", None), ("b", None), ("c", "stop")):
            yield {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": end}]}

    fn = cached(acompletion, cache=Cache())
    original = [c async for c in await fn(model="m", messages=[], stream=True)]
    replayed = [c async for c in await fn(model="m", messages=[], stream=True)]
    assert replayed == original and len(replayed) == 3
    assert calls == [1]


async def test_cached_works_as_a_decorator_with_settings() -> None:
    calls: list[str] = []

    @cached(cache=Cache(), call_type="atext_completion")
    async def complete(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs["prompt"])
        return {"choices": [{"text": "x", "finish_reason": "stop"}]}

    await complete(model="m", prompt="p")
    await complete(model="m", prompt="p")
    assert calls == ["p"]


def test_a_blocking_function_runs_upstream_on_the_io_workers() -> None:
    threads: list[str] = []

    def completion(model: str, messages: list[Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return {"model": model}

    cached(completion, cache=Cache())(model="m", messages=ask())
    assert len(threads) == 1 and threads[0].startswith("aiocache_llm-io-")


def test_a_blocking_stream_is_read_on_the_io_workers_and_replayed_as_a_blocking_stream() -> None:
    threads: list[str] = []

    def chunks() -> Iterator[dict[str, Any]]:
        for text, end in (("a", None), ("b", "stop")):
            threads.append(threading.current_thread().name)
            yield {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": end}]}

    def completion(model: str, messages: list[Any], stream: bool = False) -> Any:
        return chunks()

    fn = cached(completion, cache=Cache())
    live = list(fn(model="m", messages=ask(), stream=True))
    replayed = fn(model="m", messages=ask(), stream=True)
    assert isinstance(replayed, BlockingStream)
    assert [c["choices"][0]["delta"]["content"] for c in replayed] == ["a", "b"]
    assert len(live) == 2 and all(name.startswith("aiocache_llm-io-") for name in threads)
    assert len(threads) == 2  # the replay read nothing upstream


async def test_report_skip_is_a_skip_event_with_its_reason() -> None:
    cache = Cache()
    events: list[Any] = []
    cache.add_callback(events.append)
    cache.report_skip("acompletion", "a raw-response view")
    assert [(e.kind, e.call_type, e.reason) for e in events] == [
        ("skip", "acompletion", "a raw-response view")
    ]
