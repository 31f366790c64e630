"""The stacks the library builds from the middlewares: a guarded backend and an encrypted one.

**Guarded.** Failure handling around any backend: deadlines, a circuit breaker, a declared policy.

:class:`GuardedCache` puts a backend behind two middlewares of :mod:`aiocache_llm.middleware`:
a :class:`~aiocache_llm.middleware.Breaker` (the circuit breaker and the failure policy) and,
inside it, a :class:`~aiocache_llm.middleware.Deadline`. Every operation gets the deadline;
after ``failure_threshold`` consecutive failures the breaker opens and operations skip the
backend at once (no timeout paid per call) until ``recovery_time`` has passed, when one probe is
let through (half-open): success closes the breaker, failure opens it again.

With ``policy="fail_open"`` (the default) a failed or skipped read is a miss and a failed or
skipped write is dropped: logged (one summary line per interval, not one per call) and counted.
With ``policy="fail_closed"`` the typed error is raised. Counters cannot invent a value, so a
failed increment raises under either policy.

Guarding a composed cache (an :class:`~aiocache_llm.middleware.builders.EncryptedCache`) makes one
chain, breaker and deadline first: the deadline covers the encryption too.

**Encrypted.** Encryption of stored values at rest: AES-256-GCM with a key the user supplies.

:class:`EncryptedCache` puts any backend behind the
:class:`~aiocache_llm.middleware.Encryption` middleware, which describes the format: every
value sealed with a fresh nonce and the cache key as associated data; a value that does not
decrypt reads as a miss (counted in ``stats.corrupt_reads``); counters stay plain numbers.
Pass several keys to rotate: the first encrypts, every one decrypts.

Needs the ``encryption`` extra (``pip install 'aiocache-llm[encryption]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.logs import RateLimitedLog
from ..storage.base import BaseCache
from ._chain import ComposedCache
from .breaker import Breaker, CircuitBreaker, FailurePolicy, GuardStats
from .deadline import Deadline
from .encryption import Encryption, KeyArg, generate_key

__all__ = [
    "CircuitBreaker",
    "EncryptedCache",
    "FailurePolicy",
    "GuardStats",
    "GuardedCache",
    "RateLimitedLog",
    "generate_key",
]


class GuardedCache(ComposedCache):
    """A backend behind a deadline, a circuit breaker and a declared failure policy."""

    def __init__(
        self,
        inner: BaseCache,
        *,
        policy: FailurePolicy = "fail_open",
        deadline: float | None = 1.0,
        breaker: CircuitBreaker | None = None,
        log_interval: float = 30.0,
    ) -> None:
        stats = GuardStats()
        guard = Breaker(breaker, policy=policy, guard_stats=stats, log_interval=log_interval)
        self._assemble(inner, guard, Deadline(deadline, guard_stats=stats), stats)

    def _assemble(
        self, inner: BaseCache, guard: Breaker, timer: Deadline, stats: GuardStats
    ) -> None:
        super().__init__(inner, [guard, timer])
        self._guard, self._deadline, self.guard_stats = guard, timer, stats
        self.breaker: CircuitBreaker = guard.breaker

    @property
    def policy(self) -> FailurePolicy:
        """``fail_open`` or ``fail_closed`` (see :class:`~aiocache_llm.middleware.Breaker`)."""
        return self._guard.policy

    @policy.setter
    def policy(self, policy: FailurePolicy) -> None:
        self._guard.policy = policy

    @property
    def deadline(self) -> float | None:
        """Seconds each operation may take (``None``: no deadline)."""
        return self._deadline.seconds

    def strict(self) -> GuardedCache:
        """A view of this guard that raises every failure (``fail_closed``), sharing its
        breaker, counters and log: for a caller that reports failures itself, as the LLM layer
        does (an error event, then upstream or the typed error, as the policy says)."""
        if self.policy == "fail_closed":
            return self
        view = GuardedCache.__new__(GuardedCache)
        view._assemble(self.inner, self._guard.raising(), self._deadline, self.guard_stats)
        return view

    def __repr__(self) -> str:
        return f"GuardedCache({self.inner!r}, policy={self.policy!r}, deadline={self.deadline!r})"


class EncryptedCache(ComposedCache):
    """A backend whose stored values are encrypted and authenticated (AES-256-GCM).

    Plain numbers (``int``, ``float``) are stored as they are, as counters are: they can be
    incremented, and an increment's result reads back.
    """

    def __init__(self, inner: BaseCache, key: KeyArg | Sequence[KeyArg]) -> None:
        self.encryption = Encryption(key)
        super().__init__(inner, [self.encryption])

    def seal(self, key: str, value: Any) -> bytes | float:
        """``value`` encrypted for storage under ``key`` (a plain number is kept as it is)."""
        return self.encryption.seal(key, value)

    def open(self, key: str, stored: Any) -> Any:
        """The value sealed under ``key``, or ``None`` if ``stored`` does not decrypt."""
        return self.encryption.open(key, stored, self.stats)

    def __repr__(self) -> str:
        return f"EncryptedCache({self.inner!r})"  # never the key
