"""The circuit breaker and the failure policy, as one middleware.

After ``failure_threshold`` consecutive failures the :class:`CircuitBreaker` opens and
operations skip the backend at once (no timeout paid per call) until ``recovery_time`` has
passed, when one probe is let through (half-open): success closes the breaker, failure opens
it again.

With ``policy="fail_open"`` (the default) a failed or skipped read is a miss and a failed or
skipped write is dropped: logged (one summary line per interval, not one per call) and counted.
With ``policy="fail_closed"`` the typed error is raised. Counters cannot invent a value, so a
failed increment raises under either policy.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..errors import BackendError, BackendUnavailable, ConfigurationError
from ._chain import CallNext, Middleware, Operation

__all__ = [
    "RAISE",
    "Breaker",
    "BreakerState",
    "CircuitBreaker",
    "check_policy",
    "FailurePolicy",
    "GuardStats",
    "RateLimitedLog",
]

FailurePolicy = Literal["fail_open", "fail_closed"]
BreakerState = Literal["closed", "open", "half_open"]


def check_policy(policy: object, name: str = "policy") -> FailurePolicy:
    """``policy`` if it is a failure policy, else a :class:`ConfigurationError` naming ``name``."""
    if policy == "fail_open" or policy == "fail_closed":
        return policy
    raise ConfigurationError(f"{name} must be 'fail_open' or 'fail_closed', not {policy!r}")


logger = logging.getLogger("aiocache_llm.middleware.breaker")

#: The fail-open answer of operations that have none to give (counters): they raise.
RAISE: Any = object()

#: The fail-open answer of each operation that answers something other than ``None``.
_BATCHES: Final = frozenset({"async_batch_get_cache", "async_batch_get_entries"})
_FALLBACKS: Final[dict[str, Any]] = {
    "async_increment": RAISE,
    "async_increment_pipeline": RAISE,
    "async_ping": False,
}
#: Operations the breaker lets through as they are: a diagnostic and releasing connections.
_UNGUARDED: Final = frozenset({"async_test_connection", "async_disconnect"})


def fail_open_answer(op: Operation) -> Any:
    """What ``op`` answers when it fails under ``fail_open`` (``RAISE``: it raises anyway)."""
    if op.method in _BATCHES:
        return [None] * len(op.args[0])
    return _FALLBACKS.get(op.method)


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


class Breaker(Middleware):
    """Turns operations away while the circuit is open, records each outcome, and applies the
    failure policy to every :class:`~aiocache_llm.errors.BackendError` from further in.

    A failure is counted in ``guard_stats.failures`` and in the stack's ``stats.errors`` (once:
    a failure the backend counted already is not counted again).
    """

    def __init__(
        self,
        breaker: CircuitBreaker | None = None,
        *,
        policy: FailurePolicy = "fail_open",
        guard_stats: GuardStats | None = None,
        log_interval: float = 30.0,
    ) -> None:
        self.breaker = breaker or CircuitBreaker()
        self.policy: FailurePolicy = check_policy(policy)
        self.guard_stats = guard_stats or GuardStats()
        self._log = RateLimitedLog(logger, log_interval)

    def raising(self) -> Breaker:
        """This middleware under ``fail_closed``, sharing its breaker, counters and log."""
        if self.policy == "fail_closed":
            return self
        view = copy.copy(self)
        view.policy = "fail_closed"
        return view

    async def __call__(self, op: Operation, call_next: CallNext) -> Any:
        breaker = self.breaker
        if op.method in _UNGUARDED:
            return await call_next(op)
        if not breaker.allow():
            self.guard_stats.skipped_open += 1
            return self._fail(op, BackendUnavailable("circuit breaker open"))
        try:
            result = await call_next(op)
        except BackendError as exc:
            breaker.record_failure()
            return self._fail(op, exc)
        breaker.record_success()
        return result

    def _fail(self, op: Operation, error: BackendError) -> Any:
        self.guard_stats.failures += 1
        op.backend.stats.count_error(error)
        self._log.warning(
            "%s backend %s failed: %s", op.backend.backend_name, op.label, type(error).__name__
        )
        fallback = fail_open_answer(op)
        if self.policy == "fail_closed" or fallback is RAISE:
            raise error
        return fallback

    def describe(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "circuit_breaker": self.breaker.snapshot(),
            "guard": vars(self.guard_stats).copy(),
        }
