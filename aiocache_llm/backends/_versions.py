"""Versioned entries: a version the L2 assigns atomically with each write.

A layered cache (:class:`~aiocache_llm.backends.dual.DualCache`) keeps an L1 copy only while
it is the newest version of its key, so it needs a version that the store itself assigns, in
the same atomic step as the write. On Redis that is a Lua script: the version is the server's
clock in microseconds, or one more than the version the key holds if that is larger, so
versions of a key only grow (through deletes too, since the clock moves on). It travels with
the value as a prefix ``b"\\xa1V"`` + 16 decimal digits in front of the codec's envelope; a
reader that knows nothing of versions (``RedisCache.async_get_cache``) strips it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..codec import Entry
from .base import TTLArg

__all__ = [
    "DELETE_SCRIPT",
    "SET_SCRIPT",
    "VERSION_PREFIX",
    "PubSubCapable",
    "VersionedStore",
    "split_version",
]

VERSION_PREFIX = b"\xa1V"
_DIGITS = 16
_HEADER = len(VERSION_PREFIX) + _DIGITS

# The version this write or delete takes: the server clock (us), or one more than the key's.
_NEXT_VERSION = """
local held = redis.pcall('GETRANGE', KEYS[1], 0, 17)
local now = redis.call('TIME')
local version = tonumber(now[1]) * 1000000 + tonumber(now[2])
if type(held) == 'string' and string.sub(held, 1, 2) == '\\161V' then
  local previous = tonumber(string.sub(held, 3, 18))
  if previous and previous >= version then version = previous + 1 end
end
"""

#: SET KEYS[1] to ARGV[1] with a new version (ARGV[2]: PX milliseconds, 0 = none); returns it.
SET_SCRIPT = (
    _NEXT_VERSION
    + """
local data = '\\161V' .. string.format('%016.0f', version) .. ARGV[1]
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], data, 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], data)
end
return version
"""
)

#: UNLINK KEYS[1]; returns the version the deletion takes (newer than the deleted value's).
DELETE_SCRIPT = (
    _NEXT_VERSION
    + """
redis.call('UNLINK', KEYS[1])
return version
"""
)


def split_version(data: bytes) -> tuple[int, bytes]:
    """``(version, rest)`` of a stored value; ``0`` for a value written without a version."""
    if data[:2] == VERSION_PREFIX and len(data) >= _HEADER:
        try:
            return int(data[2:_HEADER]), data[_HEADER:]
        except ValueError:
            pass
    return 0, data


@runtime_checkable
class VersionedStore(Protocol):
    """An L2 that versions its writes atomically (``RedisCache`` is one)."""

    async def async_set_versioned(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = ...
    ) -> list[int]:
        """Store every pair; the version each write took, in order."""
        ...

    async def async_get_versioned(self, keys: Sequence[str]) -> list[tuple[Entry | None, int]]:
        """``(entry, version)`` per key; ``(None, 0)`` for a miss, version 0 when unversioned."""
        ...

    async def async_delete_versioned(self, key: str) -> int:
        """Delete ``key``; the version the deletion took."""
        ...


@runtime_checkable
class PubSubCapable(Protocol):
    """An L2 that can carry invalidation messages (``RedisCache`` is one)."""

    async def async_publish(self, channel: str, message: bytes) -> int: ...

    def async_subscribe(
        self, channel: str, on_subscribed: Callable[[], None] | None = None
    ) -> AsyncIterator[bytes]: ...
