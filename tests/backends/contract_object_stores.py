"""The object-store backends in the contract suite, each against its emulator.

Every cache gets its own prefix, so tests never see each other's objects and the fixture's
flush removes only what the test wrote.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aiocache_llm.storage.base import BaseCache

#: Per-request timeout: a hang catcher, far above what an emulator needs on a busy machine.
STORE_TIMEOUT = 30


def _prefix() -> str:
    return f"contract/{uuid.uuid4().hex}"


def s3(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.storage.s3 import S3Cache

    server = request.getfixturevalue("s3_server")
    return S3Cache(**server.cache_params(), s3_path=_prefix(), timeout=STORE_TIMEOUT)


def gcs(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.storage.gcs import GCSCache

    server = request.getfixturevalue("gcs_server")
    return GCSCache(**server.cache_params(), gcs_path=_prefix(), timeout=STORE_TIMEOUT)


def azure_blob(request: pytest.FixtureRequest, tmp_path: Path) -> BaseCache:
    from aiocache_llm.storage.azure_blob import AzureBlobCache

    server = request.getfixturevalue("azure_server")
    return AzureBlobCache(**server.cache_params(), azure_path=_prefix(), timeout=STORE_TIMEOUT)


FACTORIES = {"s3": s3, "gcs": gcs, "azure-blob": azure_blob}

#: The GCS emulator ignores generation preconditions, so GCSCache refuses counters.
NOT_SUPPORTED = {"gcs": ("increment",)}
