"""Failure handling around any backend: deadlines, a circuit breaker, a declared policy.

:class:`GuardedCache` wraps a backend. Every operation gets a deadline; after
``failure_threshold`` consecutive failures the :class:`CircuitBreaker` opens and operations skip
the backend at once (no timeout paid per call) until ``recovery_time`` has passed, when one
probe is let through (half-open): success closes the breaker, failure opens it again.

With ``policy="fail_open"`` (the default) a failed or skipped read is a miss and a failed or
skipped write is dropped: logged (one summary line per interval, not one per call) and counted.
With ``policy="fail_closed"`` the typed error is raised. Counters cannot invent a value, so a
failed increment raises under either policy.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ._wrapper import RAISE, Wrapper
from .backends.base import BaseCache
from .errors import BackendError, BackendTimeout, BackendUnavailable, ConfigurationError

__all__ = ["CircuitBreaker", "FailurePolicy", "GuardedCache", "RateLimitedLog"]

T = TypeVar("T")
FailurePolicy = Literal["fail_open", "fail_closed"]
BreakerState = Literal["closed", "open", "half_open"]

logger = logging.getLogger("aiocache_llm.resilience")


class RateLimitedLog:
    """Logs the first failure at once, then at most one summary per ``interval`` seconds."""

    def __init__(self, log: logging.Logger, interval: float = 30.0) -> None:
        self.log, self.interval = log, interval
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._suppressed = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        if suppressed:
            self.log.warning(message + " (and %d more like it)", *args, suppressed)
        else:
            self.log.warning(message, *args)


class CircuitBreaker:
    """Consecutive-failure circuit breaker: closed → open → half-open → closed."""

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_time: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or recovery_time <= 0:
            raise ConfigurationError("failure_threshold >= 1 and recovery_time > 0 are required")
        self.failure_threshold = failure_threshold
        self.recovery_time = recovery_time
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state == "open" and self._clock() - self._opened_at >= self.recovery_time:
                return "half_open"
            return self._state

    def is_open(self) -> bool:
        """Whether calls are being turned away now (open, and not yet due for a probe)."""
        if self._state == "closed":  # the common case, without the lock
            return False
        return self._state == "open" and self._clock() - self._opened_at < self.recovery_time

    def allow(self) -> bool:
        """Whether a call may go to the backend now (a half-open breaker admits one probe)."""
        if self._state == "closed":  # the common case, without the lock
            return True
        with self._lock:
            if self._state == "open":
                if self._clock() - self._opened_at < self.recovery_time:
                    return False
                self._state = "half_open"
                self._probing = False
            if self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        if self._state == "closed" and not self._failures:
            return
        with self._lock:
            self._state, self._failures, self._probing = "closed", 0, False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == "half_open" or self._failures >= self.failure_threshold:
                if self._state != "open":
                    self.times_opened += 1
                self._state, self._opened_at, self._probing = "open", self._clock(), False

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "consecutive_failures": self._failures,
            "times_opened": self.times_opened,
            "failure_threshold": self.failure_threshold,
            "recovery_time": self.recovery_time,
        }


@dataclass
class GuardStats:
    """What the guard did instead of raising."""

    failures: int = 0
    timeouts: int = 0
    skipped_open: int = 0


if sys.version_info >= (3, 11):

    async def _with_deadline(awaitable: Awaitable[T], seconds: float | None) -> T:
        if seconds is None:
            return await awaitable
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _with_deadline(awaitable: Awaitable[T], seconds: float | None) -> T:
        return await asyncio.wait_for(awaitable, seconds)


class GuardedCache(Wrapper):
    """A backend behind a deadline, a circuit breaker and a declared failure policy."""

    backend_name = "guarded"

    def __init__(
        self,
        inner: BaseCache,
        *,
        policy: FailurePolicy = "fail_open",
        deadline: float | None = 1.0,
        breaker: CircuitBreaker | None = None,
        log_interval: float = 30.0,
    ) -> None:
        if policy not in ("fail_open", "fail_closed"):
            raise ConfigurationError(f"policy must be fail_open or fail_closed, not {policy!r}")
        super().__init__(inner)
        self.policy: FailurePolicy = policy
        self.deadline = deadline
        self.breaker = breaker or CircuitBreaker()
        self.guard_stats = GuardStats()
        self._log = RateLimitedLog(logger, log_interval)

    def strict(self) -> GuardedCache:
        """A view of this guard that raises every failure (``fail_closed``), sharing its
        breaker, counters and log: for a caller that reports failures itself, as the LLM layer
        does (an error event, then upstream or the typed error, as the policy says)."""
        if self.policy == "fail_closed":
            return self
        view = GuardedCache.__new__(GuardedCache)
        view.__dict__.update(self.__dict__)
        view.policy = "fail_closed"
        return view

    async def around(self, operation: str, call: Awaitable[T], fallback: Any) -> T:
        return await self._call(operation, call, fallback)

    async def _call(self, operation: str, awaitable: Awaitable[T], fallback: T) -> T:
        """Run one backend operation under the guard; ``fallback`` is the fail-open answer."""
        if not self.breaker.allow():
            self.guard_stats.skipped_open += 1
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            return self._fail(operation, BackendUnavailable("circuit breaker open"), fallback)
        try:
            result = await _with_deadline(awaitable, self.deadline)
        except TimeoutError as exc:
            self.guard_stats.timeouts += 1
            self.breaker.record_failure()
            error = BackendTimeout(f"{operation} exceeded its {self.deadline}s deadline")
            error.__cause__ = exc
            return self._fail(operation, error, fallback)
        except BackendError as exc:
            self.breaker.record_failure()
            return self._fail(operation, exc, fallback)
        self.breaker.record_success()
        return result

    def _fail(self, operation: str, error: BackendError, fallback: T) -> T:
        self.guard_stats.failures += 1
        self.stats.errors += 1
        self._log.warning(
            "%s backend %s failed: %s", self.inner.backend_name, operation, type(error).__name__
        )
        if self.policy == "fail_closed" or fallback is RAISE:
            raise error
        return fallback

    async def async_test_connection(self) -> dict[str, Any]:
        guard = {
            "policy": self.policy,
            "deadline": self.deadline,
            "circuit_breaker": self.breaker.snapshot(),
            "guard": vars(self.guard_stats).copy(),
        }
        try:
            report = dict(await _with_deadline(self.inner.async_test_connection(), self.deadline))
        except (TimeoutError, BackendError) as exc:  # the type only: a message may quote a URL
            report = {
                "status": "unhealthy",
                "backend": self.backend_name,
                "error": type(exc).__name__,
            }
        return {**report, **guard}

    def __getattr__(self, name: str) -> Any:
        """Backend-specific extras: ``async_`` methods run guarded (a failure reads as ``None``
        under ``fail_open``); anything else passes straight through."""
        attribute = super().__getattr__(name)
        if not name.startswith("async_") or not asyncio.iscoroutinefunction(attribute):
            return attribute

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            return await self._call(name.removeprefix("async_"), attribute(*args, **kwargs), None)

        return guarded

    def __repr__(self) -> str:
        return f"GuardedCache({self.inner!r}, policy={self.policy!r}, deadline={self.deadline!r})"
