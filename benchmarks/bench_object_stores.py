"""Batch get of 100 keys vs 100 sequential gets, per object store, against the test emulators.

Run from the repository root: ``python benchmarks/bench_object_stores.py``.

Two rows per store: straight to the emulator on loopback (every request costs only CPU, on a
2-core machine shared by client and emulator, so concurrency can overlap little), and through a
loopback proxy that holds each response for ``RTT_MS`` (the round trip to a cloud store in the
same region), where the concurrency of a batch pays off as it does in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiocache_llm.storage._object_store import ObjectStoreCache
from aiocache_llm.storage.azure_blob import AzureBlobCache
from aiocache_llm.storage.gcs import GCSCache
from aiocache_llm.storage.s3 import S3Cache
from tests.harness.azure import start_azure
from tests.harness.gcs import start_gcs
from tests.harness.s3 import start_s3

KEYS = 100
REPEATS = 3
RTT_MS = 10.0


@contextlib.asynccontextmanager
async def delaying_proxy(port: int, delay: float) -> AsyncIterator[int]:
    """A loopback TCP proxy to ``port`` that delays every response chunk by ``delay`` s."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: float) -> None:
        try:
            while data := await reader.read(65536):
                if hold:
                    await asyncio.sleep(hold)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            await asyncio.gather(pipe(reader, up_writer, 0.0), pipe(up_reader, writer, delay))
        except (asyncio.CancelledError, OSError):  # the run is over, or the store went away
            writer.close()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock)
    try:
        yield sock.getsockname()[1]
    finally:
        server.close()


async def measure(cache: ObjectStoreCache[Any]) -> tuple[float, float]:
    keys = [f"bench:{i}" for i in range(KEYS)]
    await cache.async_set_cache_pipeline(
        [(k, {"answer": "x" * 500, "i": i}) for i, k in enumerate(keys)]
    )
    await cache.async_batch_get_cache(keys)  # warm the connection pool
    sequential = batch = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for key in keys:
            await cache.async_get_cache(key)
        sequential = min(sequential, time.perf_counter() - start)
        start = time.perf_counter()
        values = await cache.async_batch_get_cache(keys)
        batch = min(batch, time.perf_counter() - start)
        assert values[-1] == {"answer": "x" * 500, "i": KEYS - 1}
    await cache.async_flush_cache()
    await cache.async_disconnect()
    return sequential, batch


async def run(name: str, port: int, make: Callable[[int], ObjectStoreCache[Any]]) -> None:
    for label, delay in (("loopback", 0.0), (f"+{RTT_MS:g} ms RTT", RTT_MS / 1000)):
        async with delaying_proxy(port, delay) as proxy_port:
            sequential, batch = await measure(make(proxy_port))
        print(
            f"{name:<16} {label:<14} {sequential * 1000:>10.1f} {batch * 1000:>10.1f}"
            f" {sequential / batch:>7.1f}x"
        )


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-object-stores-"))
    print(f"{KEYS} gets: sequential vs one batch get (best of {REPEATS}), milliseconds")
    print(f"{'store':<16} {'network':<14} {'sequential':>10} {'batch':>10} {'speedup':>8}")
    s3 = start_s3(directory / "s3")
    try:
        asyncio.run(
            run(
                "s3 (moto)",
                s3.process.port,
                lambda p: S3Cache(
                    **{**s3.cache_params(), "s3_endpoint_url": f"http://127.0.0.1:{p}"},
                    s3_path="bench",
                ),
            )
        )
    finally:
        s3.stop()
    gcs = start_gcs(directory / "gcs")
    try:
        asyncio.run(
            run(
                "gcs (emu)",
                gcs.process.port,
                lambda p: GCSCache(
                    gcs.cache_params()["gcs_bucket_name"],
                    gcs_api_root=f"http://127.0.0.1:{p}",
                    gcs_path="bench",
                ),
            )
        )
    finally:
        gcs.stop()
    azure = start_azure(directory / "azure")
    try:
        asyncio.run(
            run(
                "azure (azurite)",
                azure.process.port,
                lambda p: AzureBlobCache(
                    azure_connection_string=azure.connection_string.replace(
                        f":{azure.process.port}/", f":{p}/"
                    ),
                    azure_blob_container="bench",
                    azure_path="bench",
                ),
            )
        )
    finally:
        azure.stop()


if __name__ == "__main__":
    main()
