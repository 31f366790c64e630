"""DiskCache: a persistent cache in a directory, shared safely by threads and processes."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import shutil
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

_HEADER_SIZE = 24
_STALE_TMP_SECONDS = 3600.0


class DiskCache(BaseCache):
    """A cache of one file per key under ``disk_cache_dir`` (default ``./.aiocache_llm``).

    * **Atomic writes.** A value is written to a temporary file and renamed over the old one, so
      a reader sees the old value or the new one, never a torn one, even if the writing process
      is killed mid-write. Every entry also carries a checksum; anything unreadable is a miss.
    * **Many processes.** Any number of processes may read and write one directory; counters
      take a per-shard ``flock`` and are atomic across processes.
    * **Never blocks the event loop.** The async methods do their file I/O in worker threads;
      the blocking methods do it in the caller's thread with no hop.
    * **Bounded.** When the files exceed ``size_limit`` bytes, expired entries are removed first,
      then the least recently written, down to 90% of the limit.
    * ``fsync=True`` also survives power loss, at the cost of a disk flush per write.
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
    ) -> None:
        super().__init__(default_ttl=default_ttl)
        if isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit < 1:
            raise InvalidArgumentError("size_limit must be a positive int (bytes)")
        self.directory = Path(disk_cache_dir if disk_cache_dir is not None else ".aiocache_llm")
        self.directory = self.directory.resolve()
        self.size_limit = size_limit
        self.fsync = fsync
        self.compress_threshold = compress_threshold
        self._data = self.directory / "data"
        self._tmp = self.directory / "tmp"
        self._locks = self.directory / "locks"
        try:
            for folder in (self._data, self._tmp, self._locks):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnavailable(f"cannot use {self.directory}: {exc}") from exc
        self._counter = itertools.count()
        self._written = 0
        self._cull_lock = threading.Lock()

    # -- paths and files ------------------------------------------------------------------
    def _path(self, key: str) -> str:
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return f"{self._data}/{digest[:2]}/{digest[2:]}"

    def _read(self, path: str, now: float) -> Entry | None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackendUnavailable(f"disk cache read failed: {exc}") from exc
        try:
            entry = decode(data)
        except CorruptEntryError:
            self.stats.corrupt_reads += 1
            logger.warning("removing an unreadable entry at %s", path)
            self._unlink(path)
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            self.stats.expirations += 1
            self._unlink(path)
            return None
        return entry

    @staticmethod
    def _unlink(path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def _encode(self, value: Any, expires_at: float | None, now: float) -> bytes:
        data = encode(
            value,
            expires_at=expires_at,
            created_at=now,
            compress_threshold=self.compress_threshold,
        )
        if len(data) > self.size_limit:
            raise ValueTooLargeError(
                f"an entry of {len(data)} bytes exceeds size_limit={self.size_limit}"
            )
        return data

    def _write(self, path: str, data: bytes) -> None:
        tmp = f"{self._tmp}/{os.getpid()}.{threading.get_ident()}.{next(self._counter)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.replace(tmp, path)
            except FileNotFoundError:  # first entry of this shard
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.replace(tmp, path)
        except OSError as exc:
            self._unlink(tmp)
            raise BackendUnavailable(f"disk cache write failed: {exc}") from exc
        self._written += len(data)
        if self._written > self.size_limit // 10:
            self._written = 0
            self._cull()

    @contextlib.contextmanager
    def _shard_lock(self, path: str) -> Iterator[None]:
        shard = os.path.basename(os.path.dirname(path))
        fd = os.open(f"{self._locks}/{shard}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # -- size bound -------------------------------------------------------------------------
    def _scan(self) -> list[tuple[float, int, str]]:
        files: list[tuple[float, int, str]] = []
        for shard in os.scandir(self._data):
            if not shard.is_dir():
                continue
            for item in os.scandir(shard.path):
                with contextlib.suppress(FileNotFoundError):
                    st = item.stat()
                    files.append((st.st_mtime, st.st_size, item.path))
        return files

    def _cull(self) -> None:
        """Bring the directory under ``size_limit``: expired entries first, then oldest."""
        if not self._cull_lock.acquire(blocking=False):
            return
        try:
            now = time.time()
            for item in os.scandir(self._tmp):  # leftovers of killed writers
                with contextlib.suppress(FileNotFoundError):
                    if item.stat().st_mtime < now - _STALE_TMP_SECONDS:
                        os.unlink(item.path)
            files = self._scan()
            total = sum(size for _, size, _ in files)
            if total <= self.size_limit:
                return
            kept = []
            for mtime, size, path in files:
                if self._read(path, now) is None:
                    total -= size
                else:
                    kept.append((mtime, size, path))
            kept.sort()
            target = self.size_limit * 9 // 10
            for _, size, path in kept:
                if total <= target:
                    break
                self._unlink(path)
                total -= size
                self.stats.evictions += 1
        finally:
            self._cull_lock.release()

    # -- contract ---------------------------------------------------------------------------
    @threaded
    def async_get_cache(self, key: str) -> Any:
        entry = self._read(self._path(check_key(key)), time.time())
        return None if entry is None else entry.value

    @threaded
    def async_get_entry(self, key: str) -> Entry | None:
        """The whole entry (value, creation and expiry times) under ``key``, or ``None``."""
        return self._read(self._path(check_key(key)), time.time())

    @threaded
    def async_batch_get_cache(self, keys: Sequence[str]) -> list[Any]:
        now = time.time()
        out = []
        for key in keys:
            entry = self._read(self._path(check_key(key)), now)
            out.append(None if entry is None else entry.value)
        return out

    @threaded
    def async_set_cache(self, key: str, value: Any, ttl: TTLArg = USE_DEFAULT) -> None:
        path = self._path(check_key(key))
        now = time.time()
        self._write(path, self._encode(value, self.expires_at(ttl, now), now))

    @threaded
    def async_set_cache_pipeline(
        self, items: Iterable[tuple[str, Any]], ttl: TTLArg = USE_DEFAULT
    ) -> None:
        now = time.time()
        expires_at = self.expires_at(ttl, now)
        encoded = [(self._path(check_key(k)), self._encode(v, expires_at, now)) for k, v in items]
        for path, data in encoded:
            self._write(path, data)

    def _increment(self, key: str, by: float, ttl: TTLArg) -> float:
        path = self._path(key)
        with self._shard_lock(path):
            now = time.time()
            entry = self._read(path, now)
            if entry is None:
                new, expires_at = by, self.expires_at(ttl, now)
            else:
                current = entry.value
                if isinstance(current, bool) or not isinstance(current, (int, float)):
                    raise InvalidArgumentError(f"the value at {key!r} is not a number")
                new, expires_at = current + by, entry.expires_at
            self._write(path, self._encode(new, expires_at, now))
            return new

    @threaded
    def async_increment(self, key: str, value: float, ttl: TTLArg = USE_DEFAULT) -> float:
        if ttl is not USE_DEFAULT:
            check_ttl(ttl)
        return self._increment(check_key(key), check_number(value), ttl)

    @threaded
    def async_increment_pipeline(self, ops: Iterable[IncrementOp]) -> list[float]:
        return [self._increment(k, by, ttl) for k, by, ttl in normalize_increments(ops)]

    @threaded
    def async_delete_cache(self, key: str) -> None:
        self._unlink(self._path(check_key(key)))

    @threaded
    def async_flush_cache(self) -> None:
        for shard in os.scandir(self._data):
            if shard.is_dir():
                shutil.rmtree(shard.path, ignore_errors=True)

    @threaded
    def async_get_ttl(self, key: str) -> float | None:
        now = time.time()
        entry = self._read(self._path(check_key(key)), now)
        if entry is None or entry.expires_at is None:
            return None
        return max(0.0, entry.expires_at - now)

    @threaded
    def async_ping(self) -> bool:
        return os.access(self._data, os.W_OK)

    @threaded
    def async_volume(self) -> int:
        """Bytes the entries take on disk."""
        return sum(size for _, size, _ in self._scan())

    async def async_test_connection(self) -> dict[str, Any]:
        report = await super().async_test_connection()
        report.update(directory=str(self.directory), size_limit=self.size_limit)
        return report

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r}, default_ttl={self.default_ttl!r})"
