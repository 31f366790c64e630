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

from ..core.failures import describe_failure
from ..core.logs import RateLimitedLog
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
    # the versioned reads and writes of a layered cache's L2 (it reads their failure as a
    # miss or a local-only write), and the set commands: no answer stands in for theirs
    "async_get_versioned": RAISE,
    "async_set_versioned": RAISE,
    "async_delete_versioned": RAISE,
    "async_set_cache_sadd": RAISE,
    "async_smembers": RAISE,
}
#: Operations the breaker lets through as they are: a diagnostic and releasing connections.
_UNGUARDED: Final = frozenset({"async_test_connection", "async_disconnect"})


def fail_open_answer(op: Operation) -> Any:
    """What ``op`` answers when it fails under ``fail_open`` (``RAISE``: it raises anyway)."""
    if op.method in _BATCHES:
        return [None] * len(op.args[0])
    return _FALLBACKS.get(op.method)


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

    def record_success(self) -> bool:
        """Count a success; ``True`` when it closed the breaker (it was open or probing)."""
        if self._state == "closed" and not self._failures:
            return False
        with self._lock:
            closed = self._state != "closed"
            self._state, self._failures, self._probing = "closed", 0, False
        return closed

    def record_failure(self) -> bool:
        """Count a failure; ``True`` when it opened a closed breaker (a failed probe of a
        half-open one opens it again, which is no news)."""
        with self._lock:
            self._failures += 1
            if self._state == "half_open" or self._failures >= self.failure_threshold:
                opened = self._state == "closed"
                if self._state != "open":
                    self.times_opened += 1
                self._state, self._opened_at, self._probing = "open", self._clock(), False
                return opened
        return False

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
            if breaker.record_failure():
                self._changed(op, "opened", exc)
            return self._fail(op, exc)
        if breaker.record_success():
            self._changed(op, "closed", None)
        return result

    def _changed(self, op: Operation, change: str, error: BackendError | None) -> None:
        """One line per change of the breaker's state."""
        backend = op.backend.backend_name
        breaker = self.breaker
        if error is None:
            logger.info(
                "the %s backend answers again: its circuit breaker closed",
                backend,
                extra={"event": "breaker_closed", "backend": backend},
            )
            return
        logger.warning(
            "the %s backend's circuit breaker opened after %d failures (%s): calls skip the"
            " cache for %.3g s, then one probes it",
            backend,
            breaker.failure_threshold,
            describe_failure(error),
            breaker.recovery_time,
            extra={"event": "breaker_opened", "backend": backend, "error": type(error).__name__},
        )

    def _fail(self, op: Operation, error: BackendError) -> Any:
        self.guard_stats.failures += 1
        op.backend.stats.count_error(error)
        fallback = fail_open_answer(op)
        if self.policy == "fail_closed" or fallback is RAISE:
            raise error  # the caller reports it (the LLM layer logs it once per interval)
        backend = op.backend.backend_name
        self._log.warning(
            "%s on the %s backend failed (%s); answered as if empty (fail_open)",
            op.label,
            backend,
            describe_failure(error),
            extra={
                "event": "backend_failed",
                "backend": backend,
                "operation": op.label,
                "error": type(error).__name__,
            },
        )
        return fallback

    def describe(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "circuit_breaker": self.breaker.snapshot(),
            "guard": vars(self.guard_stats).copy(),
        }
