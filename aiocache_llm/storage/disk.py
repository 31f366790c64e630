"""DiskCache: a persistent cache in a directory, shared safely by threads and processes."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from .._sync import threaded
from ..core.codec import DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_ENTRY_SIZE
from ..errors import BackendUnavailable, CorruptEntryError, InvalidArgumentError, ValueTooLargeError
from ._checks import check_ttl
from ._disk_reads import BatchedReads, HotEntries
from ._store import Change, ErrorMap, Store, Stored
from ._store_cache import _GENERATED, StoreCache, _driven

#: Bytes of hot entries a disk cache answers from memory, by default.
DEFAULT_MEMORY_SIZE = 32 << 20

#: A value read in the calling thread: ``StoreCache``'s get, run to its end there.
_read_value = _driven(StoreCache.async_get_cache)

__all__ = ["DEFAULT_MEMORY_SIZE", "DiskCache", "DiskStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key     TEXT PRIMARY KEY,
    value   BLOB NOT NULL,
    expires REAL,
    size    INTEGER NOT NULL,
    stored  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_expires ON entries (expires) WHERE expires IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_stored ON entries (stored);
"""
_GET = "SELECT value FROM entries WHERE key = ?"
_PUT = "INSERT OR REPLACE INTO entries (key, value, expires, size, stored) VALUES (?, ?, ?, ?, ?)"


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for a lock another connection holds (SQLITE_BUSY)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return (code & 0xFF) == 5 if code is not None else str(exc) == "database is locked"


class _Connection:
    """One thread's SQLite connection; ``busy`` is held while that thread runs statements."""

    __slots__ = ("busy", "db", "depth", "retired")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.busy = threading.RLock()
        self.depth = 0
        self.retired = False

    def retire(self) -> None:
        """Close it now if no statement is running on it; else its thread closes it when done
        (closing a connection another thread is using can crash the interpreter)."""
        self.retired = True
        if self.busy.acquire(blocking=False):
            try:
                if not self.depth:
                    self.db.close()
            finally:
                self.busy.release()


class DiskStore(Store[bytes]):
    """Entries in one SQLite table (write-ahead log), one row per name; blocking calls.

    Its coroutines never suspend: :class:`DiskCache` runs them in worker threads (async API)
    or in the caller's thread (blocking API). Each thread has its own connection.
    """

    errors: ClassVar[ErrorMap] = ((sqlite3.Error, BackendUnavailable),)

    def __init__(
        self, directory: Path, *, size_limit: int, fsync: bool, timeout: float, memory: int = 0
    ) -> None:
        self.directory = directory
        self.size_limit = size_limit
        self.fsync = fsync
        self.timeout = timeout
        self._db_path = directory / "cache.sqlite3"
        self._local = threading.local()
        self._connections: list[_Connection] = []
        self._connections_lock = threading.Lock()
        self._written = 0
        self._cull_lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._prepare()
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(f"cannot use {directory}: {exc}") from exc
        #: Entries read lately, served from memory while the database is unchanged.
        self.hot = HotEntries(self._db_path, memory, self._connect) if memory > 0 else None

    # -- connections -----------------------------------------------------------------------
    def _prepare(self) -> None:
        """Turn the write-ahead log on and make the table. SQLite refuses a journal-mode switch
        at once, without waiting, while another connection (another process opening the same
        new directory) holds the write lock; that refusal is retried for up to ``timeout``."""
        deadline = time.monotonic() + self.timeout
        pause = 0.001
        with contextlib.closing(self._connect()) as db:
            while True:
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                    return
                except sqlite3.OperationalError as exc:
                    if not _busy(exc) or time.monotonic() + pause > deadline:
                        raise
                time.sleep(pause)
                pause = min(2 * pause, 0.05)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._db_path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        return db

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, held for the statements run in the block (a forked child
        or a :meth:`close` makes a new one)."""
        local = self._local
        connection: _Connection | None = getattr(local, "connection", None)
        if connection is None or connection.retired or local.pid != os.getpid():
            connection = _Connection(self._connect())
            with self._connections_lock:
                self._connections.append(connection)
            local.connection, local.pid = connection, os.getpid()
        with connection.busy:
            connection.depth += 1
            try:
                yield connection.db
            finally:
                connection.depth -= 1
                if connection.retired and not connection.depth:
                    connection.db.close()  # close() found it busy: its own thread closes it

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # a writer lock across processes
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _row(self, name: str, data: bytes, expires_at: float | None) -> tuple[Any, ...]:
        if len(data) > self.size_limit:
            raise ValueTooLargeError(
                f"an entry of {len(data)} bytes exceeds size_limit={self.size_limit}"
            )
        return (name, data, expires_at, len(data), time.time())

    # -- the store -------------------------------------------------------------------------
    async def get(self, name: str) -> Stored[bytes] | None:
        hot = self.hot
        stamp = None
        if hot is not None:
            hot.open()
            stamp = hot.stamp()  # before the read: a change after it makes the stamp stale
        with self._db() as db:
            row = db.execute(_GET, (name,)).fetchone()
        if row is None:
            return None
        if hot is not None:
            hot.put(name, row[0], stamp)
        return Stored(row[0])

    async def get_many(self, names: Sequence[str]) -> list[Stored[bytes] | None]:
        found = dict[str, Stored[bytes]]()
        with self._db() as db:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, value FROM entries WHERE key IN ({marks})"
                found.update((name, Stored(blob)) for name, blob in db.execute(query, chunk))
        return [found.get(name) for name in names]

    async def set(self, name: str, data: bytes, expires_at: float | None) -> None:
        with self._db() as db:
            db.execute(_PUT, self._row(name, data, expires_at))
        self._after_write(len(data))

    async def set_many(self, items: Sequence[tuple[str, bytes]], expires_at: float | None) -> None:
        rows = [self._row(name, data, expires_at) for name, data in items]
        with self._transaction() as db:
            db.executemany(_PUT, rows)
        self._after_write(sum(row[3] for row in rows))

    async def delete(self, name: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM entries WHERE key = ?", (name,))

    async def discard(self, name: str, stored: Stored[bytes]) -> None:
        with self._db() as db:
            db.execute("DELETE FROM entries WHERE key = ? AND value = ?", (name, stored.data))

    async def update(self, changes: Mapping[str, Change[bytes]]) -> None:
        """One immediate transaction: atomic across threads and processes."""
        with self._transaction() as db:
            for name, change in changes.items():
                row = db.execute(_GET, (name,)).fetchone()
                data, expires_at = change(None if row is None else row[0])
                db.execute(_PUT, self._row(name, data, expires_at))

    async def clear(self, prefix: str) -> None:
        with self._db() as db:
            if prefix:
                db.execute("DELETE FROM entries WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
            else:
                db.execute("DELETE FROM entries")

    async def ping(self) -> None:
        with self._db() as db:
            db.execute("SELECT 1").fetchone()

    async def close(self) -> None:
        """Close every connection this store opened; later calls open new ones."""
        if self.hot is not None:
            self.hot.close()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.retire()

    def volume(self) -> int:
        """Bytes the entries' values take."""
        with self._db() as db:
            return int(db.execute("SELECT total(size) FROM entries").fetchone()[0])

    def details(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "size_limit": self.size_limit}

    # -- size bound ------------------------------------------------------------------------
    def _after_write(self, written: int) -> None:
        self._written += written
        if self._written > self.size_limit // 10:
            self._written = 0
            self._cull()

    def _cull(self) -> None:
        """Bring the entries under ``size_limit``: expired entries first, then oldest."""
        if not self._cull_lock.acquire(blocking=False):
            return
        try:
            with self._db() as db:
                self._cull_with(db)
        finally:
            self._cull_lock.release()

    def _cull_with(self, db: sqlite3.Connection) -> None:
        (total,) = db.execute("SELECT total(size) FROM entries").fetchone()
        if total <= self.size_limit:
            return
        expired = db.execute(
            "DELETE FROM entries WHERE expires <= ? RETURNING size", (time.time(),)
        ).fetchall()
        self.stats.expirations += len(expired)
        total -= sum(size for (size,) in expired)
        target = self.size_limit * 9 // 10
        while total > target:
            batch = db.execute(
                "DELETE FROM entries WHERE key IN"
                " (SELECT key FROM entries ORDER BY stored LIMIT 64) RETURNING size"
            ).fetchall()
            if not batch:
                break
            self.stats.evictions += len(batch)
            total -= sum(size for (size,) in batch)


class DiskCache(StoreCache[bytes]):
    """A persistent cache in ``disk_cache_dir`` (default ``./.aiocache_llm``).

    Entries live in an SQLite database in write-ahead-log mode, one row per key, each value in
    the library's checksummed envelope.

    * **Atomic writes.** Every write is one transaction: a reader sees the old value or the new
      one, never a torn one, even if the writing process is killed mid-write.
    * **Many processes.** Any number of processes may read and write one directory; counters
      run in an immediate transaction and are atomic across processes.
    * **Never blocks the event loop.** The async methods run in worker threads; the blocking
      methods run in the caller's thread with no hop. Each thread has its own connection.
    * **Bounded.** When the entries exceed ``size_limit`` bytes, expired entries are removed
      first, then the least recently written, down to 90% of the limit.
    * **Hot entries from memory.** Entries read lately (up to ``memory_size`` bytes; 0 turns
      it off) are answered on the event loop itself, without a worker hop, while the database
      is unchanged since they were read: SQLite's change stamp, which any write by any
      process moves, is checked through a memory map (no system call, see
      :mod:`aiocache_llm.storage._disk_reads`). Other reads issued in one loop iteration go
      to the workers as one job.
    * ``fsync=True`` makes every write durable against power loss too (synchronous=FULL); by
      default a write survives the process, not necessarily the machine.
    """

    backend_name = "disk"
    runs = "threaded"
    store: DiskStore

    def __init__(
        self,
        disk_cache_dir: str | os.PathLike[str] | None = None,
        *,
        default_ttl: float | None = None,
        size_limit: int = 1 << 30,
        fsync: bool = False,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
        timeout: float = 10.0,
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
        memory_size: int = DEFAULT_MEMORY_SIZE,
    ) -> None:
        check_ttl(default_ttl)  # before the directory is made
        for value, name in ((size_limit, "size_limit"), (memory_size, "memory_size")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgumentError(f"{name} must be an int of bytes")
        if size_limit < 1:
            raise InvalidArgumentError("size_limit must be a positive int (bytes)")
        directory = Path(disk_cache_dir if disk_cache_dir is not None else ".aiocache_llm")
        store = DiskStore(
            directory.resolve(),
            size_limit=size_limit,
            fsync=fsync,
            timeout=timeout,
            memory=memory_size,
        )
        super().__init__(
            store,
            default_ttl=default_ttl,
            compress_threshold=compress_threshold,
            max_entry_size=max_entry_size,
        )
        self.directory = store.directory
        self.size_limit = size_limit
        self.memory_size = memory_size
        self._reads = BatchedReads(functools.partial(_read_value, self))

    async def _async_get_cache(self, key: str) -> Any:
        """The value under ``key``: from memory when it is hot and unchanged (on the loop,
        nothing blocks), else read in the workers with the other reads of this iteration."""
        hot = self.store.hot
        if hot is not None:
            name = self.object_name(key)
            data = hot.get(name)
            if data is not None:
                try:
                    entry = self._decode(data, name)
                except CorruptEntryError:  # the read in the workers counts and removes it
                    entry = None
                if entry is not None and (
                    entry.expires_at is None or entry.expires_at > time.time()
                ):
                    return entry.value
        return await self._reads.submit(key)

    # the blocking twin reads in the caller's thread, as every other DiskCache method
    setattr(_async_get_cache, _GENERATED, _read_value)
    async_get_cache = _async_get_cache
    del _async_get_cache

    @threaded
    def async_volume(self) -> int:
        """Bytes the entries' values take."""
        with self._errors:
            return self.store.volume()
