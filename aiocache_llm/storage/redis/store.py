"""RedisStore: Redis as a :class:`~aiocache_llm.storage._store.Store` of the codec's bytes.

Each primitive is one Redis command (or one script call) sent through the cache's connection
(:class:`~aiocache_llm.storage.redis.client.RedisClient`: auto-pipelined, one client per
event loop). Redis keeps expiries and counters natively, and the store says so
(:attr:`~aiocache_llm.storage._store.Store.expires_natively`,
:attr:`~aiocache_llm.storage._store.Store.counts`): writes carry ``PX`` milliseconds, reads
never see an expired name, TTLs are ``PTTL``, and increments are ``INCRBYFLOAT`` in one script
call, all or nothing. Everything else (keys, prefixes, TTL checks, the codec, stats, error
types) is :class:`~aiocache_llm.storage._store_cache.StoreCache`'s.

Failures reach the cache already translated, one exception per caller (the auto-pipeline
translates each caller's own, see :mod:`~aiocache_llm.storage.redis.errors`); the store's
error table is the same map, for anything that reaches the cache untranslated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from redis import exceptions as redis_errors

from ...errors import BackendError, BackendUnavailable, NotSupported
from .._store import Change, ErrorMap, Store, Stored
from .autopipeline import Command
from .errors import EXCEPTION_MAP
from .scripts import INCREMENT_SCRIPT

if TYPE_CHECKING:
    from .client import RedisClient

__all__ = [
    "SCAN_COUNT",
    "RedisStore",
    "glob_escape",
    "glob_pattern",
    "increment_command",
    "milliseconds",
    "number",
    "set_command",
]

#: Names asked for per SCAN step, and unlinked per command.
SCAN_COUNT = 1000


def milliseconds(seconds: float | None) -> int:
    """A TTL in Redis's milliseconds (at least 1); ``0`` for none."""
    return 0 if seconds is None else max(1, round(seconds * 1000))


def number(data: bytes | bytearray | int | float | str) -> float:
    """A counter's reply (``b"3"``, ``b"3.5"``) as an int when whole, else a float."""
    if isinstance(data, (int, float)):
        return data
    try:
        return int(data)
    except ValueError:
        return float(data)


def set_command(name: str, data: bytes, expires_at: float | None) -> Command:
    """``SET`` of ``data`` that Redis expires at ``expires_at`` (wall clock), if given."""
    if expires_at is None:
        return ("SET", name, data)
    return ("SET", name, data, "PX", milliseconds(expires_at - time.time()))


def glob_escape(text: str) -> str:
    """``text`` as a Redis glob pattern that matches only ``text``."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def glob_pattern(prefix: str) -> str:
    """A ``SCAN MATCH`` pattern for the names starting with ``prefix``; an empty prefix (no
    namespace) is refused, so a flush never empties a shared server."""
    if not prefix:
        raise NotSupported(
            "flush_cache needs a namespace: without one it would empty a shared server"
        )
    return glob_escape(prefix) + "*"


class RedisStore(Store[bytes]):
    """The names of one Redis server (or Sentinel-managed master), through ``client``."""

    expires_natively = True
    counts = True
    errors: ClassVar[ErrorMap] = (
        *((types, error) for types, error, _ in EXCEPTION_MAP),
        (redis_errors.RedisError, BackendError),
    )

    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._call = client._call
        self._call_many = client._call_many

    # -- reads -----------------------------------------------------------------------------
    async def get(self, name: str) -> Stored[bytes] | None:
        data = await self._call("GET", name)
        return None if data is None else Stored(data)

    async def get_many(self, names: Sequence[str]) -> list[Stored[bytes] | None]:
        """One ``MGET``."""
        if not names:
            return []
        return [None if data is None else Stored(data) for data in await self.mget(names)]

    async def mget(self, names: Sequence[str]) -> Sequence[Any]:
        """The raw replies of ``MGET`` for ``names``."""
        return await self._call("MGET", *names)  # type: ignore[no-any-return]

    async def remaining(self, name: str) -> float | None:
        ms = int(await self._call("PTTL", name))
        return None if ms < 0 else ms / 1000

    # -- writes ----------------------------------------------------------------------------
    async def set(self, name: str, data: bytes, expires_at: float | None) -> None:
        await self._call(*set_command(name, data, expires_at))

    async def set_many(self, items: Sequence[tuple[str, bytes]], expires_at: float | None) -> None:
        """Every ``SET`` in one round trip."""
        await self._call_many([set_command(name, data, expires_at) for name, data in items])

    async def delete(self, name: str) -> None:
        await self._call("UNLINK", name)

    async def discard(self, name: str, stored: Stored[bytes]) -> None:
        """Nothing: Redis drops expired names itself, and an unreadable value stays until its
        TTL ends or it is overwritten (every read of it is a counted miss)."""

    async def update(self, changes: Mapping[str, Change[bytes]]) -> None:
        raise NotSupported("Redis counters are its own increments; there are no update steps")

    async def increment(
        self, ops: Sequence[tuple[str, float, float | None]], refresh_ttl: bool
    ) -> list[float]:
        """Every increment in one script call (see :data:`scripts.INCREMENT_SCRIPT`)."""
        return [number(reply) for reply in await self.increment_replies(ops, refresh_ttl)]

    async def increment_replies(
        self, ops: Sequence[tuple[str, float, float | None]], refresh_ttl: bool
    ) -> Sequence[Any]:
        """The script's raw replies for ``ops``."""
        return await self._call(*increment_command(ops, refresh_ttl=refresh_ttl))  # type: ignore[no-any-return]

    async def clear(self, prefix: str) -> None:
        """Every name under ``prefix`` (SCAN + UNLINK); never the whole server."""
        pattern = glob_pattern(prefix)
        cursor: Any = 0
        while True:
            cursor, names = await self._call("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
            if names:
                await self._call("UNLINK", *names)
            if int(cursor) == 0:
                return

    async def ping(self) -> None:
        if await self._call("PING") not in (b"PONG", "PONG", True):
            raise BackendUnavailable("Redis did not answer PING with PONG")

    async def close(self) -> None:
        await self.client.close_connections()


def increment_command(
    ops: Sequence[tuple[str, float, float | None]],
    check_only: bool = False,
    refresh_ttl: bool = False,
) -> Command:
    """One script call applying ``(name, by, ttl_seconds)`` ops all or nothing."""
    keys: list[str] = []
    args: list[Any] = ["1" if check_only else "2" if refresh_ttl else "0"]
    for name, by, seconds in ops:
        keys.append(name)
        args.append(by if by.__class__ is int else repr(by))
        args.append(milliseconds(seconds))
    return ("EVAL", INCREMENT_SCRIPT, len(keys), *keys, *args)
