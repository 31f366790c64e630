"""A cache hit through the proxy against the same request relayed to a 50 ms upstream.

Run from the repository root: ``python benchmarks/bench_proxy.py``. It starts the stand-in
upstream (50 ms per answer) and ``python -m aiocache_llm serve`` with an in-memory cache on
loopback ports, then times requests from one keep-alive HTTP client:

* upstream direct: the stand-in itself (the baseline);
* relayed miss: through the proxy with ``no-cache``/``no-store`` (every request goes upstream);
* cache hit: through the proxy, answered from the cache;
* /health: the proxy's cheapest route, the HTTP round trip a hit cannot avoid.

Auth is on: the requests carry the master key, or with ``BENCH_CALLER_KEY=1`` a caller's API key
from the config's ``keys`` (a team, allowed models: the caller's own scope).

Bars: the hit is at least 5x faster than the relayed request; a hit, with its
``x-aiocache-llm-*`` and LiteLLM ``x-litellm-*`` headers, adds at most 0.3 ms p50 (its median
minus the /health median; the whole hit's median is shown too).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.upstream import start_upstream
from tests.proxy._support import start_proxy

LATENCY = 0.05
SLOW_ROUNDS = int(os.environ.get("BENCH_SLOW_ROUNDS", "40"))
FAST_ROUNDS = int(os.environ.get("BENCH_FAST_ROUNDS", "2000"))
CALLER_KEY = os.environ.get("BENCH_CALLER_KEY") == "1"
MASTER_KEY = "sk-bench-master-0"
TEAM_KEY = "sk-bench-team-1"
BODY = {
    "model": "gpt-test",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
}


def measure(call: Callable[[], httpx.Response], rounds: int, warm_up: int = 20) -> list[float]:
    """Seconds per call, after a short warm-up."""
    for _ in range(min(rounds, warm_up)):
        call().raise_for_status()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call().raise_for_status()
        samples.append(time.perf_counter() - start)
    return samples


def alternate(
    first: Callable[[], httpx.Response], second: Callable[[], httpx.Response], rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds per call of each, measured in alternating turns of 50 calls."""
    ours: list[float] = []
    theirs: list[float] = []
    while len(ours) < rounds:
        ours += measure(first, 50, warm_up=2)
        theirs += measure(second, 50, warm_up=2)
    return ours, theirs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        upstream = start_upstream(Path(tmp) / "upstream")
        proxy = None
        try:
            upstream.configure(latency=LATENCY)
            config = {
                "model_list": [
                    {
                        "model_name": "gpt-test",
                        "litellm_params": {"model": "openai/m", "api_base": upstream.base_url},
                    }
                ],
                "cache_settings": {"cache_params": {"type": "local"}},
                "general_settings": {"master_key": MASTER_KEY},
            }
            key = MASTER_KEY
            if CALLER_KEY:
                config["keys"] = [{"key": TEAM_KEY, "team_id": "bench", "models": ["gpt-test"]}]
                key = TEAM_KEY
            proxy = start_proxy(config, Path(tmp) / "proxy", key, log_level="warning")
            relayed_body = {**BODY, "cache": {"no-cache": True, "no-store": True}}
            auth = {"authorization": f"Bearer {key}"}
            with httpx.Client(timeout=10, headers=auth) as client:
                direct = upstream.base_url + "/chat/completions"
                through = proxy.base_url + "/chat/completions"
                rows = {
                    "upstream direct (baseline)": measure(
                        lambda: client.post(direct, json=BODY), SLOW_ROUNDS
                    ),
                    "relayed through the proxy": measure(
                        lambda: client.post(through, json=relayed_body), SLOW_ROUNDS
                    ),
                }
                client.post(through, json=BODY).raise_for_status()  # fill the cache
                hit = client.post(through, json=BODY)
                assert hit.headers["x-aiocache-llm-cache-hit"] == "true"
                assert hit.headers["x-litellm-cache-key"] == hit.headers["x-aiocache-llm-cache-key"]
                # the body is encoded once (the client's JSON encoding is not the proxy's
                # cost), and hits and /health alternate in short turns, so that a change in
                # the machine's load while it runs weighs on both alike
                encoded = orjson.dumps(BODY)
                json_type = {"content-type": "application/json"}
                health = proxy.url + "/health"
                hits, floors = alternate(
                    lambda: client.post(through, content=encoded, headers=json_type),
                    lambda: client.get(health),
                    FAST_ROUNDS,
                )
                rows["cache hit through the proxy"] = hits
                rows["proxy /health (HTTP floor)"] = floors
        finally:
            if proxy is not None:
                proxy.process.stop()
            upstream.process.stop()

    medians = {name: statistics.median(samples) for name, samples in rows.items()}
    baseline = medians["upstream direct (baseline)"]
    print(f"{'request':32} {'p50 ms':>9} {'p95 ms':>9} {'x faster than baseline':>24}")
    for name, samples in rows.items():
        samples.sort()
        p95 = samples[int(len(samples) * 0.95)]
        ratio = baseline / medians[name]
        print(f"{name:32} {medians[name] * 1e3:9.3f} {p95 * 1e3:9.3f} {ratio:24.1f}")
    relayed = medians["relayed through the proxy"]
    hit = medians["cache hit through the proxy"]
    added = hit - medians["proxy /health (HTTP floor)"]
    print()
    print(f"hit vs relayed: {relayed / hit:.1f}x faster (bar: >= 5x)")
    print(f"hit p50 added over /health: {added * 1e3:.3f} ms (bar: <= 0.3 ms)")
    print(f"hit p50 round trip: {hit * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
