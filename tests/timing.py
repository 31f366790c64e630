"""Time in tests that must hold on a busy machine.

A loaded scheduler stretches every step, so tests never assert that something was quick.
What they may rely on, and the helpers here give:

* **Order with margins.** An entry read back within half its TTL must be there; after 1.5x
  its TTL it must be gone. :func:`live_then_gone` checks both, and when the machine was too
  slow for the first half (the read came too late to prove anything) it tries again with a
  longer TTL, instead of asserting on an inconclusive observation.
* **Bounded polling.** :func:`eventually` waits for a condition a background step brings
  about, up to a generous bound.
* **Load-proof durations.** Where a test guards a promise about time itself ("a call with a
  paused server costs at most the deadline + 10 %"), it measures with :func:`own_time`: the
  monotonic clock minus the time the measuring thread (the event loop's) spent runnable but
  waiting for a CPU (Linux's per-thread ``schedstat``). Waiting on a socket or a timer and
  running the library's own code count; waiting behind other processes for a core does not.
  Where the kernel does not report it, ``own_time`` is plain ``time.monotonic``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def cpu_wait() -> float:
    """Seconds the calling thread has spent runnable but waiting for a CPU (Linux's
    ``schedstat``), or 0.0 where the kernel does not say."""
    try:
        return int(_SCHEDSTAT.read_bytes().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def own_time() -> float:
    """A monotonic clock (for one thread: read it on the thread that does the work, the event
    loop's in async tests) that stands still while that thread waits for a CPU."""
    return time.monotonic() - cpu_wait()


async def sleep_until(moment: float) -> None:
    """Sleep until ``time.monotonic()`` has passed ``moment``."""
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "the condition",
) -> T:
    """Await ``probe()`` every ``interval`` seconds until it returns something truthy; return
    it. Fail after ``timeout`` seconds (a generous bound: it only matters when it is broken)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        await asyncio.sleep(interval)


#: TTLs :func:`live_then_gone` tries, shortest first; each longer one only on a slow machine.
TTL_LADDER = (0.2, 0.8, 3.2)


async def live_then_gone(
    write: Callable[[float], Awaitable[Any]],
    read: Callable[[], Awaitable[Any]],
    expected: Any,
    *,
    ttls: Sequence[float] = TTL_LADDER,
) -> float:
    """``write(ttl)``, then ``read()`` must give ``expected`` while the TTL cannot have run out
    and ``None`` once it certainly has. Returns the TTL that gave a conclusive reading.

    "Cannot have run out": the read ended within half the TTL of the moment the write began.
    "Certainly has": 1.5x the TTL after the write returned. When the first read came later
    than half the TTL (a loaded machine), the observation proves nothing and the next, longer
    TTL is tried.
    """
    for ttl in ttls:
        began = time.monotonic()
        await write(ttl)
        written = time.monotonic()
        value = await read()
        if time.monotonic() - began < ttl / 2:
            assert value == expected, f"read back {value!r} within half of a {ttl} s TTL"
            break
    else:
        raise AssertionError(f"no read came back within half of any TTL in {list(ttls)}")
    await sleep_until(written + ttl * 1.5)
    gone = await read()
    assert gone is None, f"still {gone!r} after 1.5x its {ttl} s TTL"
    return ttl


class ManualClock:
    """A clock the test moves by hand (``clock.now += 5``), for code that takes a ``clock``
    (``CircuitBreaker``, ``InMemoryCache``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
