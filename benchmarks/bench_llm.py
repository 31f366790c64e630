"""Cost of a cached hit on the in-memory backend, against calling the cache directly.

Run from the repository root: ``python benchmarks/bench_llm.py``. Every row is measured in the
same run; "added p50" is the row's median minus the baseline's median (a direct
``InMemoryCache.async_get_cache`` with a ready key). The bars: a dict hit, which hands the
caller an answer of its own (decoded anew), adds at most 10 us p50 and stays under 40 us p50
through ``cached(fn)``; a hit rebuilt as an SDK type adds at most 30 us. The "own" rows compare
ways of making that answer: copying the stored data versus decoding it anew.
With LiteLLM installed, its own ``Cache(type="local")`` hit on ``litellm.acompletion`` is
measured as the anchor.

Tracing (the ``otel`` extra), measured interleaved call by call: a hit with tracing on but no
SDK configured adds at most 1 us p50 over a cache with ``tracing=False``; with the SDK
configured (in-memory exporter), a hit adds at most 1.5x one bare SDK span (start + end, same
exporter) + 2 us.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openai.types.chat import ChatCompletion

from aiocache_llm.facade import Cache, cached
from aiocache_llm.llm.keys import make_key
from aiocache_llm.storage import InMemoryCache

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "The capital of France is Paris."},
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27},
}
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "20000"))


def summarise(samples: list[int]) -> tuple[float, float, float]:
    """(p50 us, p99 us, calls per second) of per-call nanosecond samples."""
    samples.sort()
    p50 = statistics.median(samples) / 1000
    p99 = samples[int(len(samples) * 0.99)] / 1000
    return p50, p99, 1e9 * len(samples) / sum(samples)


async def measure_async(call: Callable[[], Awaitable[Any]], rounds: int) -> list[int]:
    for _ in range(min(rounds // 10, 2000)):  # warm up
        await call()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(rounds):
        start = clock()
        await call()
        samples.append(clock() - start)
    return samples


def measure_blocking(call: Callable[[], Any], rounds: int) -> list[int]:
    for _ in range(min(rounds // 10, 500)):
        call()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(rounds):
        start = clock()
        call()
        samples.append(clock() - start)
    return samples


async def rows() -> list[tuple[str, list[int]]]:
    backend = InMemoryCache(max_size_in_memory=10_000)
    cache = Cache(backend=backend)
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0}

    async def acompletion(**_: Any) -> dict[str, Any]:
        return ANSWER

    async def sdk_create(**_: Any) -> ChatCompletion:
        return ChatCompletion.model_validate(ANSWER)

    dict_fn = cached(acompletion, cache=cache)
    sdk_fn = cached(sdk_create, cache=cache, call_type="acompletion")
    sdk_kwargs = {**kwargs, "model": "gpt-4o"}
    await dict_fn(**kwargs)
    assert type(await sdk_fn(**sdk_kwargs)) is ChatCompletion
    assert type(await sdk_fn(**sdk_kwargs)) is ChatCompletion
    key = make_key("acompletion", kwargs)
    assert await backend.async_get_cache(key) is not None

    out: list[tuple[str, list[int]]] = []
    out.append(
        (
            "direct: backend.async_get_cache(key)",
            await measure_async(lambda: backend.async_get_cache(key), ROUNDS),
        )
    )

    async def key_and_get() -> Any:
        return await backend.async_get_cache(make_key("acompletion", kwargs))

    out.append(("direct: make_key + async_get_cache", await measure_async(key_and_get, ROUNDS)))
    out.append(
        ("cached(fn) hit, dict answer", await measure_async(lambda: dict_fn(**kwargs), ROUNDS))
    )
    out.append(
        (
            "cached hit, rebuilt ChatCompletion",
            await measure_async(lambda: sdk_fn(**sdk_kwargs), ROUNDS),
        )
    )
    out.append(
        (
            "uncached call of fn (reference)",
            await measure_async(lambda: acompletion(**kwargs), ROUNDS),
        )
    )
    out.extend(await litellm_rows(cache))
    return out


async def litellm_rows(cache: Cache) -> list[tuple[str, list[int]]]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        return []
    warnings.filterwarnings("ignore")
    rounds = max(ROUNDS // 10, 500)
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "mock_response": "Paris."}
    ours = cached(litellm.acompletion, cache=cache)
    await ours(**kwargs)
    out = [
        (
            "litellm.acompletion + this cache, hit",
            await measure_async(lambda: ours(**kwargs), rounds),
        )
    ]
    from litellm.caching.caching import Cache as LiteLLMCache

    litellm.cache = LiteLLMCache(type="local")
    try:
        await litellm.acompletion(**kwargs, caching=True)
        own = await measure_async(lambda: litellm.acompletion(**kwargs, caching=True), rounds)
        out.append(("litellm.acompletion + LiteLLM Cache(local), hit", own))
    except ImportError as exc:  # LiteLLM's cache-hit path imports its proxy extras
        print(f"(LiteLLM's own cache not measured: {exc})", file=sys.stderr)
    litellm.cache = None
    out.append(
        (
            "litellm.acompletion uncached mock",
            await measure_async(lambda: litellm.acompletion(**kwargs), rounds),
        )
    )
    return out


def blocking_rows() -> list[tuple[str, list[int]]]:
    cache = Cache()
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES}

    async def acompletion(**_: Any) -> dict[str, Any]:
        return ANSWER

    fn = cached(acompletion, cache=cache)
    twin = fn.blocking  # type: ignore[attr-defined]
    twin(**kwargs)
    backend = cache.backend
    key = make_key("acompletion", kwargs)
    rounds = max(ROUNDS // 4, 1000)
    return [
        (
            "blocking: backend.get_cache(key)",
            measure_blocking(lambda: backend.get_cache(key), rounds),
        ),
        ("blocking: cached(fn).blocking hit", measure_blocking(lambda: twin(**kwargs), rounds)),
    ]


def copy_rows() -> list[tuple[str, list[int]]]:
    """What a hit that is the caller's own object costs: copying the stored answer versus
    decoding it anew (the handler decodes: orjson for dicts, pydantic's JSON validator for SDK
    types). Each row is one way of turning the stored data into a fresh answer."""
    import copy

    import orjson

    def tree_copy(value: Any) -> Any:
        if value.__class__ is dict:
            return {k: tree_copy(v) for k, v in value.items()}
        if value.__class__ is list:
            return [tree_copy(v) for v in value]
        return value

    rounds = max(ROUNDS // 2, 1000)
    return [
        ("own dict: copy.deepcopy", measure_blocking(lambda: copy.deepcopy(ANSWER), rounds)),
        ("own dict: recursive copy", measure_blocking(lambda: tree_copy(ANSWER), rounds)),
        (
            "own dict: decode anew (orjson)",
            measure_blocking(lambda: orjson.loads(orjson.dumps(ANSWER)), rounds),
        ),
        (
            "own SDK: model_validate(deepcopy)",
            measure_blocking(lambda: ChatCompletion.model_validate(copy.deepcopy(ANSWER)), rounds),
        ),
        (
            "own SDK: decode anew (model_validate_json)",
            measure_blocking(
                lambda: ChatCompletion.model_validate_json(orjson.dumps(ANSWER)), rounds
            ),
        ),
    ]


async def tracing_rows() -> list[tuple[str, list[int]]]:
    """Hits without tracing, with tracing and no SDK, with the SDK; and one bare SDK span.
    The four are interleaved call by call, so a busy machine slows them alike."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        print("(tracing not measured: pip install opentelemetry-sdk)", file=sys.stderr)
        return []
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0}

    async def acompletion(**_: Any) -> dict[str, Any]:
        return ANSWER

    calls: dict[str, Callable[[], Awaitable[Any]]] = {}
    for name, options in (
        ("hit, tracing=False", {"tracing": False}),
        ("hit, tracing on, no SDK", {}),
        ("hit, SDK configured", {"tracer_provider": provider}),
    ):
        fn = cached(acompletion, cache=Cache(**options))
        await fn(**kwargs)
        calls[name] = lambda fn=fn: fn(**kwargs)

    async def bare_span() -> None:
        tracer.start_span("bare").end()

    calls["bare SDK span (start + end)"] = bare_span
    samples: dict[str, list[int]] = {name: [] for name in calls}
    clock = time.perf_counter_ns
    rounds = max(ROUNDS // 2, 1000)
    order = list(calls.items())
    for i in range(rounds + rounds // 10):
        if i % 1000 == 0:
            exporter.clear()
        turn = i % len(order)  # each case goes first as often as the others
        for name, call in order[turn:] + order[:turn]:
            start = clock()
            await call()
            took = clock() - start
            if i >= rounds // 10:  # after the warm-up
                samples[name].append(took)
    provider.shutdown()
    return [(f"tracing: {name}", values) for name, values in samples.items()]


def tracing_verdict(rows: list[tuple[str, list[int]]]) -> str:
    if not rows:
        return "tracing: not measured"
    p50 = {name: statistics.median(values) / 1000 for name, values in rows}
    off, no_sdk, sdk, bare = (p50[name] for name, _ in rows)
    quiet, traced = no_sdk - off, sdk - off
    ok = quiet <= 1 and traced <= 1.5 * bare + 2
    return (
        f"tracing bars: no SDK adds <= 1 us ({quiet:.2f} us); with the SDK a hit adds"
        f" <= 1.5x a bare span + 2 us ({traced:.2f} us <= {1.5 * bare + 2:.2f} us)"
        f" -> {'PASS' if ok else 'FAIL'}"
    )


def main() -> None:
    started = time.perf_counter()
    results = asyncio.run(rows())
    traced = asyncio.run(tracing_rows())
    baseline = statistics.median(results[0][1]) / 1000
    blocking = blocking_rows()
    print(
        f"{'case':50} {'p50 us':>9} {'p99 us':>9} {'calls/s':>10} {'x base':>7} {'added p50':>10}"
    )
    copies = copy_rows()
    for name, samples in results + blocking + copies + traced:
        p50, p99, rate = summarise(samples)
        base = baseline if not name.startswith("blocking") else summarise(blocking[0][1])[0]
        print(f"{name:50} {p50:9.2f} {p99:9.2f} {rate:10.0f} {p50 / base:7.1f} {p50 - base:9.2f}")
    hit_added = statistics.median(results[2][1]) / 1000 - baseline
    sdk_added = statistics.median(results[3][1]) / 1000 - baseline
    hit_p50 = statistics.median(results[2][1]) / 1000
    verdict = "PASS" if hit_added <= 10 and hit_p50 <= 40 and sdk_added <= 30 else "FAIL"
    print(
        f"\nbars: a dict hit adds <= 10 us p50 over the direct get ({hit_added:.1f} us), a"
        f" cached(fn) hit p50 <= 40 us ({hit_p50:.1f} us), an SDK-type hit adds <= 30 us"
        f" ({sdk_added:.1f} us) -> {verdict}  ({time.perf_counter() - started:.1f} s)"
    )
    print(tracing_verdict(traced))


if __name__ == "__main__":
    main()
