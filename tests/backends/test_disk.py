"""DiskCache: crash safety, several processes on one directory, the size bound, persistence."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from aiocache_llm import DiskCache
from aiocache_llm.errors import BackendUnavailable

VALUES = {f"v{i}": {"version": i, "body": chr(ord("a") + i) * 300_000} for i in range(4)}


def _write_forever(directory: str, writing: Event) -> None:
    cache = DiskCache(directory, compress_threshold=None)
    i = 0
    while True:
        cache.set_cache("contended", VALUES[f"v{i % 4}"])
        writing.set()  # the parent kills it among the writes that follow
        i += 1


def _increment(directory: str, times: int) -> None:
    cache = DiskCache(directory)
    for _ in range(times):
        cache.increment_cache("shared-counter", 1)


def _write_own_keys(directory: str, worker: int) -> None:
    cache = DiskCache(directory)
    for i in range(200):
        cache.set_cache(f"w{worker}:{i}", {"worker": worker, "i": i})
        assert cache.get_cache(f"w{worker}:{i}") == {"worker": worker, "i": i}


@pytest.fixture
def spawn() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")


def test_a_writer_killed_mid_write_never_leaves_a_torn_value(
    tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    cache = DiskCache(tmp_path)
    cache.set_cache("contended", VALUES["v0"])
    for delay in (0.0, 0.05, 0.1, 0.15, 0.2):
        writing = spawn.Event()
        child = spawn.Process(target=_write_forever, args=(str(tmp_path), writing))
        child.start()
        assert writing.wait(60), "the writer never finished a first write"
        time.sleep(delay)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        value = cache.get_cache("contended")
        assert value in VALUES.values()
    assert cache.stats.corrupt_reads == 0


def test_processes_incrementing_one_counter_give_the_exact_total(
    tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    workers = [spawn.Process(target=_increment, args=(str(tmp_path), 100)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    assert DiskCache(tmp_path).get_cache("shared-counter") == 400


def test_processes_writing_one_directory_see_their_own_and_each_others_values(
    tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    workers = [spawn.Process(target=_write_own_keys, args=(str(tmp_path), w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    cache = DiskCache(tmp_path)
    keys = [f"w{w}:{i}" for w in range(4) for i in range(200)]
    assert cache.batch_get_cache(keys) == [
        {"worker": w, "i": i} for w in range(4) for i in range(200)
    ]


def test_opening_a_new_directory_waits_while_another_process_holds_its_write_lock(
    tmp_path: Path,
) -> None:
    # as when another process opens the same new directory and is making the table: SQLite
    # refuses the switch to its write-ahead log at once, without waiting for the lock
    holder = sqlite3.connect(
        tmp_path / "cache.sqlite3", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, holder.execute, ("ROLLBACK",))
    release.start()
    try:
        cache = DiskCache(tmp_path)
    finally:
        release.join()
        holder.close()
    cache.set_cache("k", "v")
    assert cache.get_cache("k") == "v"
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite3")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    cache.disconnect()


def test_a_write_lock_held_past_the_timeout_is_backend_unavailable(tmp_path: Path) -> None:
    with contextlib.closing(
        sqlite3.connect(tmp_path / "cache.sqlite3", isolation_level=None)
    ) as holder:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(BackendUnavailable, match="database is locked"):
            DiskCache(tmp_path, timeout=0.2)
        holder.execute("ROLLBACK")


def test_entries_persist_across_cache_objects(tmp_path: Path) -> None:
    DiskCache(tmp_path).set_cache("k", {"a": 1}, ttl=100)
    assert DiskCache(tmp_path).get_cache("k") == {"a": 1}


def test_the_default_directory_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert DiskCache().directory == tmp_path / ".aiocache_llm"


def test_the_size_bound_evicts_expired_then_oldest_entries(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, size_limit=200_000, compress_threshold=None)
    cache.set_cache("expiring", "e" * 10_000, ttl=0.05)
    time.sleep(0.1)
    for i in range(40):
        cache.set_cache(f"k{i}", "x" * 10_000)
        time.sleep(0.002)  # distinct modification times
    assert cache.volume() <= 200_000  # type: ignore[attr-defined]
    assert cache.stats.expirations >= 1
    assert cache.get_cache("k0") is None  # the oldest went
    assert cache.get_cache("k39") == "x" * 10_000  # the newest stayed


def test_a_corrupt_entry_reads_as_a_miss_and_is_removed(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.set_cache("k", "value")
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite3")) as db, db:
        (blob,) = db.execute("SELECT value FROM entries WHERE key = 'k'").fetchone()
        db.execute("UPDATE entries SET value = ? WHERE key = 'k'", (blob[:-3] + b"zzz",))
    assert cache.get_cache("k") is None
    assert cache.stats.corrupt_reads == 1
    with contextlib.closing(sqlite3.connect(tmp_path / "cache.sqlite3")) as db:
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (0,)
    cache.disconnect()


def test_large_values_are_compressed_on_disk(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.set_cache("big", {"text": "repetitive " * 100_000})
    assert cache.volume() < 100_000  # type: ignore[attr-defined]
    assert cache.get_cache("big") == {"text": "repetitive " * 100_000}


def test_bytes_values_round_trip_raw(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    cache.set_cache("b", bytes(range(256)))
    assert cache.get_cache("b") == bytes(range(256))


def _write_once(directory: str, key: str, value: str) -> None:
    DiskCache(directory).set_cache(key, value)


async def test_a_hot_entry_is_answered_on_the_loop_with_no_blocking_call(tmp_path: Path) -> None:
    from tests.loop_audit import LoopAudit

    cache = DiskCache(tmp_path)
    await cache.async_set_cache("k", {"v": 1})
    assert await cache.async_get_cache("k") == {"v": 1}  # read in the workers, now hot
    with LoopAudit().watching() as audit:
        values = [await cache.async_get_cache("k") for _ in range(20)]
    assert values == [{"v": 1}] * 20
    assert audit.calls == []
    assert values[0] is not values[1]  # each caller gets its own object, as from the disk
    await cache.async_disconnect()


async def test_a_hot_entry_changed_by_another_process_is_read_again(
    tmp_path: Path, spawn: multiprocessing.context.SpawnContext
) -> None:
    cache = DiskCache(tmp_path)
    await cache.async_set_cache("k", "first")
    assert await cache.async_get_cache("k") == "first"
    assert await cache.async_get_cache("k") == "first"  # hot
    writer = spawn.Process(target=_write_once, args=(str(tmp_path), "k", "second"))
    writer.start()
    writer.join()
    assert writer.exitcode == 0
    assert await cache.async_get_cache("k") == "second"
    DiskCache(tmp_path).delete_cache("k")  # another connection of this process
    assert await cache.async_get_cache("k") is None
    await cache.async_disconnect()


async def test_concurrent_reads_share_one_worker_hop(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, memory_size=0)  # every read goes to the disk
    await cache.async_set_cache_pipeline([(f"k{i}", i) for i in range(50)])
    sent: list[int] = []
    read_all = cache._reads._read_all
    cache._reads._read_all = lambda keys: (sent.append(len(keys)), read_all(keys))[1]  # type: ignore[method-assign]
    values = await asyncio.gather(*(cache.async_get_cache(f"k{i}") for i in range(50)))
    assert values == list(range(50))
    assert sent == [50]
    await cache.async_disconnect()
