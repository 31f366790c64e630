"""What a layered cache asks of its L2 for coherence: versioned writes and a message channel.

A layered cache (:class:`~aiocache_llm.storage.dual.DualCache`) keeps an L1 copy only while
it is the newest version of its key, so it needs a version that the store itself assigns, in
the same atomic step as the write (on Redis, a Lua script: see
:mod:`aiocache_llm.storage.redis.scripts`), and a channel that carries invalidations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..core.codec import Entry
from .base import TTLArg

__all__ = ["Announcement", "PubSubCapable", "VersionedStore"]


class Announcement(NamedTuple):
    """An invalidation message waiting for its versions: ``head``, then ``[key, version]`` per
    key (``keys`` holds each key in JSON), joined by commas, then ``tail``; published on
    ``channel`` as from ``sender`` (see :class:`PubSubCapable`).

    A store that announces in the same step as the write builds the message where the
    versions are taken (on Redis, inside the write's script), with :meth:`message`'s layout.
    """

    channel: str
    head: bytes
    keys: list[bytes]
    tail: bytes
    sender: str | None = None

    def message(self, versions: Sequence[int]) -> bytes:
        changes = b",".join(
            b"[%s,%d]" % (key, version) for key, version in zip(self.keys, versions, strict=True)
        )
        return self.head + changes + self.tail


@runtime_checkable
class VersionedStore(Protocol):
    """An L2 that versions its writes atomically (``RedisCache`` is one)."""

    async def async_set_versioned(
        self,
        items: Iterable[tuple[str, Any]],
        ttl: TTLArg = ...,
        *,
        announcement: Announcement | None = None,
    ) -> list[int]:
        """Store every pair; the version each write took, in order. An ``announcement`` is
        published with those versions (atomically with the write where the store can)."""
        ...

    async def async_get_versioned(self, keys: Sequence[str]) -> list[tuple[Entry | None, int]]:
        """``(entry, version)`` per key; ``(None, 0)`` for a miss, version 0 when unversioned."""
        ...

    async def async_delete_versioned(
        self, key: str, *, announcement: Announcement | None = None
    ) -> int:
        """Delete ``key``; the version the deletion took (published with ``announcement``)."""
        ...


@runtime_checkable
class PubSubCapable(Protocol):
    """An L2 that can carry invalidation messages (``RedisCache`` is one).

    A message published with a ``sender`` tag does not reach the subscription made with the
    same tag, where the store can leave it out (a Redis Cluster cannot: its subscribers
    receive their own messages too); a message without one reaches every subscription.
    """

    async def async_publish(
        self, channel: str, message: bytes, *, sender: str | None = None
    ) -> int: ...

    def async_subscribe(
        self,
        channel: str,
        on_subscribed: Callable[[], None] | None = None,
        *,
        sender: str | None = None,
    ) -> AsyncIterator[bytes]: ...
