"""An Azure Blob server for the tests: Azurite (from npm), in memory, on loopback.

Azurite is installed on first use with ``npm install azurite`` into
``~/.cache/aiocache_llm-tests/azurite`` (or ``$AIOCACHE_LLM_TEST_CACHE/azurite``) and reused
afterwards; an ``azurite-blob`` already on ``PATH`` is used as is. Without node/npm the tests
that need it are skipped, or fail under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .process import LOOPBACK, ServerProcess, free_port, in_ci, require, start_server

#: Azurite's well-known development account (public, documented, not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
CONTAINER = "aiocache-llm-tests"
#: the Azurite release the tests install (pinned: CI takes nothing from whatever npm serves today)
AZURITE = "azurite@3.37.0"


def cache_dir() -> Path:
    root = os.environ.get("AIOCACHE_LLM_TEST_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "aiocache_llm-tests"
    return base / AZURITE.replace("@", "-")


def azurite_binary(install: bool = True) -> str | None:
    """Path of ``azurite-blob``: on PATH, in the cache folder, or installed there now."""
    on_path = shutil.which("azurite-blob")
    if on_path:
        return on_path
    folder = cache_dir()
    binary = folder / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists() or not install:
        return str(binary) if binary.exists() else None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time; the others reuse its work
        if not binary.exists():
            with open(folder / "npm-install.log", "ab") as log:
                done = subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder), AZURITE],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                    check=False,
                )
            if done.returncode != 0 and in_ci():
                pytest.fail(
                    f"npm install azurite failed; see {folder / 'npm-install.log'}", pytrace=False
                )
    return str(binary) if binary.exists() else None


@dataclass
class AzureServer:
    """A running Azurite blob service."""

    process: ServerProcess

    @property
    def blob_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.process.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def cache_params(self) -> dict[str, str]:
        """The AzureBlobCache arguments that reach this server."""
        return {
            "azure_connection_string": self.connection_string,
            "azure_blob_container": CONTAINER,
        }

    def stop(self) -> None:
        self.process.stop()


def start_azure(directory: Path) -> AzureServer:
    binary = require(azurite_binary(), "Azurite (npm install azurite; needs node and npm)")
    port = free_port()
    argv = [
        binary,
        "--blobHost",
        LOOPBACK,
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--silent",
    ]
    process = start_server("azurite", argv, port=port, log_dir=directory, cwd=directory)
    return AzureServer(process)


@contextlib.contextmanager
def azure_running(directory: Path) -> Iterator[AzureServer]:
    server = start_azure(directory)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureServer]:
    """One Azurite blob service for the whole session."""
    with azure_running(tmp_path_factory.mktemp("azurite")) as server:
        yield server
