"""The map from redis-py's (and the socket's) exceptions to :mod:`aiocache_llm.errors`.

Declarative, as redis-py's own ``EXCEPTION_CLASSES``: a table of exception classes, then a table
of server reply prefixes. Every Redis backend translates through :func:`translate_redis_error`,
with the original chained as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final

from redis import exceptions as redis_errors

from ...errors import BackendError, BackendTimeout, BackendUnavailable, CacheError
from ...errors import InvalidArgumentError as _Invalid

__all__ = ["translate_redis_error"]

#: (client exception classes, our class, what it means), most specific first.
EXCEPTION_MAP: Final[
    tuple[tuple[tuple[type[BaseException], ...], type[BackendError], str], ...]
] = (
    (
        (redis_errors.TimeoutError, asyncio.TimeoutError, socket.timeout),
        BackendTimeout,
        "Redis did not answer in time",
    ),
    (
        (
            redis_errors.ClusterDownError,
            redis_errors.MasterDownError,
            redis_errors.SlotNotCoveredError,
            redis_errors.RedisClusterException,
            redis_errors.TryAgainError,
        ),
        BackendUnavailable,
        "the Redis cluster cannot serve the request",
    ),
    ((redis_errors.AuthenticationError,), BackendUnavailable, "Redis refused the credentials"),
    (
        (redis_errors.ConnectionError, OSError, EOFError),
        BackendUnavailable,
        "Redis is unreachable",
    ),
)

#: (words anywhere in a server's error reply, words it may start with, our class, what it
#: means), checked in order.
REPLY_MAP: Final[tuple[tuple[tuple[str, ...], tuple[str, ...], type[CacheError], str], ...]] = (
    (
        ("WRONGTYPE", "not a valid float", "not an integer", "not a float"),
        (),
        _Invalid,
        "the stored value does not allow this",
    ),
    (
        ("MOVED",),
        ("READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "LOADING", "BUSY"),
        BackendUnavailable,
        "Redis cannot serve the request now",
    ),
)


def translate_redis_error(exc: BaseException) -> BaseException:
    """The :mod:`aiocache_llm.errors` exception for a redis-py (or socket) failure.

    Errors that are already ours, and ``BaseException``s that are not errors (cancellation),
    come back unchanged. A pool that found no free connection in time (redis-py raises a
    ``ConnectionError`` caused by a timeout) is a :class:`BackendTimeout`.
    """
    if isinstance(exc, CacheError) or not isinstance(exc, Exception):
        return exc
    new = _translate(exc)
    new.__cause__ = exc
    return new


def _translate(exc: Exception) -> CacheError:
    if isinstance(exc, redis_errors.ConnectionError) and isinstance(
        exc.__cause__, asyncio.TimeoutError
    ):
        return BackendTimeout(f"no Redis connection became free in time: {exc}")
    for classes, cls, meaning in EXCEPTION_MAP:
        if isinstance(exc, classes):
            return cls(f"{meaning}: {exc}")
    if isinstance(exc, redis_errors.ResponseError):
        text = str(exc)
        for words, prefixes, reply_cls, meaning in REPLY_MAP:
            if any(word in text for word in words) or text.startswith(prefixes):
                return reply_cls(f"{meaning}: {text}")
        return BackendError(f"Redis answered with an error: {text}")
    return BackendError(f"Redis failed: {exc!r}")
