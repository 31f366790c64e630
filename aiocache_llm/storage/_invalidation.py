"""What an L1 may hold, and the channel that tells it what changed elsewhere.

:class:`L1Coherence` decides every L1 fill and every invalidation under one lock, so a fill
(from a read or from this process's own write) and an invalidation from another process can
never interleave badly:

* an L1 copy is the value of a version L2 assigned; the highest version seen per key (own
  copies and invalidations) is remembered, and a fill of an older version is refused, so a
  write that lost the race to another process's write never lands in L1;
* an invalidation drops the copy if it is older than the invalidation's version; one of
  unknown version (0) drops it and refuses the fills of that key begun before it;
* fills are refused while the invalidation subscription is not confirmed, and every
  (re)subscription, flush or loss of bookkeeping starts a new *generation*: operations begun
  before it cannot fill L1;
* every copy lives at most as long as the L2 entry has left and at most ``ttl_cap`` seconds,
  which bounds staleness when an invalidation is lost.

:class:`InvalidationChannel` publishes this process's changes and applies other processes'
changes, on the library's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from .._sync import loop_thread_loop
from ..core.codec import Entry
from ..core.failures import describe_failure
from ..errors import BackendError
from ._checks import check_key
from ._listener_tasks import stop_task
from ._versions import Announcement, PubSubCapable
from .memory import InMemoryCache

__all__ = ["InvalidationChannel", "L1Coherence", "Listener"]

logger = logging.getLogger("aiocache_llm.dual")

#: Counts (and, when the flag says so, logs) a failure of an L2 operation.
OnError = Callable[[str, BaseException, bool], None]

#: ``begin()`` while fills are refused (no confirmed subscription).
_NO_FILL = -1

#: A sender tag: 8 letters or digits (47 random bits), as every process of a channel uses.
_TAG_CHARACTERS = string.ascii_letters + string.digits
_TAG_LENGTH = 8


class L1Coherence:
    """The rules an L1 (an :class:`InMemoryCache`) is filled and invalidated by."""

    def __init__(self, l1: InMemoryCache, ttl_cap: float, *, needs_subscription: bool) -> None:
        self.l1 = l1
        self.ttl_cap = ttl_cap
        self._lock = threading.Lock()
        self._known: dict[str, int] = {}
        #: The L2 entry's (created_at, expires_at) of each copy, wall clock.
        self._times: dict[str, tuple[float, float | None]] = {}
        #: Counts events that refuse fills begun before them.
        self.generation = 0
        #: The generation of the last event that refuses every earlier fill.
        self._epoch = 0
        #: Per key, the generation of its last version-0 drop (a change of unknown version):
        #: fills of that key begun before it are refused.
        self._dropped: dict[str, int] = {}
        #: Whether fills are allowed (the subscription is confirmed, or none is needed).
        self.live = not needs_subscription
        self._max_tracked = max(4 * l1.max_size_in_memory, 10_000)

    def begin(self) -> int:
        """A token to pass to :meth:`fill`, taken before the L2 operation starts."""
        return self.generation if self.live else _NO_FILL

    def ttl(self, seconds: float | None) -> float:
        """An L1 life: the L2 entry's remaining ``seconds``, capped by ``ttl_cap``."""
        return self.ttl_cap if seconds is None else min(seconds, self.ttl_cap)

    def fill(self, items: Iterable[tuple[str, Entry, int]], started: int) -> None:
        """Put ``(key, L2 entry, version)`` items into L1 where allowed."""
        with self._lock:
            if started < self._epoch or not self.live:
                return
            now = time.time()
            for key, entry, version in items:
                self._put(key, entry, version, started, now)
            self._bound()

    def fill_one(self, key: str, entry: Entry, version: int, started: int) -> None:
        """:meth:`fill` of one item."""
        with self._lock:
            if started >= self._epoch and self.live:
                self._put(key, entry, version, started, time.time())
                if len(self._times) > self._max_tracked:
                    self._forget()

    def _put(self, key: str, entry: Entry, version: int, started: int, now: float) -> None:
        """Put one item into L1 if allowed (lock held)."""
        if started < self._dropped.get(key, 0):
            return  # changed to an unknown version since the fill began
        left = None if entry.expires_at is None else entry.expires_at - now
        if left is not None and left <= 0:
            return
        known = self._known
        if version < known.get(key, 0):
            return  # another process wrote a newer version meanwhile
        if version:
            known[key] = version
        self._times[key] = (entry.created_at, entry.expires_at)
        self.l1.set_cache(key, entry.value, ttl=self.ttl(left))

    def _bound(self) -> None:
        if max(len(self._known), len(self._times)) > self._max_tracked:
            self._forget()

    def entry(self, key: str) -> Entry | None:
        """The L1 copy of ``key`` with the creation and expiry times of its L2 entry."""
        held = self.l1.get_entry(key)
        times = self._times.get(key)
        if held is None or times is None:
            return held
        return Entry(held.value, *times)

    def put_local(self, items: Sequence[tuple[str, Any]], seconds: float | None) -> None:
        """Values for this process alone (``local_only``): dropped by any later invalidation."""
        with self._lock:
            for key, _ in items:
                self._known.pop(key, None)
                self._times.pop(key, None)
            self.l1.set_cache_pipeline(items, ttl=self.ttl(seconds))

    def drop(self, keys: Iterable[str]) -> None:
        """Remove L1 copies (a failed write, a counter), keeping the versions seen."""
        with self._lock:
            for key in keys:
                self.l1.delete_cache(key)

    def invalidate(self, items: Iterable[tuple[str, int]]) -> None:
        """Apply changes: drop each copy older than the change's version.

        Version 0 (a change of unknown version: a store without versions, a set-add, a
        tracking message) drops the copy and refuses the fills of that key begun before now.
        """
        with self._lock:
            known = self._known
            for key, version in items:
                if not version:
                    self.l1.delete_cache(key)
                    self.generation += 1
                    self._dropped[key] = self.generation
                elif known.get(key, 0) < version:
                    known[key] = version
                    self.l1.delete_cache(key)
            if max(len(known), len(self._dropped)) > self._max_tracked:
                self._forget()

    def reset(self, *, live: bool | None = None) -> None:
        """Empty L1 and start a new generation (a flush, or a subscription (re)confirmed)."""
        with self._lock:
            self._new_epoch()
            self._known.clear()
            self._times.clear()
            self.l1.flush_cache()
            if live is not None:
                self.live = live

    def pause(self) -> None:
        """Refuse fills until :meth:`reset` (the subscription broke); L1 keeps serving."""
        with self._lock:
            self.live = False
            self._new_epoch()

    def _forget(self) -> None:
        """Bound the bookkeeping: forget versions and refuse fills begun before (lock held).

        Copies in L1 then have no known version, so any invalidation of them drops them.
        """
        self._known.clear()
        self._times.clear()
        self._new_epoch()

    def _new_epoch(self) -> None:
        """Refuse every fill begun before now (lock held)."""
        self.generation += 1
        self._epoch = self.generation
        self._dropped.clear()


class Listener:
    """A task on the library's event loop that applies another processes' changes to an L1:
    started by the first operation that needs it, stopped from any loop."""

    def __init__(self, state: L1Coherence, on_error: OnError) -> None:
        self.state = state
        self._on_error = on_error
        #: Whether the subscription broke since it was last confirmed (logged once).
        self._lost = False
        self._future: Any = None  # concurrent.futures.Future of the listening task
        self._task: asyncio.Task[None] | None = None  # that task, on the library loop
        self._listening = False
        self._backoff = 0.05
        #: Called with ``(items, wall time, sent)`` for every change this process announces
        #: (``sent=True``) or applies from another process (for diagnostics and benchmarks).
        self.observer: Callable[[list[tuple[str, int]], float, bool], None] | None = None

    #: What a broken session is reported as.
    _what = "subscription"

    async def _session(self) -> None:
        """One connection's life: call :meth:`_confirmed` once changes arrive, then apply
        them until the connection breaks (raise) or listening stops."""
        raise NotImplementedError

    def _confirmed(self) -> None:
        self._backoff = 0.05
        self.state.reset(live=True)
        if self._lost:
            self._lost = False
            logger.info(
                "the invalidation %s is back: L1 starts empty and takes fills again",
                self._what,
                extra={"event": "subscription_restored", "channel": self._what},
            )

    def _applied(self, items: list[tuple[str, int]]) -> None:
        if self.observer is not None:
            self.observer(items, time.time(), False)

    async def _listen(self) -> None:
        self._task = asyncio.current_task()
        self._backoff = 0.05
        while self._listening:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke; retried with a backoff
                self._on_error(self._what, exc, False)  # counted; logged once, below
                if not self._lost:
                    self._lost = True
                    logger.warning(
                        "the invalidation %s was lost (%s): L1 serves what it holds and takes"
                        " no fills until it is back; retrying",
                        self._what,
                        describe_failure(exc),
                        extra={
                            "event": "subscription_lost",
                            "channel": self._what,
                            "error": type(exc).__name__,
                        },
                    )
            self.state.pause()
            if self._listening:
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, 2.0)

    def ensure_listening(self) -> None:
        if not self._listening:
            self._listening = True
            self._future = asyncio.run_coroutine_threadsafe(self._listen(), loop_thread_loop())

    def _take_task(self) -> asyncio.Task[None] | None:
        task, self._task = self._task, None
        return task

    async def stop(self) -> None:
        """Stop listening (from any loop); L1 takes no fills until listening again."""
        self._listening = False
        self.state.pause()
        if self._future is None:
            return
        self._future = None
        await stop_task(self._take_task)

    def abandon(self) -> None:
        """Stop listening without waiting, from any thread (its cache is gone)."""
        self._listening = False
        future, self._future = self._future, None
        if future is not None:
            with contextlib.suppress(RuntimeError):  # the library's loop has closed
                future.cancel()


class InvalidationChannel(Listener):
    """Announces this process's changes and applies other processes' to an L1.

    A message is ``{"from": sender, "keys": [[key, version], ...]}`` or
    ``{"from": sender, "flush": true}``, published with this process's sender tag, so the
    store does not send it back to this process (on a cluster it does, and it is skipped
    unparsed). The subscription runs on the library's event loop
    and is retried with a backoff when it breaks; while it is down, L1 keeps serving what it
    holds but takes no new fills, and once it is confirmed again L1 starts empty.
    """

    def __init__(
        self, pubsub: PubSubCapable, channel: str, state: L1Coherence, on_error: OnError
    ) -> None:
        super().__init__(state, on_error)
        self.pubsub = pubsub
        self.channel = channel
        self.sender = f"{os.getpid()}:{uuid.uuid4().hex[:12]}"
        #: This process's sender tag: the store leaves this process's own announcements out
        #: of its subscription where it can (see :class:`PubSubCapable`).
        self.tag = "".join(secrets.choice(_TAG_CHARACTERS) for _ in range(_TAG_LENGTH))
        self._mine = b'{"from":' + orjson.dumps(self.sender) + b","
        self._head = self._mine + b'"keys":['
        #: The probes :meth:`ready` waits for, and those of them that came back.
        self._awaited: set[str] = set()
        self._probes: set[str] = set()

    # -- sending ---------------------------------------------------------------------------
    def announcement(self, keys: Iterable[str]) -> Announcement:
        """The message announcing changes of ``keys`` (each checked: a bad key is an
        :class:`~aiocache_llm.errors.InvalidKeyError`), for a store to publish with the
        versions it takes (see :meth:`announced`)."""
        json = [orjson.dumps(check_key(key)) for key in keys]
        return Announcement(self.channel, self._head, json, b"]}", self.tag)

    def announced(self, items: Sequence[tuple[str, int]], at: float | None = None) -> None:
        """The store published the changes ``items``, sent at ``at`` (wall clock; now if not
        given), for the observer."""
        if self.observer is not None:
            self.observer(list(items), time.time() if at is None else at, True)

    async def announce(self, items: Sequence[tuple[str, int]]) -> None:
        if items:
            self.ensure_listening()
            self.announced(items)
            message = self.announcement(key for key, _ in items).message([v for _, v in items])
            await self._publish(message)

    async def announce_flush(self) -> None:
        self.ensure_listening()
        await self._publish(orjson.dumps({"from": self.sender, "flush": True}))

    async def _publish(self, message: bytes) -> None:
        try:
            await self.pubsub.async_publish(self.channel, message, sender=self.tag)
        except BackendError as exc:  # other processes' copies age out with the L1 TTL
            self._on_error("publish", exc, True)

    # -- receiving -------------------------------------------------------------------------
    def _apply(self, raw: bytes) -> None:
        if raw.startswith(self._mine):  # this process's own change (a cluster sends them)
            return
        message = orjson.loads(raw)
        if message.get("from") == self.sender:
            return
        if message.get("flush"):
            self.state.reset()
            items: list[tuple[str, int]] = []
        else:
            items = [(str(key), int(version)) for key, version in message.get("keys", ())]
            if message.get("from") == "probe":
                self._probes.update(key for key, _ in items if key in self._awaited)
                return
            self.state.invalidate(items)
        self._applied(items)

    async def _session(self) -> None:
        subscription = self.pubsub.async_subscribe(self.channel, self._confirmed, sender=self.tag)
        async for raw in subscription:
            try:
                self._apply(raw)
            except (ValueError, TypeError, AttributeError) as exc:
                logger.warning("ignored a malformed invalidation message: %r", exc)

    async def ready(self, timeout: float = 5.0) -> None:
        """Wait until messages from other processes arrive here (the subscription is up)."""
        self.ensure_listening()
        probe = f"__ready__:{uuid.uuid4().hex}"
        message = orjson.dumps({"from": "probe", "keys": [[probe, 0]]})
        deadline = time.monotonic() + timeout
        self._awaited.add(probe)  # other processes' probes are not kept (nor anyone's flood)
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(BackendError):  # not reachable yet: ask again
                    await self.pubsub.async_publish(self.channel, message)
                await asyncio.sleep(0.02)
                if probe in self._probes and self.state.live:
                    return
            raise BackendError(f"the invalidation subscription did not come up within {timeout} s")
        finally:
            self._awaited.discard(probe)
            self._probes.discard(probe)
