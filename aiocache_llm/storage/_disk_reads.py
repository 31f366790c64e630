"""How a disk cache answers reads without blocking the loop: a memory of hot entries, checked
against SQLite's own change stamp, and concurrent reads batched into one worker hop.

* :class:`HotEntries`: the stored bytes of entries read lately, each with the WAL-index
  header SQLite held when it was read. SQLite (write-ahead-log mode) keeps that header in the
  ``-shm`` file, which every connection, in every process, maps into memory and rewrites on
  every commit: its transaction counter, last frame and checksums change with every write to
  the database, by any process. The header is read here through a read-only memory map, so
  checking it is a memory read, no system call: an entry whose header is still the current one
  was not changed since it was read (nor was anything else). A writer updates the header's
  second copy before its first, so the two copies differ while a commit lands, and then
  nothing is trusted. A connection held open while entries are served keeps SQLite from
  removing or re-creating the ``-shm`` file. The map's file descriptors stay open for the
  life of the process (:func:`_header_map`): SQLite locks the ``-shm`` file with POSIX locks,
  which a process drops on *every* descriptor of a file when it closes *any* of them.
* :class:`BatchedReads`: reads issued in one event-loop iteration go to the I/O workers as one
  job (one hop for all of them, not one each).
"""

from __future__ import annotations

import asyncio
import mmap
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from ..core.loops import PerLoop
from ..core.workers import offload

__all__ = ["BatchedReads", "HotEntries"]

#: The WAL-index header: 48 bytes, kept twice at the start of the ``-shm`` file.
_HEADER: Final = 48
#: Forks so far: a child's map and held connection are its parent's, and are not trusted.
_forks = [0]
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=lambda: _forks.__setitem__(0, _forks[0] + 1))

#: The header map of each ``-shm`` file: (inode, descriptor, map), never closed (see the
#: module), replaced when the file is a new one.
_maps: dict[str, tuple[int, int, mmap.mmap]] = {}
_maps_lock = threading.Lock()


def _header_map(path: Path) -> mmap.mmap:
    """A read-only map of the WAL-index header in ``path`` (a worker-thread call: it opens
    files). The file must be held open by a connection of this process."""
    key = str(path)
    with _maps_lock:
        inode = os.stat(key).st_ino
        known = _maps.get(key)
        if known is not None and known[0] == inode:
            return known[2]
        fd = os.open(key, os.O_RDONLY)  # kept open: closing it would drop SQLite's locks
        view = mmap.mmap(fd, 2 * _HEADER, access=mmap.ACCESS_READ)
        _maps[key] = (inode, fd, view)
        return view


class HotEntries:
    """Up to ``capacity`` bytes of stored entries by name, each valid while SQLite's header is
    the one it was read under (see the module). Filled from the I/O workers, read anywhere."""

    def __init__(self, db_path: Path, capacity: int, connect: Callable[[], sqlite3.Connection]):
        self.capacity = capacity
        self._shm_path = Path(f"{db_path}-shm")
        self._connect = connect
        self._entries: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        self._held: sqlite3.Connection | None = None
        self._fork = -1
        self._failed = False

    # -- the stamp -------------------------------------------------------------------------
    def stamp(self) -> bytes | None:
        """SQLite's current header, or ``None`` when it cannot be trusted (none mapped yet, a
        commit landing, or a forked child)."""
        view = self._map
        if view is None or self._fork != _forks[0]:
            return None
        try:
            first = view[:_HEADER]
            if first != view[_HEADER : 2 * _HEADER] or first[12] != 1:  # isInit
                return None
        except ValueError:  # closed meanwhile
            return None
        return first

    def open(self) -> None:
        """Map the header (in a worker thread: it opens files), once; a failure leaves the
        memory off (every read goes to SQLite)."""
        if (self._map is not None and self._fork == _forks[0]) or self._failed:
            return
        with self._lock:
            if self._map is not None and self._fork == _forks[0]:
                return
            held: sqlite3.Connection | None = None
            try:
                held = self._connect()
                held.execute("SELECT 1 FROM entries LIMIT 1").fetchall()  # joins the WAL index
                view = _header_map(self._shm_path)
            except (OSError, ValueError, sqlite3.Error):
                if held is not None:
                    held.close()
                self._failed = True
                return
            self._map, self._held, self._fork = view, held, _forks[0]

    def close(self) -> None:
        """Forget every entry and let the ``-shm`` file go (a later read holds it again)."""
        with self._lock:
            held = self._held
            self._map = self._held = None
            self._entries.clear()
            self._size = 0
            self._failed = False
        if held is not None and self._fork == _forks[0]:
            held.close()

    # -- entries ---------------------------------------------------------------------------
    def get(self, name: str) -> bytes | None:
        """The stored bytes of ``name`` if it was read since the last change to the database."""
        held = self._entries.get(name)
        if held is None:
            return None
        stamp = self.stamp()
        return held[1] if stamp is not None and held[0] == stamp else None

    def put(self, name: str, data: bytes, stamp: bytes | None) -> None:
        """Remember ``data``, read under ``stamp`` (taken before the read began)."""
        if stamp is None or len(data) > self.capacity // 8:
            return
        with self._lock:
            old = self._entries.pop(name, None)
            if old is not None:
                self._size -= len(old[1])
            self._entries[name] = (stamp, data)
            self._size += len(data)
            while self._size > self.capacity:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= len(dropped)

    def drop(self, name: str) -> None:
        with self._lock:
            old = self._entries.pop(name, None)
            if old is not None:
                self._size -= len(old[1])


class _Pending:
    """The reads one loop has queued for its next worker job."""

    __slots__ = ("futures", "keys")

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.futures: list[asyncio.Future[Any]] = []


class BatchedReads:
    """Runs ``read(key)`` (blocking) in the I/O workers, one job per event-loop iteration for
    every read issued in it; each caller gets its own result or exception."""

    def __init__(self, read: Callable[[Any], Any]) -> None:
        self._read = read
        self._pending: PerLoop[list[_Pending]] = PerLoop(lambda: [_Pending()])

    def submit(self, key: Any) -> asyncio.Future[Any]:
        slot = self._pending.get()
        pending = slot[0]
        loop = asyncio.get_running_loop()
        if not pending.keys:
            loop.call_soon(self._send, slot)
        future = loop.create_future()
        pending.keys.append(key)
        pending.futures.append(future)
        return future

    def _send(self, slot: list[_Pending]) -> None:
        pending, slot[0] = slot[0], _Pending()
        job = offload(self._read_all, pending.keys)
        job.add_done_callback(lambda done: _hand_out(done, pending.futures))

    def _read_all(self, keys: Sequence[Any]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        read = self._read
        for key in keys:
            try:
                results.append((True, read(key)))
            except Exception as exc:  # this caller's alone
                results.append((False, exc))
        return results


def _hand_out(done: asyncio.Future[list[tuple[bool, Any]]], futures: list[Any]) -> None:
    if done.cancelled():
        for future in futures:
            future.cancel()
        return
    error = done.exception()
    results = [(False, error)] * len(futures) if error is not None else done.result()
    for future, (ok, result) in zip(futures, results, strict=True):
        if future.done():  # the caller was cancelled
            continue
        if ok:
            future.set_result(result)
        else:
            future.set_exception(result)
