"""GCSCache: a cache in a Google Cloud Storage bucket, natively async (gcloud-aio-storage)."""

from __future__ import annotations

import datetime
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from gcloud.aio.storage import Storage

from ..core.codec import DEFAULT_COMPRESS_THRESHOLD, DEFAULT_MAX_ENTRY_SIZE
from ..errors import BackendUnavailable, ConfigurationError
from ._object_store import ABSENT, Match, ObjectStore, ObjectStoreCache, VersionConflict
from ._store import ErrorMap, Stored

__all__ = ["GCSCache", "GCSStore"]


@dataclass
class _Client:
    storage: Storage
    session: aiohttp.ClientSession


class GCSStore(ObjectStore[_Client]):
    """Objects in one Google Cloud Storage bucket (gcloud-aio-storage over aiohttp)."""

    #: The emulator this backend is tested against ignores generation preconditions, so
    #: atomic updates cannot be verified: counters are refused.
    conditional_writes = False
    errors: ClassVar[ErrorMap] = (
        *ObjectStore.errors,
        ((aiohttp.ClientError, OSError), BackendUnavailable),
    )

    def __init__(
        self,
        bucket: str,
        service_file: str | None,
        api_root: str | None,
        *,
        timeout: float,
        max_concurrency: int,
    ) -> None:
        if not isinstance(bucket, str) or not bucket:
            raise ConfigurationError("GCSCache needs gcs_bucket_name")
        super().__init__(timeout=timeout, max_concurrency=max_concurrency)
        self.bucket = bucket
        self.service_file = service_file
        self.api_root = api_root or os.environ.get("STORAGE_EMULATOR_HOST") or None
        if self.api_root and not self.api_root.startswith(("http://", "https://")):
            self.api_root = f"http://{self.api_root}"

    def details(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "api_root": self.api_root}

    def error_message(self, exc: BaseException) -> str:
        if isinstance(exc, aiohttp.ClientResponseError):
            return f"HTTP {exc.status}: {exc.message}"
        return super().error_message(exc)

    # -- client ------------------------------------------------------------------------------
    async def _open_client(self) -> _Client:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_concurrency),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )
        storage = Storage(
            service_file=self.service_file,
            session=session,  # type: ignore[arg-type]  # typed for the REST build; aiohttp here
            api_root=self.api_root,
        )
        return _Client(storage, session)

    async def _close_client(self, client: _Client) -> None:
        try:
            await client.storage.close()
        finally:
            await client.session.close()

    # -- requests ----------------------------------------------------------------------------
    async def _read(self, client: _Client, name: str) -> Stored[bytes] | None:
        try:
            stream = await client.storage.download_stream(self.bucket, name, timeout=self._secs)
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return None
            raise
        async with stream as response:
            data = await response.read()
            return Stored(data, response.headers.get("x-goog-generation", ""))

    async def _write(
        self, client: _Client, name: str, data: bytes, expires_at: float | None, match: Match = None
    ) -> None:
        parameters: dict[str, str] = {}
        if match is not None:  # generation 0: no live object
            parameters["ifGenerationMatch"] = "0" if match == ABSENT else match
        # A multipart upload (metadata given) sends the name in the JSON body, exactly; a simple
        # upload sends it as a query parameter, where a "+" would turn into a space.
        metadata: dict[str, Any] = {"contentType": "application/octet-stream"}
        if expires_at is not None:
            when = datetime.datetime.fromtimestamp(expires_at, datetime.timezone.utc)
            metadata["customTime"] = when.isoformat()
        try:
            await client.storage.upload(
                self.bucket,
                name,
                data,
                content_type="application/octet-stream",
                parameters=parameters,
                metadata=metadata,
                timeout=self._secs,
            )
        except aiohttp.ClientResponseError as exc:
            if parameters and exc.status == 412:
                raise VersionConflict(name) from exc
            raise

    async def _remove(self, client: _Client, name: str, *, if_version: str | None = None) -> None:
        params = {"ifGenerationMatch": if_version} if if_version else None
        try:
            await client.storage.delete(self.bucket, name, params=params, timeout=self._secs)
        except aiohttp.ClientResponseError as exc:
            if exc.status == 404:
                return
            if params and exc.status == 412:
                raise VersionConflict(name) from exc
            raise

    async def _list_names(self, client: _Client, prefix: str) -> AsyncIterator[list[str]]:
        params = {"prefix": prefix, "fields": "items(name),nextPageToken"}
        while True:
            page = await client.storage.list_objects(self.bucket, params=params)
            names = [item["name"] for item in page.get("items", ())]
            if names:
                yield names
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    async def _probe(self, client: _Client) -> None:
        await client.storage.list_objects(
            self.bucket, params={"maxResults": "1"}, timeout=self._secs
        )

    @property
    def _secs(self) -> int:
        return max(1, round(self.timeout))


class GCSCache(ObjectStoreCache[_Client]):
    """A cache of one object per key in ``gcs_bucket_name``, named ``gcs_path`` + key.

    Credentials come from the service-account file ``gcs_path_service_account``, else from
    application-default credentials. An emulator is reached through the standard
    ``STORAGE_EMULATOR_HOST`` variable (``http://127.0.0.1:9023``) or ``gcs_api_root``. Object
    names are URL-encoded in requests, so any key is safe. The bucket must exist.

    Entries expire on read (their expiry travels inside the object) and carry it as the object's
    ``customTime``, for lifecycle rules (``daysSinceCustomTime``). Counters raise
    :class:`~aiocache_llm.errors.NotSupported`: the emulator this backend is tested against
    ignores generation preconditions, so atomic increments cannot be verified.
    """

    backend_name = "gcs"
    store: GCSStore

    @property
    def bucket(self) -> str:
        """The bucket the entries live in (``gcs_bucket_name``)."""
        return self.store.bucket

    def __init__(
        self,
        gcs_bucket_name: str,
        gcs_path_service_account: str | None = None,
        gcs_path: str | None = None,
        *,
        gcs_api_root: str | None = None,
        default_ttl: float | None = None,
        timeout: float = 10.0,
        max_concurrency: int = 32,
        compress_threshold: int | None = DEFAULT_COMPRESS_THRESHOLD,
        max_entry_size: int = DEFAULT_MAX_ENTRY_SIZE,
    ) -> None:
        store = GCSStore(
            gcs_bucket_name,
            gcs_path_service_account,
            gcs_api_root,
            timeout=timeout,
            max_concurrency=max_concurrency,
        )
        super().__init__(
            store,
            prefix=gcs_path,
            default_ttl=default_ttl,
            compress_threshold=compress_threshold,
            max_entry_size=max_entry_size,
        )
