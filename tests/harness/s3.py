"""An S3 server for the tests: moto's server (``moto[server]``) in its own process on loopback."""

from __future__ import annotations

import contextlib
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .process import LOOPBACK, ServerProcess, free_port, http_answers, require, start_server

#: Credentials moto accepts (it checks none); never real ones.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"
BUCKET = "aiocache-llm-tests"


def moto_available() -> str | None:
    """The Python that can run moto's server, if ``moto[server]`` is installed."""
    with contextlib.suppress(ImportError):
        import moto.server  # noqa: F401

        return sys.executable
    return shutil.which("moto_server")


@dataclass
class S3Server:
    """A running moto S3 server with one bucket, :data:`BUCKET`."""

    process: ServerProcess

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.process.port}"

    def cache_params(self) -> dict[str, str]:
        """The S3Cache arguments that reach this server."""
        return {
            "s3_bucket_name": BUCKET,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region_name": REGION,
            "s3_aws_access_key_id": ACCESS_KEY,
            "s3_aws_secret_access_key": SECRET_KEY,
        }

    def create_bucket(self, name: str = BUCKET) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        self.process.stop()


def start_s3(directory: Path) -> S3Server:
    """Start moto's server on a free loopback port and create :data:`BUCKET`."""
    python = require(moto_available(), "moto's S3 server (pip install 'moto[server]')")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [python, str(Path(__file__).with_name("_moto_atomic.py")), "-H", LOOPBACK]
    argv += ["-p", str(port)]
    if python != sys.executable:  # a moto_server of its own: conditional writes may race
        argv = [python, "-H", LOOPBACK, "-p", str(port)]
    process = start_server(
        "moto-s3",
        argv,
        port=port,
        log_dir=directory,
        ready=lambda: http_answers(f"{url}/moto-api/"),
    )
    server = S3Server(process)
    try:
        server.create_bucket()
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def s3_running(directory: Path) -> Iterator[S3Server]:
    server = start_s3(directory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto S3 server for the whole session."""
    with s3_running(tmp_path_factory.mktemp("s3")) as server:
        yield server
