"""Cross-cutting behaviour in front of any backend, as middlewares of one signature.

``async def __call__(self, op: Operation, call_next: CallNext) -> Any``; :func:`compose` links
a backend and its middlewares (the first outermost) into one :class:`ComposedCache`. The
library's order, and the one :class:`~aiocache_llm.middleware.builders.GuardedCache` over an
:class:`~aiocache_llm.middleware.builders.EncryptedCache` builds::

    compose(backend, [Breaker(...), Deadline(...), Encryption(key)])

* :class:`Breaker`: the circuit breaker and the failure policy (sees every failure);
* :class:`Deadline`: one deadline per operation, covering encryption and the backend;
* :class:`Encryption`: values sealed next to the store (AES-256-GCM).

Every middleware counts into one stats sink, the backend's ``stats``.
"""

from ..core.logs import RateLimitedLog
from ._chain import CallNext, ComposedCache, Middleware, Operation, compose
from .breaker import RAISE, Breaker, CircuitBreaker, FailurePolicy, GuardStats
from .deadline import Deadline
from .encryption import Encryption, generate_key

__all__ = [
    "CallNext",
    "ComposedCache",
    "Middleware",
    "Operation",
    "compose",
    "Breaker",
    "CircuitBreaker",
    "Deadline",
    "Encryption",
    "FailurePolicy",
    "GuardStats",
    "RAISE",
    "RateLimitedLog",
    "generate_key",
]
