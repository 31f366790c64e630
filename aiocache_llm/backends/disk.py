"""DiskCache: a persistent cache in a directory, shared safely by threads and processes."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .._sync import threaded
from ..codec import DEFAULT_COMPRESS_THRESHOLD, Entry, decode, encode
from ..errors import (
    BackendUnavailable,
    CorruptEntryError,
    InvalidArgumentError,
    ValueTooLargeError,
)
from .base import (
    USE_DEFAULT,
    BaseCache,
    IncrementOp,
    TTLArg,
    check_key,
    check_number,
    check_ttl,
    normalize_increments,
)

__all__ = ["DiskCache"]

logger = logging.getLogger("aiocache_llm.disk")

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
_DROP_IF_EXPIRED = "DELETE FROM entries WHERE key = ? AND expires <= ?"


class DiskCache(BaseCache):
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
    * ``fsync=True`` makes every write durable against power loss too (synchronous=FULL); by
      default a write survives the process, not necessarily the machine.
    """

    backend_name = "disk"

    def __init__(
        self,
        disk_cache_dir: str | os.PathLike[str] | None = None,
        *,
        default_ttl: float | None = None,
        size_limit: int = 1 << 30,
        fsync: bool = False,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(default_ttl=default_ttl)
        if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 1:
            raise InvalidArgumentError("size_limit must be a positive int (bytes)")
        directory = Path(disk_cache_dir if disk_cache_dir is not None else ".aiocache_llm")
        self.directory = directory.resolve()
        self.size_limit = size_limit
        self.fsync = fsync
        self.compress_threshold = compress_threshold
        self.timeout = timeout
        self._db_path = self.directory / "cache.sqlite3"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._generation = 0
        self._written = 0
        self._cull_lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(f"cannot use {self.directory}: {exc}") from exc

    # -- connections -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self._db_path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        return db

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (a forked child or a disconnect makes a new one)."""
        local = self._local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and local.generation == self._generation and local.pid == os.getpid():
            return db
        db = self._connect()
        with self._connections_lock:
            self._connections.append(db)
        local.db, local.generation, local.pid = db, self._generation, os.getpid()
        return db

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"disk cache failed: {exc}") from exc

    # -- entries -----------------------------------------------------------------------------
    def _decode(self, key: str, blob: bytes, now: float, db: sqlite3.Connection) -> Entry | None:
        try:
            entry = decode(blob)
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            logger.warning("removing an unreadable disk cache entry")
            db.execute("DELETE FROM entries WHERE key = ? AND value = ?", (key, blob))
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            self.stats.expirations += 1
            db.execute(_DROP_IF_EXPIRED, (key, now))
            return None
        return entry

    def _read(self, key: str, now: float) -> Entry | None:
        db = self._db()
        with self._errors():
            row = db.execute(_GET, (key,)).fetchone()
            return None if row is None else self._decode(key, row[0], now, db)

    def _encode(self, value: Any, expires_at: float | None, now: float) -> bytes:
        data = encode(
            value, expires_at=expires_at, created_at=now, compress_threshold=self.compress_threshold
        )
        if len(data) > self.size_limit:
            raise ValueTooLargeError(
                f"an entry of {len(data)} bytes exceeds size_limit={self.size_limit}"
            )
        return data

    def _row(self, key: str, data: bytes, expires_at: float | None, now: float) -> tuple[Any, ...]:
        return (key, data, expires_at, len(data), now)

    def _after_write(self, written: int) -> None:
        self._written += written
        if self._written > self.size_limit // 10:
            self._written = 0
            self._cull()

    # -- size bound ----------------------------------------------------------------------------
    def _cull(self) -> None:
        """Bring the entries under ``size_limit``: expired entries first, then oldest."""
        if not self._cull_lock.acquire(blocking=False):
            return
        try:
            db = self._db()
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
        finally:
            self._cull_lock.release()

    # -- contract ------------------------------------------------------------------------------
    @threaded
    def async_get_cache(self, key: str) -> Any:
        entry = self._read(check_key(key), time.time())
        return None if entry is None else entry.value

    @threaded
    def async_get_entry(self, key: str) -> Entry | None:
        return self._read(check_key(key), time.time())

    @threaded
    def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        return [None if e is None else e.value for e in self._entries(keys)]

    @threaded
    def async_batch_get_entries(self, keys: Sequence[str]) -> list[Entry | None]:
        return self._entries(keys)

    def _entries(self, keys: Sequence[str]) -> list[Entry | None]:
        checked = [check_key(key) for key in keys]
        now, db, found = time.time(), self._db(), {}
        with self._errors():
            for start in range(0, len(checked), 500):
                chunk = checked[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in db.execute(
                    f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk
                ):
                    found[key] = self._decode(key, blob, now, db)
        return [found.get(key) for key in checked]

    @threaded
    def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        key = check_key(key)
        now = time.time()
        expires_at = self.expires_at(ttl, now)
        data = self._encode(value, expires_at, now)
        with self._errors():
            self._db().execute(_PUT, self._row(key, data, expires_at, now))
        self._after_write(len(data))

    @threaded
    def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        now = time.time()
        expires_at = self.expires_at(ttl, now)
        rows = [
            self._row(check_key(k), self._encode(v, expires_at, now), expires_at, now)
            for k, v in items
        ]
        db = self._db()
        with self._errors():
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_PUT, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._after_write(sum(row[3] for row in rows))

    def _increments(
        self, ops: list[tuple[str, float, TTLArg]], refresh_ttl: bool = False
    ) -> list[float]:
        """Apply ``ops`` in one immediate transaction (atomic across processes);
        ``refresh_ttl`` sets each key's TTL to its op's, whether the key is new or not."""
        db, results = self._db(), []
        with self._errors():
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                for key, by, ttl in ops:
                    row = db.execute(_GET, (key,)).fetchone()
                    entry = None if row is None else self._decode(key, row[0], now, db)
                    if entry is None:
                        new, expires_at = by, self.expires_at(ttl, now)
                    else:
                        current = entry.value
                        if isinstance(current, bool) or not isinstance(current, (int, float)):
                            raise InvalidArgumentError(f"the value at {key!r} is not a number")
                        new = current + by
                        expires_at = self.expires_at(ttl, now) if refresh_ttl else entry.expires_at
                    data = self._encode(new, expires_at, now)
                    db.execute(_PUT, self._row(key, data, expires_at, now))
                    results.append(new)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return results

    @threaded
    def async_increment(
        self, key: str, value: float, ttl: TTLArg = USE_DEFAULT, *, refresh_ttl: bool = False
    ) -> float:
        if ttl is not USE_DEFAULT:
            check_ttl(ttl)
        return self._increments([(check_key(key), check_number(value), ttl)], refresh_ttl)[0]

    @threaded
    def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        return self._increments(normalize_increments(ops))

    @threaded
    def async_delete_cache(self, key: str) -> None:
        with self._errors():
            self._db().execute("DELETE FROM entries WHERE key = ?", (check_key(key),))

    @threaded
    def async_flush_cache(self) -> None:
        with self._errors():
            self._db().execute("DELETE FROM entries")

    @threaded
    def async_get_ttl(self, key: str) -> float | None:
        now = time.time()
        entry = self._read(check_key(key), now)
        if entry is None or entry.expires_at is None:
            return None
        return max(0.0, entry.expires_at - now)

    @threaded
    def async_ping(self) -> bool:
        with self._errors():
            return bool(self._db().execute("SELECT 1").fetchone()[0] == 1)

    @threaded
    def async_volume(self) -> int:
        """Bytes the entries' values take."""
        with self._errors():
            return int(self._db().execute("SELECT total(size) FROM entries").fetchone()[0])

    @threaded
    def async_disconnect(self) -> None:
        """Close every connection this cache opened; later calls open new ones."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for db in connections:
            db.close()

    async def async_test_connection(self) -> dict[str, Any]:
        report = await super().async_test_connection()
        report.update(directory=str(self.directory), size_limit=self.size_limit)
        return report

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r}, default_ttl={self.default_ttl!r})"
