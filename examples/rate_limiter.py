"""Per-key requests and tokens per minute, enforced across processes by a shared backend.

Each request adds 1 to the key's request counter and its tokens to the token counter of the
current window, both in one ``async_increment_pipeline`` (one round trip on Redis). Increments
are atomic, so every concurrent request sees a distinct total: it is admitted when both totals
are within the limits, and otherwise takes its increments back. No window ever admits more
than the limits, however many processes share the backend, and each limit on its own is
exact: out of any number of concurrent requests, a window admits exactly ``rpm`` of them (or
as many as fit in ``tpm``). When both limits bind at once, a request refused by one holds its
place in the other until it takes it back, so that one may admit a few less, never more.

Run the demo against a Redis server (several at once share the limits)::

    python examples/rate_limiter.py --url redis://127.0.0.1:6379 --key team-a --requests 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiocache_llm import BaseCache


@dataclass(frozen=True)
class Decision:
    """Whether one request may go ahead, with the window's totals it saw."""

    allowed: bool
    requests: int
    tokens: int
    retry_after: float


class RateLimiter:
    """Fixed windows of ``window`` seconds: at most ``rpm`` requests and ``tpm`` tokens per key.

    ``clock`` gives wall-clock seconds (every process must agree on the window, so it is the
    wall clock, not a monotonic one).
    """

    def __init__(
        self,
        backend: BaseCache,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        window: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.rpm = rpm
        self.tpm = tpm
        self.window = window
        self.clock = clock

    def _keys(self, key: str) -> tuple[str, str, float]:
        now = self.clock()
        window = int(now // self.window)
        left = (window + 1) * self.window - now
        return f"ratelimit:{key}:{window}:requests", f"ratelimit:{key}:{window}:tokens", left

    async def acquire(self, key: str, tokens: int = 0) -> Decision:
        """Count one request of ``tokens`` (an estimate: prompt + max_tokens) for ``key``."""
        requests_key, tokens_key, left = self._keys(key)
        ttl = 2 * self.window  # set when a window's counter is created, never slid
        requests, used = await self.backend.async_increment_pipeline(
            [(requests_key, 1, ttl), (tokens_key, tokens, ttl)]
        )
        over_requests = self.rpm is not None and requests > self.rpm
        over_tokens = self.tpm is not None and used > self.tpm
        if over_requests or over_tokens:
            await self.backend.async_increment_pipeline(
                [(requests_key, -1, ttl), (tokens_key, -tokens, ttl)]
            )
            return Decision(False, int(requests), int(used), left)
        return Decision(True, int(requests), int(used), 0.0)

    async def settle(self, key: str, reserved: int, actual: int) -> None:
        """Replace a request's estimate by the tokens it really used (from the answer's usage)."""
        _, tokens_key, _ = self._keys(key)
        if actual != reserved:
            await self.backend.async_increment(tokens_key, actual - reserved, 2 * self.window)


async def demo(args: argparse.Namespace) -> dict[str, int]:
    from aiocache_llm.storage import RedisCache

    backend = RedisCache(url=args.url, namespace=args.namespace)
    clock = (lambda: args.now) if args.now is not None else time.time
    limiter = RateLimiter(backend, rpm=args.rpm, tpm=args.tpm, clock=clock)
    if args.start_at is not None:  # processes started together contend from the same moment
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
    try:
        decisions = await asyncio.gather(
            *(limiter.acquire(args.key, args.tokens) for _ in range(args.requests))
        )
    finally:
        await backend.async_disconnect()
    admitted = sum(d.allowed for d in decisions)
    return {"admitted": admitted, "refused": len(decisions) - admitted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379")
    parser.add_argument("--namespace", default="ratelimit-demo")
    parser.add_argument("--key", default="team-a")
    parser.add_argument("--requests", type=int, default=50, help="concurrent requests to send")
    parser.add_argument("--tokens", type=int, default=100, help="tokens per request")
    parser.add_argument("--rpm", type=int, default=20)
    parser.add_argument("--tpm", type=int, default=None)
    parser.add_argument("--now", type=float, default=None, help="pin the clock (tests)")
    parser.add_argument("--start-at", type=float, default=None, help="wall-clock start time")
    print(json.dumps(asyncio.run(demo(parser.parse_args()))))


if __name__ == "__main__":
    main()
