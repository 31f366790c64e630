"""A Google Cloud Storage emulator for the tests (``gcp-storage-emulator``), in its own process.

The emulator's own command serves one request at a time with a listen backlog of 5, so a burst
of concurrent requests times out. This harness runs the same emulator behind a threading HTTP
server with a deep listen backlog (requests are still handled one at a time, under a lock, as
the emulator expects).
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .process import LOOPBACK, ServerProcess, free_port, http_answers, require, start_server

BUCKET = "aiocache-llm-tests"

_LAUNCHER = """
import sys
import threading
from functools import partial
from http.server import ThreadingHTTPServer

from gcp_storage_emulator.handlers.buckets import create_bucket
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage

host, port, bucket = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()


def serialised(method):
    def handle(self):
        with lock:
            method(self)
    return handle


class Handler(RequestHandler):
    do_GET = serialised(RequestHandler.do_GET)
    do_POST = serialised(RequestHandler.do_POST)
    do_PUT = serialised(RequestHandler.do_PUT)
    do_PATCH = serialised(RequestHandler.do_PATCH)
    do_DELETE = serialised(RequestHandler.do_DELETE)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


storage = Storage(use_memory_fs=True)
create_bucket(bucket, storage)
httpd = Server((host, port), partial(Handler, storage))
print("listening", flush=True)
httpd.serve_forever()
"""


def emulator_available() -> str | None:
    """The Python that can run the emulator, if ``gcp-storage-emulator`` is installed."""
    return sys.executable if importlib.util.find_spec("gcp_storage_emulator") else None


@dataclass
class GCSServer:
    """A running GCS emulator with one bucket, :data:`BUCKET`."""

    process: ServerProcess

    @property
    def api_root(self) -> str:
        return f"http://{LOOPBACK}:{self.process.port}"

    def cache_params(self) -> dict[str, str]:
        """The GCSCache arguments that reach this server."""
        return {"gcs_bucket_name": BUCKET, "gcs_api_root": self.api_root}

    def stop(self) -> None:
        self.process.stop()


def start_gcs(directory: Path) -> GCSServer:
    python = require(emulator_available(), "the GCS emulator (pip install gcp-storage-emulator)")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [python, "-c", _LAUNCHER, LOOPBACK, str(port), BUCKET]
    process = start_server(
        "gcs",
        argv,
        port=port,
        log_dir=directory,
        ready=lambda: http_answers(f"{url}/storage/v1/b/{BUCKET}"),
    )
    return GCSServer(process)


@contextlib.contextmanager
def gcs_running(directory: Path) -> Iterator[GCSServer]:
    server = start_gcs(directory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GCSServer]:
    """One GCS emulator for the whole session."""
    with gcs_running(tmp_path_factory.mktemp("gcs")) as server:
        yield server
